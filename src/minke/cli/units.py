"""Human-readable units as docker prints them, and the time arguments docker accepts.

Re-exports ``minke.units`` (go-units' durations and sizes); owns docker's 12-character
short ids and the parsing of ``--since`` / ``--until`` values (unix seconds, RFC 3339
dates, or Go durations such as ``10m``).
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

from minke import units
from minke.units import human_duration, human_size
from minke.units import parse_rfc3339 as parse_timestamp

__all__ = [
    "human_duration", "human_size", "parse_go_duration", "parse_timestamp", "short_id",
]


def short_id(ident: str) -> str:
    """docker's ``TruncateID``: drop the algorithm prefix, keep 12 hex digits."""
    if ":" in ident:
        ident = ident.split(":", 1)[1]
    return ident[:12]


def parse_go_duration(value: str) -> float | None:
    """Seconds in a Go duration ("1h30m", "10s"), or None if ``value`` is not one."""
    ns = units.parse_go_duration(value)
    return None if ns is None else ns / 1e9


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
