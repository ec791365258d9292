"""`docker run --rm busybox true`, end to end through the same docker CLI, minke vs Docker.

Goal (issue 2): minke's median <= 0.5x Docker's.
"""

from __future__ import annotations

from common import Target, compare, import_busybox, parse_repeat, report, summary, timed


def measure(target: Target, repeat: int) -> dict[str, float]:
    ref = import_busybox(target)
    return summary(timed(lambda: target.docker("run", "--rm", ref, "true"), repeat, warmup=2))


def main() -> None:
    repeat = parse_repeat(20)
    report("run_latency", compare(lambda target: measure(target, repeat),
                                  ratios={"ratio_minke_over_docker": ("median_s",)}))


if __name__ == "__main__":
    main()
