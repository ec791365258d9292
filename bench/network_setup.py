"""Network setup time per container: `docker run --rm busybox true` on the default bridge
minus the same with `--network none`, minke vs Docker (same docker CLI).

Goal (issue 4): minke's setup time at most Docker's.
"""

from __future__ import annotations

import argparse

from common import Target, docker_target, import_busybox, minke_target, ratio, report, summary
from common import timed as timed_runs


def measure(target: Target, repeat: int) -> dict[str, object]:
    ref = import_busybox(target)
    bridge = summary(timed_runs(lambda: target.docker("run", "--rm", ref, "true"), repeat, 2))
    none = summary(timed_runs(lambda: target.docker("run", "--rm", "--network", "none", ref,
                                                    "true"), repeat, 2))
    return {"bridge": bridge, "none": none,
            "setup_s": round(bridge["median_s"] - none["median_s"], 4)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", "--repeat", type=int, default=20)
    args = parser.parse_args()
    results: dict[str, object] = {}
    with minke_target() as (minke, _):
        results["minke"] = measure(minke, args.repeat)
    docker = docker_target()
    if docker:
        results["docker"] = measure(docker, args.repeat)
        results["ratio_minke_over_docker"] = ratio(
            results["minke"]["bridge"]["median_s"],  # type: ignore[index]
            results["docker"]["bridge"]["median_s"])  # type: ignore[index]
    else:
        results["docker"] = "no Docker daemon answered"
    report("network_setup", results)


if __name__ == "__main__":
    main()
