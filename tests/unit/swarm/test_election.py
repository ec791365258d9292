"""Leader election of managers on a real etcd: exactly one leader runs the reconcilers,
another takes over when its lease ends (revoked, or expired because the process stopped
renewing it), and a deposed leader's late writes are refused (fencing). On SQLite the
one manager is always the leader."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.support.etcd import Etcd, spawn_manager

from minke.swarm.manager.election import Election
from minke.swarm.manager.leader import Leader
from minke.swarm.manager.reconciler import Reconciler
from minke.swarm.store import NotLeader, SQLiteStore, Store
from minke.swarm.store.etcd import EtcdStore, Fence

DEADLINE = 30.0


async def until(what: str, condition: Callable[[], Any]) -> Any:
    """Poll ``condition`` (plain or async) until it returns something true."""
    end = time.monotonic() + DEADLINE
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
    return value


class Marker(Reconciler):
    """A reconciler that records, in the store, which manager ran a pass."""

    name = "marker"
    kinds = ("config",)

    def __init__(self, store: Store, node_id: str) -> None:
        super().__init__(store)
        self.node_id = node_id

    async def reconcile(self) -> None:
        def mark(tx):  # type: ignore[no-untyped-def]
            if tx.get("config", self.node_id) is None:
                tx.create("config", {"ID": self.node_id, "Spec": {}})
        await self.store.update(mark)


def managers(etcd: Etcd, n: int) -> tuple[list[EtcdStore], list[Leader]]:
    """``n`` managers on one prefix; each term's Marker writes its own config."""
    config = etcd.config()
    stores = [EtcdStore(config) for _ in range(n)]
    terms = itertools.count()
    leaders = [Leader(s, f"m{i}", make=lambda st, i=i: [Marker(st, f"m{i}-{next(terms)}")])
               for i, s in enumerate(stores)]
    return stores, leaders


async def stop_all(stores: list[EtcdStore], leaders: list[Leader]) -> None:
    for leader in leaders:
        await leader.stop()
    for store in stores:
        await store.close()


def the_leader(leaders: list[Leader]) -> Leader | None:
    """The one manager that believes it leads, None while none or several do (a deposed
    leader believes it for the moment it takes to notice; fencing refuses its writes)."""
    now = [leader for leader in leaders if leader.is_leader]
    return now[0] if len(now) == 1 else None


@pytest.mark.integration
async def test_revoked_lease_ends_the_term_and_a_new_one_runs(etcd: Etcd) -> None:
    """Revoking the leader's lease (an operator, or etcd expiring it) ends its term: a new
    term starts (any manager may win it, the old one too), its reconcilers run, and the
    old term's fenced store writes nothing."""
    stores, leaders = managers(etcd, 3)
    for leader in leaders:
        leader.start()
    first = await until("a leader", lambda: the_leader(leaders))
    await until("its reconciler's pass", lambda: stores[0].view(
        lambda tx: len(tx.list("config")) == 1))
    assert await first.election.leader() == first.node_id
    old_term = first.reconcilers[0].store
    await first.store.client.revoke_lease(first.election.lease_id)
    second = await until("a new term", lambda: (lead := the_leader(leaders)) and (
        lead is not first or lead.terms == 2) and lead)
    assert await second.election.leader() == second.node_id
    await until("the new term's pass", lambda: stores[0].view(
        lambda tx: len(tx.list("config")) == 2))
    with pytest.raises(NotLeader):
        await old_term.update(lambda tx: tx.create("config", {"ID": "late", "Spec": {}}))
    await stop_all(stores, leaders)


@pytest.mark.integration
async def test_silent_leader_is_replaced_and_its_late_write_refused(etcd: Etcd) -> None:
    """The leader stops renewing its lease (a paused or cut-off process): after the TTL
    another manager leads; the old one's write through its fenced store fails and changes
    nothing."""
    stores, leaders = managers(etcd, 2)
    for leader in leaders:
        leader.start()
    old = await until("a leader", lambda: the_leader(leaders))
    late_store = old.reconcilers[0].store  # the fenced store its reconcilers write through
    old.election._keepalive.cancel()  # the process freezes: no more keep-alives ...
    old._task.cancel()  # ... and its campaign loop stops too (it does not step down)
    new = await until("a new leader", lambda: next(
        (lead for lead in leaders if lead is not old and lead.is_leader), None))
    with pytest.raises(NotLeader):
        await late_store.update(lambda tx: tx.create("config", {"ID": "late", "Spec": {}}))
    assert await new.store.view(lambda tx: tx.get("config", "late")) is None
    await stop_all(stores, leaders)


@pytest.mark.integration
async def test_resign_hands_over_and_manager_status_follows(etcd: Etcd) -> None:
    """``docker node ls`` MANAGER STATUS from the store: the leader marks itself Leader
    and the managers whose session ended unreachable."""
    stores, leaders = managers(etcd, 2)

    def nodes(tx):  # type: ignore[no-untyped-def]
        for i in range(2):
            tx.create("node", {"ID": f"m{i}", "Spec": {"Role": "manager"},
                               "ManagerStatus": {"Leader": False, "Addr": f"10.0.0.{i}:2377"}})
    await stores[0].update(nodes)
    for leader in leaders:
        leader.start()
    old = await until("a leader", lambda: the_leader(leaders))
    other = leaders[1 - leaders.index(old)]

    def status(want: dict[str, tuple[bool, str]]) -> Callable[[], Any]:
        async def check() -> bool:
            got = await stores[0].view(lambda tx: {
                n["ID"]: (n["ManagerStatus"]["Leader"], n["ManagerStatus"].get("Reachability"))
                for n in tx.list("node")})
            return got == want
        return check
    await until("Leader / reachable", status({old.node_id: (True, "reachable"),
                                              other.node_id: (False, "reachable")}))
    await old.stop()  # a clean stop resigns: no waiting for the TTL
    await until("the other manager to lead", lambda: other.is_leader)
    await until("the old leader unreachable", status({old.node_id: (False, "unreachable"),
                                                      other.node_id: (True, "reachable")}))
    await stop_all(stores, leaders)


@pytest.mark.integration
async def test_sigkilled_leader_process_is_replaced_and_fenced_off(etcd: Etcd) -> None:
    """Two manager processes: SIGKILL the leader; the other leads once the dead one's
    lease expires, and a write fenced with the dead leader's key is refused."""
    config = etcd.config()
    observer = EtcdStore(config)
    processes = [spawn_manager(config.url, f"p{i}") for i in range(2)]
    try:
        election = Election(observer, "observer")
        first = await until("a leader process", election.leader)
        kv = await observer.client.get(observer.keys.leader)
        dead = observer.fenced(Fence(observer.keys.leader, kv.create_revision))
        await dead.update(lambda tx: tx.create("config", {"ID": "before", "Spec": {}}))
        processes[int(first[1:])].send_signal(signal.SIGKILL)
        second = await until("another leader", lambda: _other_leader(election, first))
        assert second != first
        with pytest.raises(NotLeader):
            await dead.update(lambda tx: tx.create("config", {"ID": "late", "Spec": {}}))
        assert [c["ID"] for c in await observer.view(lambda tx: tx.list("config"))] == \
            ["before"]
    finally:
        for process in processes:
            process.kill()
            process.wait()
        await observer.close()


async def _other_leader(election: Election, old: str) -> str | None:
    now = await election.leader()
    return now if now not in (None, old) else None


async def test_sqlite_manager_always_leads(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "store.db")
    leader = Leader(store, "n1", make=lambda st: [Marker(st, "n1")])
    leader.start()
    assert leader.is_leader and leader.election is None
    await until("the pass", lambda: store.view(lambda tx: tx.get("config", "n1")))
    await leader.stop()
    await store.close()
