"""Swarm mode's lifecycle through the same docker CLI, minke vs Docker: ``swarm init`` (a
new root CA, node certificate, join tokens, the cluster store), ``node ls`` and
``swarm leave --force``, each cycle on a node outside any swarm. Docker's init also
creates its ``ingress`` overlay network, which minke's does not yet (docs/swarm.md).
"""

from __future__ import annotations

import time

from common import Target, compare, parse_repeat, report, summary


def cycle(target: Target) -> tuple[float, float, float]:
    times = []
    for args in (("swarm", "init", "--advertise-addr", "127.0.0.1"), ("node", "ls"),
                 ("swarm", "leave", "--force")):
        start = time.perf_counter()
        target.docker(*args)
        times.append(time.perf_counter() - start)
    return times[0], times[1], times[2]


def measure(target: Target, repeat: int) -> dict[str, object]:
    target.docker("swarm", "leave", "--force", check=False)  # a node outside any swarm
    cycle(target)  # warm-up
    runs = [cycle(target) for _ in range(repeat)]
    return {"init": summary([r[0] for r in runs]), "node_ls": summary([r[1] for r in runs]),
            "leave": summary([r[2] for r in runs])}


def main() -> None:
    repeat = parse_repeat(5)
    report("swarm_lifecycle", compare(
        lambda target: measure(target, repeat),
        ratios={"init_ratio": ("init", "median_s"), "node_ls_ratio": ("node_ls", "median_s"),
                "leave_ratio": ("leave", "median_s")}))


if __name__ == "__main__":
    main()
