"""Network setup time per container: `docker run --rm busybox true` on the default bridge
minus the same with `--network none`, minke vs Docker (same docker CLI).

Goal (issue 4): minke's setup time at most Docker's.
"""

from __future__ import annotations

from common import Target, compare, import_busybox, parse_repeat, report, summary
from common import timed as timed_runs


def measure(target: Target, repeat: int) -> dict[str, object]:
    ref = import_busybox(target)
    bridge = summary(timed_runs(lambda: target.docker("run", "--rm", ref, "true"), repeat, 2))
    none = summary(timed_runs(lambda: target.docker("run", "--rm", "--network", "none", ref,
                                                    "true"), repeat, 2))
    return {"bridge": bridge, "none": none,
            "setup_s": round(bridge["median_s"] - none["median_s"], 4)}


def main() -> None:
    repeat = parse_repeat(20)
    report("network_setup", compare(lambda target: measure(target, repeat),
                                     ratios={"ratio_minke_over_docker": ("bridge", "median_s")}))


if __name__ == "__main__":
    main()
