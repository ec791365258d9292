"""Durations, sizes and times in the forms Docker reads and writes them: go-units'
``HumanDuration``/``HumanSize``/``RAMInBytes``, Go's durations (parse and ``String``), and
RFC 3339 with nanoseconds as Go prints ``time.Time``.

Shared by the engine, the API, the builder, Compose and the CLI, so each rule is written
once; standard library only, so the CLI's start-up stays cheap.
"""

from __future__ import annotations

import re
import time
from datetime import datetime

_SIZE_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
_RAM = re.compile(r"(\d+(?:\.\d+)?) ?([kmgtp]?)i?b?")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_DURATION_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
                "m": 60_000_000_000, "h": 3_600_000_000_000}
_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?")
ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's zero time.Time, Docker's "never"


def rfc3339(ts: float | None = None, *, ns: int | None = None) -> str:
    """UTC with nine fraction digits, as Go prints ``time.Time`` in Docker's JSON; now, or
    ``ts`` unix seconds, or ``ns`` unix nanoseconds."""
    if ns is None:
        ns = time.time_ns() if ts is None else int(ts * 1_000_000_000)
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


def parse_rfc3339(text: str) -> float:
    """Unix seconds of an RFC 3339 time (any fraction; ``Z``, an offset, or none for UTC);
    0.0 for Go's zero time; ValueError for anything else."""
    if text.startswith("0001-01-01"):
        return 0.0
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise ValueError(f"invalid timestamp {text!r}")
    main, frac, zone = match.groups()
    stamp = datetime.fromisoformat(main + ("+00:00" if zone in (None, "Z") else zone))
    return stamp.timestamp() + float("0." + (frac or "0"))


def parse_go_duration(text: str) -> int | None:
    """Nanoseconds in a Go duration ("1h30m", "-10s", "0"), or None if ``text`` is not one."""
    body = text.lstrip("-")
    if body == "0":
        return 0
    if not body or _DURATION_PART.sub("", body):
        return None
    total = int(sum(float(n) * _DURATION_NS[u] for n, u in _DURATION_PART.findall(body)))
    return -total if text.startswith("-") else total


def ram_in_bytes(text: str) -> int | None:
    """go-units ``RAMInBytes``: "512m" → 536870912 (binary multiples, any case), or None."""
    match = _RAM.fullmatch(text.strip().lower())
    if match is None:
        return None
    return int(float(match.group(1)) * 1024 ** " kmgtp".index(match.group(2) or " "))


def human_duration(seconds: float) -> str:
    """go-units ``HumanDuration``: "Less than a second", "About a minute", "3 days"."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = s // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)  # Go rounds to the nearest hour here
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


def human_size(size: float, precision: int = 3) -> str:
    """go-units ``HumanSizeWithPrecision``: decimal units, ``%.{precision}g``."""
    unit = 0
    while size >= 1000 and unit < len(_SIZE_UNITS) - 1:
        size /= 1000
        unit += 1
    return f"{size:.{precision}g}{_SIZE_UNITS[unit]}"


def go_duration(ns: int) -> str:
    """Go's ``time.Duration.String``: "5s", "1m30s", "1h0m0s", "500ms", "0s"."""
    if ns == 0:
        return "0s"
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size:
                return f"{ns / size:g}{unit}"
    hours, rest = divmod(ns, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    seconds = f"{rest / 1_000_000_000:.9f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{hours}h{minutes}m{seconds}"
    if minutes:
        return f"{minutes}m{seconds}"
    return seconds
