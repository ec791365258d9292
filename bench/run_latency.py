"""`run --rm busybox true` end to end, minke vs Docker: through the same docker CLI on both
("minke"/"docker"), and through minke's own CLI (`minke run --rm`, "minke_cli") beside the
docker CLI on Docker. Runs alternate between the daemons, so that load from elsewhere on the
machine weighs on both alike.

minked runs at debug level, so it logs the duration of each lifecycle phase (create, start,
exit, remove; ``engine/containers/phases.py``): "profile" holds their medians over the timed
docker CLI runs, and the gaps between them (the CLI's requests, the process's own run).

Goal (issue 11): both ratios <= 0.25.
"""

from __future__ import annotations

import re
import shutil
import statistics
import subprocess
import time
from collections import defaultdict
from datetime import datetime

from common import (
    NO_DOCKER,
    Target,
    docker_target,
    import_busybox,
    minke_target,
    parse_repeat,
    ratio,
    report,
    summary,
)

MINKE_CLI = shutil.which("minke") or "minke"
# 2026-12-02 05:53:00,048 DEBUG minke.engine.containers.phases: start 39c8a923dba4: 110.2 ms (x=1.0)
_PHASE_LINE = re.compile(
    r"^(\S+ \S+) DEBUG minke\.engine\.containers\.phases: (\w+) (\w+): ([\d.]+) ms \((.*)\)$")


def minke_cli(target: Target, *args: str) -> None:
    subprocess.run([MINKE_CLI, *args], env=target.env() | {"MINKE_HOST": target.host},
                   capture_output=True, check=True)


def timed(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - start


def profile(lines: list[str]) -> dict[str, object]:
    """Median ms of each phase step, and of the gaps between the operations, from the lines
    minked logged at debug level."""
    steps: defaultdict[str, list[float]] = defaultdict(list)
    spans: defaultdict[str, dict[str, tuple[float, float]]] = defaultdict(dict)
    for line in lines:
        match = _PHASE_LINE.match(line)
        if match is None:
            continue
        when, operation, cid, total, detail = match.groups()
        end = datetime.strptime(when, "%Y-%m-%d %H:%M:%S,%f").timestamp()
        spans[cid][operation] = (end - float(total) / 1000, end)
        steps[f"{operation} (total)"].append(float(total))
        for item in detail.split():
            name, _, ms = item.partition("=")
            steps[f"{operation}.{name}"].append(float(ms))
    gaps: defaultdict[str, list[float]] = defaultdict(list)
    for span in spans.values():
        if {"create", "start", "exit", "remove"} <= span.keys():
            gaps["create->start (attach, wait requests)"].append(
                span["start"][0] - span["create"][1])
            gaps["start->exit (process runs, exit noticed)"].append(
                span["exit"][0] - span["start"][1])
            gaps["exit->remove"].append(span["remove"][0] - span["exit"][1])
            gaps["daemon: create begins -> remove ends"].append(
                span["remove"][1] - span["create"][0])
    out: dict[str, object] = {k: round(statistics.median(v), 2) for k, v in steps.items()}
    out.update({f"gap {k}": round(statistics.median(v) * 1000, 1) for k, v in gaps.items()})
    return out


def main() -> None:
    repeat = parse_repeat(20)
    results: dict[str, object] = {}
    docker = docker_target()
    with minke_target("-l", "debug") as (minke, daemon):
        ref = import_busybox(minke)
        docker_ref = import_busybox(docker) if docker else ""
        times: defaultdict[str, list[float]] = defaultdict(list)
        logged: list[str] = []  # minked's lines during the timed docker CLI runs
        for i in range(repeat + 2):  # the first two rounds warm up
            offset = daemon.log.stat().st_size
            round_ = {"minke": timed(lambda: minke.docker("run", "--rm", ref, "true"))}
            if i >= 2:
                with daemon.log.open("rb") as f:
                    f.seek(offset)
                    logged += f.read().decode(errors="replace").splitlines()
            round_["minke_cli"] = timed(lambda: minke_cli(minke, "run", "--rm", ref, "true"))
            if docker is not None:
                round_["docker"] = timed(lambda: docker.docker("run", "--rm", docker_ref,
                                                               "true"))
            if i >= 2:
                for key, seconds in round_.items():
                    times[key].append(seconds)
        results["minke"] = summary(times["minke"])
        results["minke_cli"] = summary(times["minke_cli"])
        results["docker"] = summary(times["docker"]) if docker is not None else NO_DOCKER
        results["profile_ms (docker CLI on minke, medians)"] = profile(logged)
    if docker is not None:
        results["ratio_minke_over_docker"] = ratio(results["minke"]["median_s"],  # type: ignore[index]
                                                   results["docker"]["median_s"])  # type: ignore[index]
        results["ratio_minke_cli_over_docker"] = ratio(
            results["minke_cli"]["median_s"],  # type: ignore[index]
            results["docker"]["median_s"])  # type: ignore[index]
    report("run_latency", results)


if __name__ == "__main__":
    main()
