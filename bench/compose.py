"""A 10-service project (one network, one volume): ``up -d``, ``up -d`` with nothing to
change, and ``down -t 0``; ``minke compose`` on minked side by side with docker-compose
(Debian's 1.29.2) on Docker.

Goals (issue 8): each <= 0.5x docker-compose on Docker.
"""

from __future__ import annotations

import os
import shutil
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

SERVICES = 10


def project_text(image: str) -> str:
    lines = ["services:"]
    for i in range(SERVICES):
        lines += [f"  s{i}:", f"    image: {image}", "    command: sleep 3600",
                  "    stop_grace_period: 1s", "    volumes: [data:/data]"]
    lines += ["volumes:", "  data: {}"]
    return "\n".join(lines) + "\n"


def command(tool: str) -> list[str]:
    if tool == "minke":
        return [sys.executable, "-m", "minke.cli.main", "compose"]
    return [shutil.which("docker-compose") or "docker-compose"]


def measure(target: Target, tool: str, repeat: int) -> dict[str, object]:
    image = import_busybox(target)
    times: dict[str, list[float]] = {"up": [], "up_nothing_to_do": [], "down": []}
    env = {**target.env(), "MINKE_HOST": target.host,
           "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with tempfile.TemporaryDirectory(prefix="bench-compose-") as tmp:
        Path(tmp, "compose.yaml").write_text(project_text(image))
        for n in range(repeat):
            env["COMPOSE_PROJECT_NAME"] = f"bench{os.getpid()}x{n}"

            def run(*args: str) -> float:
                start = time.perf_counter()
                subprocess.run([*command(tool), "-f", "compose.yaml", *args], cwd=tmp,
                               env=env, check=True, capture_output=True)
                return time.perf_counter() - start

            times["up"].append(run("up", "-d"))
            times["up_nothing_to_do"].append(run("up", "-d"))
            times["down"].append(run("down", "-v", "-t", "0"))
    return {k: {"median_s": round(statistics.median(v), 3), "n": len(v)}
            for k, v in times.items()}


def main() -> None:
    repeat = parse_repeat(3)
    results: dict[str, object] = {"services": SERVICES}
    with minke_target() as (minke, _):
        results["minke_compose_on_minke"] = measure(minke, "minke", repeat)
        if shutil.which("docker-compose"):
            results["docker_compose_on_minke"] = measure(minke, "docker-compose", repeat)
    docker = docker_target()
    if docker and shutil.which("docker-compose"):
        theirs = measure(docker, "docker-compose", repeat)
        results["docker_compose_on_docker"] = theirs
        ours = results["minke_compose_on_minke"]
        results["ratio_minke_over_docker"] = {
            k: ratio(ours[k]["median_s"], theirs[k]["median_s"])  # type: ignore[index]
            for k in theirs}
    else:
        results["docker_compose_on_docker"] = "no Docker daemon or no docker-compose"
    report("compose", results)


if __name__ == "__main__":
    main()
