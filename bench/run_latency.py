"""`docker run --rm busybox true`, end to end through the same docker CLI, minke vs Docker.

Goal (issue 2): minke's median <= 0.5x Docker's.
"""

from __future__ import annotations

import argparse

from common import (
    Target,
    docker_target,
    import_busybox,
    minke_target,
    ratio,
    report,
    summary,
    timed,
)


def measure(target: Target, repeat: int) -> dict[str, float]:
    ref = import_busybox(target)
    return summary(timed(lambda: target.docker("run", "--rm", ref, "true"), repeat, warmup=2))


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
            results["minke"]["median_s"], results["docker"]["median_s"])  # type: ignore[index]
    else:
        results["docker"] = "no Docker daemon answered"
    report("run_latency", results)


if __name__ == "__main__":
    main()
