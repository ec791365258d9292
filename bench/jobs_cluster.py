"""Batch jobs on real containers across nodes: 5 minked nodes of the cluster harness
(``tests/support/cluster.py``: network namespaces on one host) in one swarm, and
``minke job run --completions 500 --cpus 1 busybox sleep 1`` on the manager. Every node
offers the host's CPUs, so with 1 CPU reserved per task at most NODES x CPUs tasks run at a
time; the rest pend ("insufficient resources") and are placed as tasks complete. Reports
the wall time against the ideal (ceil(500 / slots) x 1 s; goal <= 1.2x), how the tasks
spread over the nodes, and the largest number running at once (never above the slots).

The host has one kernel and 2 cores for all nodes: the figure includes starting 500
containers (runc) on it. Docker cannot be run as 5 swarm nodes here: minke alone.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import docker
from common import REPO, report
from tests.conftest import import_busybox
from tests.support.busybox import write_rootfs_tar
from tests.support.cluster import Cluster


def cli(node_host: str, *args: str) -> str:
    proc = subprocess.run(["docker", "-H", node_host, *args], capture_output=True,
                          text=True, timeout=120, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: {proc.stderr}")
    return proc.stdout.strip()


def main(nodes: int, jobs: int, seconds: float, timeout: float) -> dict[str, object]:
    with Cluster() as cluster, tempfile.TemporaryDirectory() as tmp:
        tar = write_rootfs_tar(Path(tmp) / "rootfs.tar")
        for node in cluster.start(nodes):
            assert node.daemon is not None
            import_busybox(node.daemon, tar)
        manager = cluster.node(0)
        cli(manager.host, "swarm", "init", "--advertise-addr", manager.addr)
        token = cli(manager.host, "swarm", "join-token", "-q", "worker")
        for i in range(1, nodes):
            cli(cluster.node(i).host, "swarm", "join", "--token", token,
                f"{manager.addr}:2377")
        api = docker.APIClient(base_url=manager.host, version="1.41", timeout=60)
        deadline = time.monotonic() + 60
        while True:  # a joined node's description comes with its first session
            described = [n for n in api.nodes() if n["Status"]["State"] == "ready"
                         and (n.get("Description") or {}).get("Resources")]
            if len(described) == nodes:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(described)} of {nodes} nodes ready and described")
            time.sleep(0.2)
        cpus = [n["Description"]["Resources"]["NanoCPUs"] // 1_000_000_000
                for n in described]
        slots = sum(cpus)
        peak = [0]
        done = threading.Event()

        def watch() -> None:  # the most tasks running at once, by the manager's view
            while not done.is_set():
                try:
                    running = sum(1 for t in api.tasks(filters={"name": "batch"})
                                  if t["Status"]["State"] == "running")
                    peak[0] = max(peak[0], running)
                except Exception:  # the service may not exist yet
                    pass
                time.sleep(1.0)
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        start = time.perf_counter()
        try:
            run = subprocess.run(
                [sys.executable, "-m", "minke.cli", "job", "run", "--name", "batch", "--keep",
                 "-q", "--completions", str(jobs), "--cpus", "1", "busybox", "sleep",
                 f"{seconds:g}"],
                env={**os.environ, **manager.env(), "PYTHONPATH": str(REPO / "src")},
                capture_output=True, text=True, timeout=timeout, check=False)
            status, stderr = run.returncode, run.stderr[-500:]
        except subprocess.TimeoutExpired:
            status, stderr = None, f"not complete after {timeout:g} s"
        wall = time.perf_counter() - start
        done.set()
        watcher.join()
        tasks = api.tasks(filters={"name": "batch"})
        per_node = Counter(t["NodeID"][:12] for t in tasks
                           if t["Status"]["State"] == "complete")
        ideal = math.ceil(jobs / slots) * seconds
        down = sum(1 for n in api.nodes() if n["Status"]["State"] != "ready")
        for i in range(nodes - 1, -1, -1):
            subprocess.run(["docker", "-H", cluster.node(i).host, "swarm", "leave",
                            "--force"], capture_output=True, check=False)
        return {
            "nodes": nodes, "cpus_per_node": cpus, "jobs": jobs, "job_seconds": seconds,
            "exit_status": status, "stderr": stderr,
            "wall_s": round(wall, 1), "ideal_s": ideal, "wall_over_ideal": round(wall / ideal, 2),
            "completed": sum(per_node.values()), "per_node": dict(per_node),
            "nodes_down_at_end": down,
            "peak_running": peak[0], "slots": slots,
            "load_average_after": [round(x, 1) for x in os.getloadavg()],
        }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--timeout", type=float, default=900.0,
                        help="seconds the job may take before the run gives up")
    args = parser.parse_args()
    report("jobs_cluster", {"docker": "not run: 5 Docker swarm nodes cannot run on this host",
                            "minke": main(args.nodes, args.jobs, args.seconds,
                                                  args.timeout)})
