"""The balancer of one node: every control period it measures each service's backends as
this node sees them, computes their weights by the service's strategy, damps them, masks
what the circuit breaker ejected, and rewrites the services' weight maps in place (one
``nft`` transaction for every service that changed).

Evidence and where it comes from (``netlink``): live connections and unanswered SYNs from
one conntrack dump per period; connect successes (SYN-ACK) and failures (a reset before
the connection was established) from the firewall's NFLOG group as they happen, so an
ejection is programmed within milliseconds of the failure that triggers it, not at the
next period; CPU and bytes from the backends' cgroups and links (``stats``).

Nothing is shared between nodes: a node that sends no traffic to a backend sees no failure
from it and keeps it in. ``SwarmNetworks`` feeds the services (``update``) whenever its
rules change; ``status`` is what ``service inspect`` and ``minke service lb`` show.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from minke.aio import cancel
from minke.engine.network.firewall import slot_count
from minke.swarm.lb import damping, strategies
from minke.swarm.lb.breaker import ACTIVE, EJECTED, PROBING, CircuitBreaker, Transition
from minke.swarm.lb.netlink import ConnectLog, Conntrack
from minke.swarm.lb.policy import MEASURED, Policy
from minke.swarm.lb.stats import Counters, Reader, capacity
from minke.units import rfc3339

log = logging.getLogger(__name__)

IDLE_TICK = 1.0  # s between wake-ups with no service to balance
ACTIONS = {EJECTED: "lb-eject", PROBING: "lb-probe", ACTIVE: "lb-readmit"}


@dataclass(frozen=True)
class Backend:
    """One ready task of a service on the balancer's view: the task, its container, its
    addresses (one per network) and the host ends of its links."""

    task_id: str
    container_id: str
    addresses: tuple[str, ...]
    ifnames: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServiceInfo:
    id: str
    name: str
    policy: Policy
    backends: tuple[Backend, ...]  # in the order of the firewall's ServiceRules.backend_ids


def aligned(ready: list[dict[str, Any]], networks: list[str],
            address: Callable[[dict[str, Any], str], str],
            container: Callable[[dict[str, Any]], str],
            ifnames: Callable[[str], list[str]],
            ) -> tuple[dict[str, tuple[str, ...]], tuple[Backend, ...]]:
    """From the ``ready`` tasks: the backend addresses on each of ``networks`` and the
    backends, index-aligned (backend ``k`` is entry ``k`` of every network's tuple, as
    ``firewall.ServiceRules.backend_ids`` wants). A task without an address on one of the
    networks yet is not a backend. ``container``: a task's container here ("" for a task on
    another node: its CPU and bytes are not seen from this one)."""
    backends = []
    for task in ready:
        addresses = tuple(address(task, n) for n in networks)
        if all(addresses):
            container_id = container(task)
            backends.append(Backend(task["ID"], container_id, addresses,
                                    tuple(ifnames(container_id)) if container_id else ()))
    by_network = {n: tuple(b.addresses[i] for b in backends)
                  for i, n in enumerate(networks)}
    return by_network, tuple(backends)


@dataclass
class Seen:
    """What this node saw of one backend."""

    measure: strategies.Measure | None = None  # smoothed
    counters: tuple[float, Counters] | None = None  # (when, cumulative) at the last period
    connections: int = 0
    cpu: float = 0.0
    bytes_rate: float = 0.0
    successes: int = 0
    failures: int = 0
    successes_then: int = 0  # ``successes`` at the last period
    rate: float = 0.0  # new connections/s in the last period
    timed_out: set[int] = field(default_factory=set)  # conntrack IDs counted as timeouts


class ServiceState:
    def __init__(self, info: ServiceInfo, now: float) -> None:
        self.info = info
        self.breaker = CircuitBreaker(info.policy.breaker)
        self.seen: dict[str, Seen] = {}
        self.base: list[float] | None = None  # damped strategy shares, before the breaker
        self.applied: list[float] | None = None
        self.due = now
        self.dirty = True
        self.flush: set[str] = set()  # backends whose affinity is to be forgotten
        self.updated_at = 0.0
        self.measured_at = 0.0  # monotonic time of the last period's readings
        self.reconfigure(info, now)

    def reconfigure(self, info: ServiceInfo, now: float) -> None:
        if info.policy != self.info.policy:
            self.breaker = CircuitBreaker(info.policy.breaker)
            self.base, self.dirty = None, True
        ids = [b.task_id for b in info.backends]
        if ids != [b.task_id for b in self.info.backends]:
            self.base, self.dirty = None, True
        self.info = info
        self.breaker.track(ids, now)
        self.seen = {i: self.seen.get(i) or Seen() for i in ids}

    def shares(self) -> list[float]:
        """The weights to program: the strategy's damped shares, ejected backends at 0 and
        probing ones at one slot (never all 0: the breaker never ejects the last one)."""
        count = len(self.info.backends)
        base = self.base if self.base and len(self.base) == count else [1 / count] * count
        probe = 1 / slot_count(count) if count else 0.0
        out = []
        for backend, share in zip(self.info.backends, base, strict=True):
            state = self.breaker.state(backend.task_id)
            out.append(0.0 if state == EJECTED else min(share, probe) if state == PROBING
                       else share)
        total = sum(out)
        return [x / total for x in out] if total > 0 else [1 / count] * count


class Balancer:
    """Per node; ``networks`` is the engine's NetworkService, ``containers`` its store of
    container records, ``publish`` the event bus's ``publish``."""

    def __init__(self, networks: Any, containers: Any, publish: Any) -> None:
        self.networks = networks
        self.containers = containers
        self.publish = publish
        self.services: dict[str, ServiceState] = {}
        self._by_address: dict[str, tuple[ServiceState, str]] = {}
        self._reader = Reader()
        self._conntrack = Conntrack()
        self._log: ConnectLog | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        table = self.networks.firewall.table
        try:
            self._log = ConnectLog(0x4000 + zlib.crc32(table.encode()) % 0x3000)
        except OSError as exc:
            # Without it only timeouts (from conntrack) count as failures; say so once.
            log.error("load balancer: no NFLOG group (%s): resets will not eject backends",
                      exc)
        if self._log is not None:
            asyncio.get_running_loop().add_reader(self._log.fileno(), self._on_log)
            self.networks.firewall.observe_group = self._log.group
        self._task = asyncio.create_task(self._run(), name="swarm-lb")

    async def stop(self) -> None:
        if self._log is not None:
            asyncio.get_running_loop().remove_reader(self._log.fileno())
            self._log.close()
            self._log = None
            self.networks.firewall.observe_group = 0
        await cancel(self._task)
        self._task = None
        self._conntrack.close()

    def update(self, infos: dict[str, ServiceInfo]) -> None:
        """The services and their ready backends are now these."""
        now = time.monotonic()
        for service_id in [s for s in self.services if s not in infos]:
            del self.services[service_id]
        for service_id, info in infos.items():
            state = self.services.get(service_id)
            if state is None:
                self.services[service_id] = ServiceState(info, now)
            elif state.info != info:
                state.reconfigure(info, now)
        self._by_address = {address: (state, backend.task_id)
                            for state in self.services.values()
                            for backend in state.info.backends
                            for address in backend.addresses}
        self.networks.firewall.forget_weights(set(infos))
        self._wake.set()

    # -- evidence -----------------------------------------------------------------------

    def _on_log(self) -> None:
        assert self._log is not None
        try:
            outcomes = self._log.read()
        except OSError as exc:
            log.error("load balancer: reading NFLOG: %s", exc)
            return
        now = time.monotonic()
        for kind, address in outcomes:
            where = self._by_address.get(address)
            if where is None:
                continue
            state, backend = where
            seen = state.seen[backend]
            if kind == "s":
                seen.successes += 1
                self._transition(state, state.breaker.success(backend, now))
            else:
                seen.failures += 1
                self._transition(state, state.breaker.failure(
                    backend, now, "connection refused or reset"))

    def _transition(self, state: ServiceState, change: Transition | None) -> None:
        if change is None:
            return
        state.dirty = True
        if change.new == EJECTED:
            state.flush.add(change.backend)
        self._wake.set()
        backend = next((b for b in state.info.backends if b.task_id == change.backend), None)
        address = backend.addresses[0] if backend and backend.addresses else ""
        attributes = {"name": state.info.name, "task": change.backend, "address": address,
                      "state.old": change.old, "state.new": change.new,
                      "reason": change.reason}
        if change.new == EJECTED:
            seconds = change.until - time.monotonic()
            attributes["until"] = rfc3339(ns=time.time_ns() + int(seconds * 1e9))
            log.warning("service %s: backend %s (task %s) ejected for %.0fs: %s",
                        state.info.name, address, change.backend[:12], seconds,
                        change.reason)
        else:
            log.warning("service %s: backend %s (task %s) %s: %s", state.info.name, address,
                        change.backend[:12],
                        "probing" if change.new == PROBING else "readmitted", change.reason)
        self.publish("service", ACTIONS[change.new], state.info.id, attributes)

    def _measure(self, due: list[ServiceState], now: float) -> dict[str, Any]:
        """Blocking reads (in a thread): one conntrack dump and the backends' counters."""
        addresses = {a for state in due for b in state.info.backends for a in b.addresses}
        try:
            conns = self._conntrack.dump(addresses)
        except OSError as exc:
            log.error("load balancer: conntrack dump: %s", exc)
            conns = {}
        counters: dict[str, Counters] = {}
        records: dict[str, dict[str, Any]] = {}
        for state in due:
            for backend in state.info.backends:
                record = self.containers.find(backend.container_id) \
                    if backend.container_id else None
                if record is not None:
                    records[backend.task_id] = record
                    counters[backend.task_id] = self._reader.read(record,
                                                                  list(backend.ifnames))
        return {"conns": conns, "counters": counters, "records": records, "now": now}

    def _absorb(self, state: ServiceState, reading: dict[str, Any]) -> None:
        """Fold one period's readings into ``state``: measures, timeouts, damped shares."""
        policy, now = state.info.policy, reading["now"]
        for backend in state.info.backends:
            seen = state.seen[backend.task_id]
            live, pending = 0, {}
            for address in backend.addresses:
                found = reading["conns"].get(address)
                if found is not None:
                    live += found.live
                    pending.update(found.pending)
            seen.connections = live
            for ct_id, age in pending.items():
                if age >= policy.breaker.connect_timeout and ct_id not in seen.timed_out:
                    seen.timed_out.add(ct_id)
                    seen.failures += 1
                    self._transition(state, state.breaker.failure(
                        backend.task_id, now, "connect timed out"))
            seen.timed_out &= set(pending)
            cpu = rate = 0.0
            counters = reading["counters"].get(backend.task_id)
            if counters is not None:
                if seen.counters is not None and now > seen.counters[0]:
                    elapsed = now - seen.counters[0]
                    cpu = max(0.0, counters.cpu_seconds - seen.counters[1].cpu_seconds) \
                        / elapsed
                    rate = max(0, counters.net_bytes - seen.counters[1].net_bytes) / elapsed
                seen.counters = (now, counters)
            seen.cpu, seen.bytes_rate = cpu, rate
            elapsed = now - state.measured_at if state.measured_at else 0.0
            seen.rate = (seen.successes - seen.successes_then) / elapsed if elapsed else 0.0
            seen.successes_then = seen.successes
            record = reading["records"].get(backend.task_id) or {}
            fresh = strategies.Measure(connections=live, rate=seen.rate, cpu=cpu,
                                       capacity=capacity(record), bytes_rate=rate)
            old = seen.measure
            past = policy.smoothing
            seen.measure = fresh if old is None else strategies.Measure(
                connections=damping.smooth(old.connections, fresh.connections, past),
                rate=damping.smooth(old.rate, fresh.rate, past),
                cpu=damping.smooth(old.cpu, fresh.cpu, past), capacity=fresh.capacity,
                bytes_rate=damping.smooth(old.bytes_rate, fresh.bytes_rate, past))
        state.measured_at = now
        if policy.strategy in MEASURED and state.info.backends:
            target = strategies.target(policy.strategy, [
                state.seen[b.task_id].measure or strategies.Measure()
                for b in state.info.backends])
            state.base = damping.damp(state.base, target) if state.base else target

    # -- the loop -----------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            now = time.monotonic()
            # The next control period or the end of an ejection, whichever comes first.
            wait = min([s.due for s in self.services.values()]
                       + [t for s in self.services.values()
                          if (t := s.breaker.next_timer()) is not None],
                       default=now + IDLE_TICK)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, wait - now)):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self._tick()
            except Exception:
                log.exception("load balancer")
                await asyncio.sleep(IDLE_TICK)

    async def _tick(self) -> None:
        now = time.monotonic()
        due = [s for s in self.services.values() if s.due <= now and s.info.backends]
        if due:
            reading = await asyncio.to_thread(self._measure, due, now)
            for state in due:
                if state.info.id in self.services:
                    self._absorb(state, reading)
                state.due = now + state.info.policy.period
            self._reader.keep({int((r.get("State") or {}).get("Pid") or 0)
                               for r in reading["records"].values()})
        changes: dict[str, dict[str, float]] = {}
        flush: dict[str, tuple[str, ...]] = {}
        written: list[tuple[ServiceState, list[float], set[str]]] = []
        for state in self.services.values():
            for change in state.breaker.tick(now):
                self._transition(state, change)
            if not state.info.backends:
                continue
            shares = state.shares()
            if state.dirty or damping.worth_programming(state.applied, shares):
                ids = [b.task_id for b in state.info.backends]
                changes[state.info.id] = dict(zip(ids, shares, strict=True))
                flush[state.info.id] = tuple(state.flush)
                written.append((state, shares, state.flush))
                state.dirty, state.flush = False, set()
        if not changes:
            return
        try:
            await self.networks.set_lb_weights(changes, flush)
        except BaseException:
            for state, _, flushed in written:  # not written: again at the next tick
                state.dirty = True
                state.flush |= flushed
            raise
        # Shown (``status``) only once in the kernel: a client that waits for a weight in
        # ``service inspect`` must find it in the data path.
        for state, shares, _ in written:
            state.applied, state.updated_at = shares, time.time()

    # -- what users see -----------------------------------------------------------------

    def status(self, service_id: str) -> dict[str, Any] | None:
        """The service's balancing on this node (``LoadBalancer`` in ``service inspect``)."""
        state = self.services.get(service_id)
        if state is None:
            return None
        policy = state.info.policy
        shares = state.applied or state.shares() if state.info.backends else []
        backends = []
        for backend, share in zip(state.info.backends, shares, strict=False):
            seen = state.seen[backend.task_id]
            outlier = state.breaker.backends.get(backend.task_id)
            entry: dict[str, Any] = {
                "TaskID": backend.task_id, "Addresses": list(backend.addresses),
                "Weight": round(share, 4), "State": state.breaker.state(backend.task_id),
                "Connections": seen.connections, "NewPerSecond": round(seen.rate, 1),
                "CPU": round(seen.cpu, 3),
                "BytesPerSecond": round(seen.bytes_rate), "ConnectSuccesses":
                    seen.successes, "ConnectFailures": seen.failures,
                "Ejections": outlier.ejections if outlier else 0}
            if outlier is not None and outlier.state == EJECTED:
                entry["EjectedUntil"] = rfc3339(
                    ns=time.time_ns() + int((outlier.until - time.monotonic()) * 1e9))
            backends.append(entry)
        return {"Scope": "node", "Strategy": policy.strategy, "Period": policy.period,
                "Breaker": "on" if policy.breaker.enabled else "off",
                "UpdatedAt": rfc3339(ns=int(state.updated_at * 1e9)) if state.updated_at
                else "", "Backends": backends}
