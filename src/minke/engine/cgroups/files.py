"""Small readers for cgroup interface files (flat keyed, single value, nested keyed), shared
by the v1 and v2 stats readers. A missing file (controller not enabled, cgroup gone) reads
as empty: stats report zeros for it rather than failing."""

from __future__ import annotations

from pathlib import Path


def read_text(path: Path) -> str:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def read_int(path: Path) -> int | None:
    """A single number; None for a missing file or "max" (no limit)."""
    text = read_text(path).strip()
    if not text or text == "max":
        return None
    try:
        return int(text)
    except ValueError:
        return None


def read_keyed(path: Path) -> dict[str, int]:
    """``key value`` lines (memory.stat, cpu.stat, cpuacct.stat)."""
    out: dict[str, int] = {}
    for line in read_text(path).splitlines():
        key, _, value = line.partition(" ")
        try:
            out[key] = int(value)
        except ValueError:
            continue
    return out


def read_ints(path: Path) -> list[int]:
    """A space-separated list of numbers (cpuacct.usage_percpu)."""
    return [int(v) for v in read_text(path).split() if v.isdigit()]
