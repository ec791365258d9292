"""Shared harness of the benchmarks: a private minked, the Docker daemon to compare with,
the busybox image imported into both, timing helpers and the results file.

Docker is the one in ``DOCKER_ANCHOR_HOST`` (start one with
``../shared/tools/docker-anchor start DIR``), else /var/run/docker.sock if it answers;
without one, benchmarks report minke alone and say so.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.conftest import (  # noqa: E402
    Daemon,
    cleanup_root,
    remove_all_containers,
    start_daemon,
    stop_daemon,
)
from tests.support.busybox import write_rootfs_tar  # noqa: E402
from tests.support.docker import running_docker  # noqa: E402

RESULTS = REPO / "bench" / "results"
DOCKER_CLI = "/usr/local/bin/docker" if Path("/usr/local/bin/docker").exists() else "docker"


@dataclass
class Target:
    name: str
    host: str  # unix://...

    def env(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": self.host}

    def docker(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([DOCKER_CLI, *args], env=self.env(), capture_output=True,
                              check=check)


def docker_target() -> Target | None:
    host = running_docker()
    return Target("docker", host) if host else None


@contextmanager
def minke_target() -> Iterator[tuple[Target, Daemon]]:
    root = Path(tempfile.mkdtemp(prefix="mk-bench-", dir="/tmp"))
    daemon = start_daemon(root)
    try:
        yield Target("minke", daemon.host), daemon
    finally:
        remove_all_containers(daemon)
        stop_daemon(daemon)
        cleanup_root(root)


def import_busybox(target: Target, ref: str = "bench/busybox:latest") -> str:
    with tempfile.TemporaryDirectory() as tmp:
        tar = write_rootfs_tar(Path(tmp) / "rootfs.tar")
        target.docker("import", "--change", 'CMD ["sh"]', str(tar), ref)
    return ref


def timed(fn: Callable[[], object], repeat: int, warmup: int = 1) -> list[float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def summary(times: list[float]) -> dict[str, float]:
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
            "n": len(times)}


def report(name: str, results: dict[str, object]) -> None:
    """Print the figures and keep them in bench/results/<name>.json."""
    doc = {
        "benchmark": name,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "kernel": platform.release()},
        **results,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(doc, indent=2))


def ratio(minke: float, docker: float | None) -> float | None:
    return round(minke / docker, 3) if docker else None
