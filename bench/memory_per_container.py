"""Host memory per running container: monitor RSS plus daemon growth, 20 `sleep` containers.

minke: conmon RSS (each) + minked RSS growth. Docker: containerd-shim RSS (each) + dockerd and
containerd RSS growth. Goal (issue 2): minke <= 0.25x Docker's per-container overhead.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from common import Target, compare, import_busybox, report


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def pids_named(names: tuple[str, ...]) -> list[int]:
    out = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            comm = (proc / "comm").read_text().strip()
        except OSError:
            continue
        if comm.startswith(names):
            out.append(int(proc.name))
    return out


def measure(target: Target, count: int, daemon_pids: list[int],
            monitor_names: tuple[str, ...]) -> dict[str, float]:
    ref = import_busybox(target)
    before_monitors = set(pids_named(monitor_names))
    before_daemon = sum(rss_kb(p) for p in daemon_pids)
    names = [f"bench-mem-{i}" for i in range(count)]
    for name in names:
        target.docker("run", "-d", "--name", name, ref, "sleep", "600")
    time.sleep(1)
    monitors = [p for p in pids_named(monitor_names) if p not in before_monitors]
    monitor_kb = sum(rss_kb(p) for p in monitors)
    daemon_growth = sum(rss_kb(p) for p in daemon_pids) - before_daemon
    for name in names:
        target.docker("rm", "-f", name)
    per = (monitor_kb + max(daemon_growth, 0)) / count
    return {"containers": count, "monitors_found": len(monitors),
            "monitor_rss_kb_each": round(monitor_kb / max(len(monitors), 1), 1),
            "daemon_growth_kb": daemon_growth, "per_container_kb": round(per, 1)}


def measure_target(target: Target, count: int) -> dict[str, float]:
    """minke: its daemon and conmon; Docker: dockerd, containerd and the containerd shims."""
    if target.daemon is not None:
        return measure(target, count, [target.daemon.process.pid], ("conmon",))
    daemon_pids = [p for p in pids_named(("dockerd", "containerd"))
                   if not Path(f"/proc/{p}/comm").read_text().startswith("containerd-shim")]
    return measure(target, count, daemon_pids, ("containerd-shim",))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-c", "--count", type=int, default=20)
    args = parser.parse_args()
    report("memory_per_container", compare(
        lambda target: measure_target(target, args.count),
        ratios={"ratio_minke_over_docker": ("per_container_kb",)}))


if __name__ == "__main__":
    main()
