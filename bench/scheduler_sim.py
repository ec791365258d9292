"""The swarm scheduler at data-center scale, without containers: the real ``Scheduler``
(filters, strategies, batching, its watch of the store) against N simulated nodes and M
tasks in the real cluster store (``SQLiteStore`` in a temporary directory).

Scenarios (``--scenario``; default all):

- ``spread``: 1,000 nodes (16 CPUs, 64 GiB), 300 services of 100 replicas (30,000 tasks)
  created one service per transaction while the scheduler runs, as the orchestrator writes
  them; small reservations on a third of the services. Reports placements per second from
  the first task written to the last one placed, the decision and commit time of each pass
  (p50/p99), spread quality (max - min tasks per node) and the manager's RSS growth per
  1,000 tasks held in the store and the scheduler.
- ``backlog``: the same tasks all written before the scheduler starts (a new leader taking
  over a backlog): the snapshot load, then passes.
- ``binpack``: 200 nodes, 5,000 single-task replicated jobs with mixed reservations, label
  ``com.minke.scheduler.strategy=binpack``, submitted at once: nodes used against the lower
  bound max(ceil(sum CPU / node CPU), ceil(sum memory / node memory)).

Docker has no scheduler simulator to run side by side; the targets come from issue 16
(>= 2,000 placements/s, p99 <= 50 ms per pass, spread within 1, binpack <= 1.1x bound,
RSS <= 10 MB per 1,000 tasks). Writes bench/results/scheduler_sim.json.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from minke.swarm.manager import tasks as t  # noqa: E402
from minke.swarm.manager.scheduler import STRATEGY_LABEL, PassStats, Scheduler  # noqa: E402
from minke.swarm.store import Obj, SQLiteStore, Tx  # noqa: E402

GIB = 1 << 30
CPU = 1_000_000_000
NODE_CPUS, NODE_MEMORY = 16, 64 * GIB


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def node(i: int) -> Obj:
    return {"ID": f"node{i:021d}", "Spec": {"Role": "worker", "Availability": "active",
                                            "Labels": {"zone": f"z{i % 3}"}},
            "Description": {"Hostname": f"sim{i}", "Platform": {"OS": "linux",
                                                               "Architecture": "x86_64"},
                            "Resources": {"NanoCPUs": NODE_CPUS * CPU,
                                          "MemoryBytes": NODE_MEMORY}},
            "Status": {"State": "ready", "Addr": f"198.18.{i // 250}.{i % 250 + 1}"}}


def service(i: int, mode: Obj, reservations: Obj, labels: dict[str, str]) -> Obj:
    return {"ID": f"svc{i:022d}", "Version": {"Index": 1}, "Spec": {
        "Name": f"s{i}", "Labels": labels, "Mode": mode, "TaskTemplate": {
            "ContainerSpec": {"Image": "busybox:latest", "Args": ["sleep", "1"],
                              "StopGracePeriod": 10 * CPU},
            "Resources": {"Limits": {}, "Reservations": reservations},
            "RestartPolicy": {"Condition": "any", "Delay": 5 * CPU, "MaxAttempts": 0},
            "Placement": {}, "ForceUpdate": 0, "Runtime": "container"}}}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


class Sim:
    def __init__(self, root: Path) -> None:
        self.store = SQLiteStore(root / "store.db")
        self.passes: list[PassStats] = []
        self.placed = 0
        self.done = asyncio.Event()
        self.expected = 0
        self.last_placement = 0.0

    def on_pass(self, stats: PassStats) -> None:
        self.passes.append(stats)
        self.placed += stats.decided
        if stats.decided:
            self.last_placement = time.perf_counter()
        if self.placed >= self.expected:
            self.done.set()

    async def add_nodes(self, n: int) -> None:
        def write(tx: Tx) -> None:
            for i in range(n):
                tx.create("node", node(i))
        await self.store.update(write)

    async def add_service(self, svc: Obj, replicas: int, *, job: bool = False) -> None:
        def write(tx: Tx) -> None:
            created = tx.create("service", svc)
            for slot in range(replicas):
                tx.create("task", t.new_task(created, slot=slot + (0 if job else 1),
                                             desired=t.COMPLETE if job else t.RUNNING))
        await self.store.update(write)

    async def placements(self) -> list[Obj]:
        return await self.store.view(lambda tx: [x for x in tx.list("task")])

    def pass_figures(self) -> dict[str, Any]:
        busy = [p for p in self.passes if p.decided]
        total = [p.decide + p.commit for p in busy]
        return {
            "passes": len(busy),
            "decisions_per_pass_median": statistics.median(p.decided for p in busy),
            "decide_ms_p50": round(1000 * percentile([p.decide for p in busy], 0.5), 2),
            "decide_ms_p99": round(1000 * percentile([p.decide for p in busy], 0.99), 2),
            "pass_ms_p50": round(1000 * percentile(total, 0.5), 2),
            "pass_ms_p99": round(1000 * percentile(total, 0.99), 2),
        }


SPREAD_SERVICES, SPREAD_REPLICAS, SPREAD_NODES = 300, 100, 1000


def spread_service(i: int) -> Obj:
    reservations = {"NanoCPUs": CPU // 10, "MemoryBytes": 64 << 20} if i % 3 == 0 else {}
    return service(i, {"Replicated": {"Replicas": SPREAD_REPLICAS}}, reservations, {})


async def run_spread(root: Path, *, backlog: bool) -> dict[str, Any]:
    sim = Sim(root)
    sim.expected = SPREAD_SERVICES * SPREAD_REPLICAS
    await sim.add_nodes(SPREAD_NODES)
    rss_before = rss_bytes()
    scheduler = Scheduler(sim.store, on_pass=sim.on_pass)
    start = time.perf_counter()
    if backlog:
        for i in range(SPREAD_SERVICES):
            await sim.add_service(spread_service(i), SPREAD_REPLICAS)
        start = time.perf_counter()
        scheduler.start()
    else:
        scheduler.start()
        await asyncio.sleep(0.2)  # the scheduler has read its (empty) snapshot
        start = time.perf_counter()
        for i in range(SPREAD_SERVICES):
            await sim.add_service(spread_service(i), SPREAD_REPLICAS)
    written = time.perf_counter() - start
    await asyncio.wait_for(sim.done.wait(), 600)
    elapsed = sim.last_placement - start
    rss_after = rss_bytes()
    await scheduler.stop()
    tasks = await sim.placements()
    per_node = Counter(x.get("NodeID") for x in tasks if x["Status"]["State"] == t.ASSIGNED)
    counts = [per_node.get(node(i)["ID"], 0) for i in range(SPREAD_NODES)]
    await sim.store.close()
    return {
        "nodes": SPREAD_NODES, "tasks": sim.expected,
        "assigned": sum(counts),
        "seconds": round(elapsed, 2),
        "tasks_written_in_s": round(written, 2),
        "placements_per_s": round(sim.expected / elapsed),
        **sim.pass_figures(),
        "spread_max_minus_min": max(counts) - min(counts),
        "rss_growth_mb_per_1000_tasks": round((rss_after - rss_before) / (1 << 20)
                                              / (sim.expected / 1000), 2),
    }


BINPACK_NODES, BINPACK_JOBS = 200, 5000
# (CPUs, GiB, weight): small, medium and a few large jobs, CPU- or memory-heavy.
JOB_SHAPES = [(0.25, 0.5, 30), (0.5, 1, 25), (0.5, 2, 15), (0.25, 2, 10), (1, 1, 8),
              (0.5, 3, 6), (2, 4, 4), (1, 6, 2)]


async def run_binpack(root: Path) -> dict[str, Any]:
    sim = Sim(root)
    sim.expected = BINPACK_JOBS
    await sim.add_nodes(BINPACK_NODES)
    rng = random.Random(16)
    shapes = rng.choices([s[:2] for s in JOB_SHAPES], [s[2] for s in JOB_SHAPES],
                         k=BINPACK_JOBS)

    def write(tx: Tx) -> None:
        for i, (cpus, gib) in enumerate(shapes):
            created = tx.create("service", service(
                i, {"ReplicatedJob": {"MaxConcurrent": 1, "TotalCompletions": 1}},
                {"NanoCPUs": int(cpus * CPU), "MemoryBytes": int(gib * GIB)},
                {STRATEGY_LABEL: "binpack"}))
            tx.create("task", t.new_task(created, slot=0, desired=t.COMPLETE))
    await sim.store.update(write)
    scheduler = Scheduler(sim.store, on_pass=sim.on_pass)
    start = time.perf_counter()
    scheduler.start()
    await asyncio.wait_for(sim.done.wait(), 600)
    elapsed = sim.last_placement - start
    await scheduler.stop()
    tasks = await sim.placements()
    used = {x["NodeID"] for x in tasks if x.get("NodeID")}
    total_cpu = sum(c for c, _ in shapes)
    total_mem = sum(m for _, m in shapes)
    bound = max(math.ceil(total_cpu / NODE_CPUS), math.ceil(total_mem / (NODE_MEMORY / GIB)))
    await sim.store.close()
    return {
        "nodes": BINPACK_NODES, "jobs": BINPACK_JOBS,
        "assigned": sum(1 for x in tasks if x.get("NodeID")),
        "seconds": round(elapsed, 2),
        "placements_per_s": round(BINPACK_JOBS / elapsed),
        **sim.pass_figures(),
        "sum_cpus": round(total_cpu, 2), "sum_memory_gib": round(total_mem, 2),
        "lower_bound_nodes": bound, "nodes_used": len(used),
        "used_over_bound": round(len(used) / bound, 3),
    }


async def main(scenarios: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in scenarios:
        with tempfile.TemporaryDirectory(prefix="mk-schedsim-") as tmp:
            if name == "binpack":
                out[name] = await run_binpack(Path(tmp))
            else:
                out[name] = await run_spread(Path(tmp), backlog=name == "backlog")
        print(name, out[name], flush=True)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", action="append",
                        choices=["spread", "backlog", "binpack"])
    args = parser.parse_args()
    results = asyncio.run(main(args.scenario or ["spread", "backlog", "binpack"]))
    from common import report  # after the run: it imports the test harness

    report("scheduler_sim", {"docker": "no scheduler simulator to compare with",
                             "load_average_after": [round(x, 1) for x in os.getloadavg()],
                             **results})
