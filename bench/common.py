"""Shared harness of the benchmarks: a private minked, the Docker daemon to compare with,
the busybox image imported into both, ``compare`` (one measurement run on each, with the
minke/Docker ratio), timing helpers, the ``-n`` option and the results file.

Docker is the one in ``DOCKER_ANCHOR_HOST`` (start one with
``../shared/tools/docker-anchor start DIR``), else /var/run/docker.sock if it answers;
without one, benchmarks report minke alone and say so.
"""

from __future__ import annotations

import argparse
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
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.conftest import Daemon, private_daemon  # noqa: E402
from tests.support.busybox import write_rootfs_tar  # noqa: E402
from tests.support.docker import running_docker  # noqa: E402

RESULTS = REPO / "bench" / "results"
DOCKER_CLI = "/usr/local/bin/docker" if Path("/usr/local/bin/docker").exists() else "docker"
NO_DOCKER = "no Docker daemon answered"


@dataclass
class Target:
    name: str
    host: str  # unix://...
    daemon: Daemon | None = None  # minke's private daemon; None for Docker

    def env(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": self.host}

    def docker(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([DOCKER_CLI, *args], env=self.env(), capture_output=True,
                              check=check)


def docker_target() -> Target | None:
    host = running_docker()
    return Target("docker", host) if host else None


@contextmanager
def minke_target(*daemon_args: str) -> Iterator[tuple[Target, Daemon]]:
    with private_daemon("mk-bench-", *daemon_args) as daemon:
        yield Target("minke", daemon.host, daemon), daemon


def compare(measure: Callable[[Target], Any], *, results: dict[str, object] | None = None,
            ratios: dict[str, tuple[str, ...]] | None = None) -> dict[str, object]:
    """``measure`` run on a private minke, then on Docker if one answers, into ``results``
    under "minke" and "docker". ``ratios`` maps a result key to the path of a figure in
    both measurements; that key gets minke's figure over Docker's."""
    results = {} if results is None else results
    with minke_target() as (minke, _):
        results["minke"] = measure(minke)
    docker = docker_target()
    if docker is None:
        results["docker"] = NO_DOCKER
        return results
    results["docker"] = measure(docker)
    for key, path in (ratios or {}).items():
        results[key] = ratio(_figure(results["minke"], path), _figure(results["docker"], path))
    return results


def _figure(measured: Any, path: tuple[str, ...]) -> float:
    for key in path:
        measured = measured[key]
    return float(measured)


def parse_repeat(default: int) -> int:
    """The ``-n/--repeat`` option of the benchmarks that time a step several times."""
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", "--repeat", type=int, default=default)
    return int(parser.parse_args().repeat)


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
