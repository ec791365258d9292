"""logfile: parsing conmon's k8s-file records, merging partial lines, tail/since, follow."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from minke.engine.runtime.logfile import LogRecord, follow, parse_timestamp, read_records

T0 = "2026-11-28T00:50:35.161107633+00:00"
T0_NS = 1795827035_161107633


def test_parse_timestamp_keeps_nanoseconds_and_offset():
    assert parse_timestamp(T0) == T0_NS
    # the same instant written in a local time zone
    assert parse_timestamp("2026-11-28T01:50:35.161107633+01:00") == T0_NS
    assert parse_timestamp("2026-11-27T19:20:35.161107633-05:30") == T0_NS
    assert parse_timestamp("2026-11-28T00:50:35.1Z") == T0_NS - 61107633
    with pytest.raises(ValueError):
        parse_timestamp("yesterday")


def ts(i: int) -> str:
    return f"2026-11-28T00:50:{i:02d}.000000001+00:00"


def ns(i: int) -> int:
    return parse_timestamp(ts(i))


def write(path: Path, *lines: str, mode: str = "w") -> None:
    with path.open(mode) as f:
        f.writelines(line + "\n" for line in lines)


def test_records_merge_partials_per_stream(tmp_path):
    log = tmp_path / "ctr.log"
    write(
        log,
        f"{ts(1)} stdout F hello",
        f"{ts(2)} stdout P part one ",
        f"{ts(3)} stderr F err line",  # the other stream comes between
        f"{ts(4)} stdout P two ",
        f"{ts(5)} stdout F end",
        f"{ts(6)} stdout F ",  # an empty line
        f"{ts(7)} stdout F tty\r",
    )
    records, offset = read_records(log)
    assert records == [
        LogRecord(ns(1), "stdout", b"hello\n"),
        LogRecord(ns(3), "stderr", b"err line\n"),
        LogRecord(ns(2), "stdout", b"part one two end\n"),
        LogRecord(ns(6), "stdout", b"\n"),
        LogRecord(ns(7), "stdout", b"tty\r\n"),
    ]
    assert offset == log.stat().st_size


def test_unfinished_partial_and_torn_last_line(tmp_path):
    log = tmp_path / "ctr.log"
    write(log, f"{ts(1)} stdout F a", f"{ts(2)} stdout P no newline yet")
    with log.open("a") as f:
        f.write(f"{ts(3)} stdout F half-writ")  # conmon is mid-write
    records, offset = read_records(log)
    assert [r.data for r in records] == [b"a\n", b"no newline yet"]
    assert offset == log.read_bytes().rfind(b"\n") + 1


def test_garbage_lines_are_skipped(tmp_path):
    log = tmp_path / "ctr.log"
    write(log, "not a record", f"{ts(1)} stdin F x", f"{ts(2)} stdout X y", f"{ts(3)} stdout F ok")
    assert [r.data for r in read_records(log)[0]] == [b"ok\n"]


def test_missing_file_is_empty(tmp_path):
    assert read_records(tmp_path / "none.log") == ([], 0)


def test_binary_data_kept(tmp_path):
    log = tmp_path / "ctr.log"
    log.write_bytes(f"{ts(1)} stdout F ".encode() + b"\xff\x00 \xfe\n")
    assert read_records(log)[0][0].data == b"\xff\x00 \xfe\n"


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, [1, 2, 3, 4, 5]),
        ({"tail": 2}, [4, 5]),
        ({"tail": 0}, []),
        ({"tail": 9}, [1, 2, 3, 4, 5]),
        ({"tail": -1}, [1, 2, 3, 4, 5]),
        ({"since_ns": ns(3)}, [3, 4, 5]),
        ({"until_ns": ns(2)}, [1, 2]),
        ({"since_ns": ns(2), "until_ns": ns(4)}, [2, 3, 4]),
        # as dockerd: tail picks the last lines, then since filters them
        ({"tail": 3, "since_ns": ns(4)}, [4, 5]),
    ],
)
def test_tail_since_until(tmp_path, kwargs, expected):
    log = tmp_path / "ctr.log"
    write(log, *(f"{ts(i)} stdout F {i}" for i in range(1, 6)))
    records, _ = read_records(log, **kwargs)
    assert [int(r.data) for r in records] == expected


async def collect(agen, into: list[LogRecord]) -> None:
    async for record in agen:
        into.append(record)


async def test_follow_appends_partials_and_stops_after_drain(tmp_path):
    log = tmp_path / "ctr.log"
    write(log, f"{ts(1)} stdout F old")
    _, offset = read_records(log)
    running = True
    got: list[LogRecord] = []
    task = asyncio.create_task(
        collect(follow(log, offset=offset, is_running=lambda: running, poll=0.01), got)
    )
    await asyncio.sleep(0.05)
    write(log, f"{ts(2)} stdout P new ", mode="a")
    await asyncio.sleep(0.05)
    assert got == []  # a partial line waits for its end
    write(log, f"{ts(3)} stdout F line", mode="a")
    await asyncio.sleep(0.05)
    assert got == [LogRecord(ns(2), "stdout", b"new line\n")]
    # written just before the container stops: still delivered
    write(log, f"{ts(4)} stderr F last", f"{ts(5)} stdout P tail", mode="a")
    running = False
    await asyncio.wait_for(task, 2)
    assert [r.data for r in got] == [b"new line\n", b"last\n", b"tail"]


async def test_follow_waits_for_the_file(tmp_path):
    log = tmp_path / "later.log"
    running = True
    got: list[LogRecord] = []
    task = asyncio.create_task(
        collect(follow(log, offset=0, is_running=lambda: running, poll=0.01), got)
    )
    await asyncio.sleep(0.03)
    write(log, f"{ts(1)} stdout F hi")
    await asyncio.sleep(0.05)
    running = False
    await asyncio.wait_for(task, 2)
    assert [r.data for r in got] == [b"hi\n"]


async def test_follow_survives_truncation_by_rename_and_in_place(tmp_path):
    log = tmp_path / "ctr.log"
    write(log, f"{ts(1)} stdout F a")
    running = True
    got: list[LogRecord] = []
    task = asyncio.create_task(
        collect(follow(log, offset=0, is_running=lambda: running, poll=0.01), got)
    )
    await asyncio.sleep(0.05)
    # --log-size-max: conmon renames an empty PATH.tmp over PATH and writes on there
    write(log, f"{ts(2)} stdout F b-in-old-file", mode="a")
    tmp = tmp_path / "ctr.log.tmp"
    write(tmp, f"{ts(3)} stdout F c")
    os.rename(tmp, log)
    await asyncio.sleep(0.05)
    # a log reopen truncates in place
    with log.open("w"):
        pass
    await asyncio.sleep(0.05)
    write(log, f"{ts(4)} stdout F d", mode="a")
    await asyncio.sleep(0.05)
    running = False
    await asyncio.wait_for(task, 2)
    assert [r.data for r in got] == [b"a\n", b"b-in-old-file\n", b"c\n", b"d\n"]


async def test_follow_offset_beyond_end_restarts(tmp_path):
    log = tmp_path / "ctr.log"
    write(log, f"{ts(1)} stdout F short")
    got: list[LogRecord] = []
    await asyncio.wait_for(collect(follow(log, offset=10_000, is_running=lambda: False), got), 2)
    assert [r.data for r in got] == [b"short\n"]
