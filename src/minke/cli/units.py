"""Human-readable units as docker prints them, and the time arguments docker accepts.

Owns go-units' ``HumanDuration`` ("Up 3 seconds", "About a minute ago"), ``HumanSize`` in
decimal units ("1.2MB"), docker's 12-character short ids, and parsing of ``--since`` /
``--until`` values (unix seconds, RFC 3339 dates, or Go durations such as ``10m``).
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

_SIZE_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_DURATION_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


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


def short_id(ident: str) -> str:
    """docker's ``TruncateID``: drop the algorithm prefix, keep 12 hex digits."""
    if ":" in ident:
        ident = ident.split(":", 1)[1]
    return ident[:12]


def parse_timestamp(value: str) -> float:
    """An RFC 3339 time as the API returns it (nanoseconds allowed) → unix seconds."""
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?$", value)
    if not m:
        raise ValueError(f"invalid timestamp {value!r}")
    zone = m.group(3) or "Z"
    base = datetime.fromisoformat(m.group(1) + ("+00:00" if zone == "Z" else zone))
    return base.timestamp() + float("0" + (m.group(2) or ""))


def parse_go_duration(value: str) -> float | None:
    """Seconds in a Go duration ("1h30m", "10s"), or None if ``value`` is not one."""
    if not value or _DURATION_PART.sub("", value.lstrip("-")):
        return None
    total = sum(float(n) * _DURATION_SECONDS[u] for n, u in _DURATION_PART.findall(value))
    return -total if value.startswith("-") else total


def api_time(value: str, now: float | None = None) -> str:
    """docker's ``GetTimestamp``: the ``since``/``until`` query value for a CLI argument.

    A duration means that long before now; a date or time is converted to unix seconds;
    a number is passed through (it is already unix seconds, perhaps with nanoseconds).
    """
    now = time.time() if now is None else now
    duration = parse_go_duration(value)
    if duration is not None:
        return _seconds(now - duration)
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return value
    text = value
    for fmt in ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d"):
        try:
            parsed = datetime.strptime(text, fmt)
        except ValueError:
            continue
        # docker reads a time without a zone as local time
        return _seconds(parsed.timestamp())
    try:
        return _seconds(parse_timestamp(text))
    except ValueError:
        pass
    try:
        return _seconds(datetime.fromisoformat(text).timestamp())
    except ValueError as exc:
        raise ValueError(
            f'failed to parse value as time or duration: "{value}"') from exc


def _seconds(ts: float) -> str:
    whole = int(ts)
    nanos = int(round((ts - whole) * 1e9))
    return f"{whole}.{nanos:09d}"


def go_time(ts: float) -> str:
    """Go's ``time.Time.String()`` in local time: "2024-05-01 12:00:00 +0200 CEST"."""
    local = datetime.fromtimestamp(ts, UTC).astimezone()
    return local.strftime("%Y-%m-%d %H:%M:%S %z ") + (local.tzname() or "UTC")


def created_ago(ts: float, now: float | None = None) -> str:
    """The CREATED column: "5 minutes ago"."""
    now = time.time() if now is None else now
    return human_duration(max(0.0, now - ts)) + " ago"


def ellipsis(text: str, width: int) -> str:
    """docker's ``Ellipsis``: cut to ``width`` characters, the last one "…"."""
    if len(text) <= width:
        return text
    return text[: width - 1] + "…" if width > 0 else ""
