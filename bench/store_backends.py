"""The swarm's two cluster stores side by side, without containers: the embedded SQLite
store (one manager) and the etcd store (several managers; a real Debian etcd 3.4 member on
loopback, started here), and the leader failover of managers on etcd.

Store figures (operations per second, one client, sequential as a reconciler does them):
``create`` (one object per transaction), ``update`` (read-modify-write of one object),
``get`` (a view reading one object), ``list`` (a view listing ``--tasks`` tasks),
``bulk`` (objects per second when one transaction creates ``--tasks`` tasks), and
``watch_lag`` (median time from a commit to its event at a watcher). ``contended``: two
etcd clients incrementing one object (the optimistic-concurrency retry path).

Failover: three managers (processes) campaign on one etcd; the leader is SIGKILLed; the
time until another one leads (expected: the lease TTL, 2 s by default, plus one campaign),
and after a clean stop (the lease revoked: at once). Docker Swarm's anchor is its Raft
election (ElectionTick 10 x 1 s tick: a new leader some seconds after the old one dies);
no Docker daemon measures it side by side here, so the figures are absolute.

``python bench/store_backends.py [-n OPS] [--tasks N]``; writes
bench/results/store_backends.json.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import report  # noqa: E402
from tests.support.etcd import Etcd, spawn_manager, start_member  # noqa: E402

from minke.swarm.manager.election import DEFAULT_TTL, Election  # noqa: E402
from minke.swarm.store import SQLiteStore, Store  # noqa: E402
from minke.swarm.store.etcd import EtcdStore  # noqa: E402


async def rate(n: int, op: Callable[[int], Awaitable[Any]]) -> float:
    await op(-1)  # warm-up (connections, first snapshot)
    start = time.perf_counter()
    for i in range(n):
        await op(i)
    return round(n / (time.perf_counter() - start), 1)


async def measure(store: Store, n: int, tasks: int) -> dict[str, float]:
    out: dict[str, float] = {}
    out["create_per_s"] = await rate(n, lambda i: store.update(
        lambda tx: tx.create("config", {"ID": f"c{i}", "Spec": {"Name": f"c{i}"}})))

    def bump(tx: Any) -> None:
        obj = tx.get("config", "c0")
        obj["Spec"]["Labels"] = {"n": str(time.time())}
        tx.update("config", obj)
    out["update_per_s"] = await rate(n, lambda i: store.update(bump))
    out["get_per_s"] = await rate(n, lambda i: store.view(lambda tx: tx.get("config", "c0")))
    start = time.perf_counter()
    await store.update(lambda tx: [tx.create("task", {"ID": f"t{i}", "ServiceID": "s",
                                                     "Spec": {"x": "y" * 200}})
                                   for i in range(tasks)])
    out["bulk_objects_per_s"] = round(tasks / (time.perf_counter() - start), 1)
    out["list_per_s"] = await rate(max(5, n // 20),
                                   lambda i: store.view(lambda tx: tx.list("task")))
    lags = []
    events = store.watch(["secret"])
    for i in range(max(5, n // 10)):
        pending = asyncio.ensure_future(anext(events))
        await asyncio.sleep(0)
        start = time.perf_counter()
        await store.update(lambda tx, i=i: tx.create("secret", {"ID": f"s{i}", "Spec": {}}))
        await pending
        lags.append(time.perf_counter() - start)
    await events.aclose()
    out["watch_lag_ms"] = round(statistics.median(lags) * 1000, 2)
    return out


async def contended(etcd: Etcd, n: int) -> dict[str, float]:
    config = etcd.config()
    a, b = EtcdStore(config), EtcdStore(config)
    await a.update(lambda tx: tx.create("node", {"ID": "n", "Spec": {"x": 0}}))

    def inc(tx: Any) -> None:
        node = tx.get("node", "n")
        node["Spec"]["x"] += 1
        tx.update("node", node)
    start = time.perf_counter()
    await asyncio.gather(*(s.update(inc) for s in (a, b) for _ in range(n // 2)))
    elapsed = time.perf_counter() - start
    final = (await a.view(lambda tx: tx.get("node", "n")))["Spec"]["x"]
    await a.close()
    await b.close()
    return {"updates_per_s": round(n / elapsed, 1), "lost_updates": n // 2 * 2 - final}


async def failover(etcd: Etcd, rounds: int) -> dict[str, Any]:
    """SIGKILL the leading process: time until another process leads."""
    killed, resigned = [], []
    for _ in range(rounds):
        config = etcd.config()
        observer = EtcdStore(config)
        election = Election(observer, "observer")
        managers = [spawn_manager(config.url, f"m{i}") for i in range(3)]
        try:
            while (leader := await election.leader()) is None:
                await asyncio.sleep(0.01)
            victim = managers[int(leader[1:])]
            os.kill(victim.pid, signal.SIGKILL)
            start = time.perf_counter()
            while (now := await election.leader()) in (None, leader):
                await asyncio.sleep(0.01)
            killed.append(time.perf_counter() - start)
            # a clean stop: the leader's lease revoked (what Leader.stop does)
            kv = await observer.client.get(observer.keys.leader)
            start = time.perf_counter()
            await observer.client.revoke_lease(kv.lease)
            while (after := await election.leader()) in (None, now):
                await asyncio.sleep(0.01)
            resigned.append(time.perf_counter() - start)
            del after
        finally:
            for process in managers:
                process.kill()
                process.wait()
            await observer.close()
    return {"lease_ttl_s": DEFAULT_TTL,
            "sigkill_to_new_leader_s": {"median": round(statistics.median(killed), 3),
                                        "max": round(max(killed), 3), "n": len(killed)},
            "resign_to_new_leader_s": {"median": round(statistics.median(resigned), 3),
                                       "max": round(max(resigned), 3), "n": len(resigned)}}


async def run(n: int, tasks: int, rounds: int, root: Path) -> dict[str, Any]:
    sqlite = SQLiteStore(root / "store.db")
    results: dict[str, Any] = {"sqlite": await measure(sqlite, n, tasks)}
    await sqlite.close()
    etcd = start_member(root)
    try:
        store = EtcdStore(etcd.config())
        results["etcd"] = await measure(store, n, tasks)
        await store.close()
        results["etcd_contended"] = await contended(etcd, n)
        results["failover"] = await failover(etcd, rounds)
    finally:
        etcd.server.stop()
    results["etcd_over_sqlite"] = {
        k: round(results["etcd"][k] / results["sqlite"][k], 3) for k in results["sqlite"]}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--ops", type=int, default=200, help="operations per figure")
    parser.add_argument("--tasks", type=int, default=500, help="tasks in bulk and list")
    parser.add_argument("--rounds", type=int, default=3, help="failover rounds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mk-store-bench-") as root:
        results = asyncio.run(run(args.ops, args.tasks, args.rounds, Path(root)))
    report("store_backends", {"parameters": vars(args), **results})


if __name__ == "__main__":
    main()
