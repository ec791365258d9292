"""Swarm services, minke vs Docker's swarm mode through the same docker CLI, on one node:
``service create --replicas 10`` until all 10 tasks run, and ``service scale`` 3 → 30
until all 30 run. Convergence is polled the same way on both (``GET /tasks``, every
50 ms); ``-d`` and ``--no-resolve-image`` keep the CLI's own progress view and registry
lookup out of the figure. Task containers run busybox ``sleep`` with a 1 s stop grace
period so that removals between runs are quick on both.
"""

from __future__ import annotations

import time

import docker
from common import Target, compare, import_busybox, parse_repeat, report, summary

POLL = 0.05


def running(api: docker.APIClient, name: str) -> int:
    tasks = api.tasks(filters={"service": name, "desired-state": "running"})
    return sum(1 for t in tasks if t["Status"]["State"] == "running")


def wait_running(api: docker.APIClient, name: str, n: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while running(api, name) != n:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name}: {n} tasks not running after {timeout} s")
        time.sleep(POLL)


def remove(target: Target, api: docker.APIClient, name: str) -> None:
    target.docker("service", "rm", name)
    label = f"com.docker.swarm.service.name={name}"
    deadline = time.monotonic() + 120
    while api.containers(all=True, filters={"label": label}):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name}: task containers left after service rm")
        time.sleep(0.2)


def create(target: Target, image: str, name: str, replicas: int) -> None:
    target.docker("service", "create", "-d", "--no-resolve-image", "--name", name,
                  "--replicas", str(replicas), "--stop-grace-period", "1s", image,
                  "sleep", "600")


def measure(target: Target, repeat: int) -> dict[str, object]:
    api = docker.APIClient(base_url=target.host, version="1.41", timeout=120)
    target.docker("swarm", "leave", "--force", check=False)
    target.docker("swarm", "init", "--advertise-addr", "127.0.0.1")
    try:
        image = import_busybox(target)
        creates, scales = [], []
        for i in range(repeat + 1):  # the first round warms up
            start = time.perf_counter()
            create(target, image, f"ten{i}", 10)
            wait_running(api, f"ten{i}", 10)
            took = time.perf_counter() - start
            remove(target, api, f"ten{i}")
            create(target, image, f"grow{i}", 3)
            wait_running(api, f"grow{i}", 3)
            start = time.perf_counter()
            target.docker("service", "scale", "-d", f"grow{i}=30")
            wait_running(api, f"grow{i}", 30)
            grew = time.perf_counter() - start
            remove(target, api, f"grow{i}")
            if i:
                creates.append(took)
                scales.append(grew)
        return {"create_10": summary(creates), "scale_3_to_30": summary(scales)}
    finally:
        target.docker("swarm", "leave", "--force", check=False)
        api.close()


def main() -> None:
    repeat = parse_repeat(2)
    report("swarm_services", compare(
        lambda target: measure(target, repeat),
        ratios={"create_10_ratio": ("create_10", "median_s"),
                "scale_3_to_30_ratio": ("scale_3_to_30", "median_s")}))


if __name__ == "__main__":
    main()
