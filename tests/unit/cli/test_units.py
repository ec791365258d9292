from __future__ import annotations

import pytest

from minke.cli.units import (
    api_time,
    created_ago,
    ellipsis,
    human_duration,
    human_size,
    parse_go_duration,
    parse_timestamp,
    short_id,
)


@pytest.mark.parametrize(("seconds", "text"), [
    (0.5, "Less than a second"), (1, "1 second"), (3, "3 seconds"), (59, "59 seconds"),
    (60, "About a minute"), (119, "About a minute"), (120, "2 minutes"),
    (59 * 60, "59 minutes"), (3600, "About an hour"), (2 * 3600, "2 hours"),
    (47 * 3600, "47 hours"), (3 * 86400, "3 days"), (15 * 86400, "2 weeks"),
    (70 * 86400, "2 months"), (800 * 86400, "2 years"),
])
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_created_ago() -> None:
    assert created_ago(1000, now=1090) == "About a minute ago"


@pytest.mark.parametrize(("size", "text"), [
    (0, "0B"), (999, "999B"), (1000, "1kB"), (1234567, "1.23MB"), (4_260_000, "4.26MB"),
    (1_200_000, "1.2MB"), (3e9, "3GB"),
])
def test_human_size(size: float, text: str) -> None:
    assert human_size(size) == text


def test_short_id_and_ellipsis() -> None:
    assert short_id("sha256:" + "a" * 64) == "a" * 12
    assert short_id("b" * 64) == "b" * 12
    assert ellipsis("sh -c 'echo hello world'", 20) == "sh -c 'echo hello w…"
    assert ellipsis("short", 20) == "short"


def test_times() -> None:
    assert parse_timestamp("1970-01-01T00:01:00.5Z") == 60.5
    assert parse_timestamp("1970-01-01T01:00:00+01:00") == 0
    assert parse_go_duration("1h30m") == 5400
    assert parse_go_duration("10s") == 10
    assert parse_go_duration("abc") is None
    assert api_time("10m", now=1000.0) == "400.000000000"
    assert api_time("1700000000") == "1700000000"
    assert api_time("2023-11-14T22:13:20Z") == "1700000000.000000000"
    with pytest.raises(ValueError):
        api_time("yesterday")
