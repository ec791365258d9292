"""Reader of conmon's k8s-file container logs: parse, filter, tail and follow.

Owns the record format conmon writes (``src/ctr_logging.c``), one line per record::

    <RFC 3339 local time, 9 fraction digits, numeric offset> <stdout|stderr> <P|F> <text>\\n

``F`` ends a line (conmon removed its ``\\n``); ``P`` is a chunk that ended without one, continued
by the next ``P``/``F`` record of the same stream. Records are merged back into the lines the
process wrote. Writing the log, its size limit and Docker's ``logs`` options belong elsewhere
(conmon and the container manager).

``LogReader`` and ``read_records`` block; async callers run them with ``asyncio.to_thread``.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

FOLLOW_READ_MAX = 1 << 20  # bytes read per poll, so one busy log cannot hog the event loop

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TIMESTAMP = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:?\d\d)")
_STREAMS = {b"stdout": "stdout", b"stderr": "stderr"}


@dataclass(frozen=True)
class LogRecord:
    """One line as the container wrote it."""

    time_ns: int  # unix time in ns of its first chunk
    stream: str  # "stdout" | "stderr"
    data: bytes  # with its b"\n" when the line was complete; a PTY's b"\r" kept as logged


def parse_timestamp(text: str) -> int:
    """Unix time in ns of a conmon timestamp (``2026-11-28T00:50:35.161107633+01:00``)."""
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        raise ValueError(f"not a log timestamp: {text!r}")
    seconds, fraction, offset = match.groups()
    when = datetime.fromisoformat(seconds + ("+00:00" if offset == "Z" else offset))
    # integer arithmetic: a float of ns since 1970 would lose the last digits
    whole = (when - _EPOCH) // timedelta(seconds=1)
    return whole * 1_000_000_000 + int((fraction or "").ljust(9, "0"))


class _Merger:
    """Joins P records to the F record that ends them, per stream."""

    def __init__(self) -> None:
        self._pending: dict[str, tuple[int, list[bytes]]] = {}

    def feed(self, line: bytes) -> LogRecord | None:
        parts = line.split(b" ", 3)
        if len(parts) < 3 or parts[1] not in _STREAMS or parts[2] not in (b"P", b"F"):
            return None  # not a record (a torn write after a crash): skip rather than fail
        try:
            time_ns = parse_timestamp(parts[0].decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            return None
        stream = _STREAMS[parts[1]]
        text = parts[3] if len(parts) == 4 else b""
        first_ns, chunks = self._pending.pop(stream, (time_ns, []))
        chunks.append(text)
        if parts[2] == b"P":
            self._pending[stream] = (first_ns, chunks)
            return None
        chunks.append(b"\n")
        return LogRecord(first_ns, stream, b"".join(chunks))

    def flush(self) -> list[LogRecord]:
        """Partial lines still open (the process wrote no newline yet), oldest first."""
        records = [LogRecord(t, s, b"".join(c)) for s, (t, c) in self._pending.items()]
        self._pending.clear()
        return sorted(records, key=lambda r: r.time_ns)


def parse_records(lines: Iterable[bytes]) -> list[LogRecord]:
    """Records of complete log lines (without their b"\\n"), unfinished P records last."""
    merger = _Merger()
    records = [r for r in map(merger.feed, lines) if r is not None]
    return records + merger.flush()


READ_BATCH = 1 << 20  # bytes of log parsed per batch: `docker logs` of a huge log streams
TAIL_BLOCK = 64 * 1024  # bytes read per step when scanning backwards for --tail


def tail_offset(file: BinaryIO, count: int) -> int:
    """The offset of the first line of the last ``count`` records, found by reading the
    file backwards (a record ends with an ``F`` line; the ``P`` lines before it belong to it)."""
    position = file.seek(0, os.SEEK_END)
    buffer = b""
    while True:
        step = min(TAIL_BLOCK, position)
        position -= step
        file.seek(position)
        buffer = file.read(step) + buffer
        # Above offset 0 the first line of the buffer may be cut: count only whole lines.
        if position == 0:
            start = 0
        elif b"\n" in buffer:
            start = position + buffer.index(b"\n") + 1
        else:
            continue
        finished = _records_in(buffer[start - position:])
        if finished > count:
            break
        if position == 0:
            return 0
    # Walk forward from the first whole line until exactly `count` records remain.
    offset = start
    for line in buffer[start - position:].split(b"\n"):
        if finished <= count:
            break
        if _tag(line) == b"F":
            finished -= 1
        offset += len(line) + 1
    return offset


def _records_in(data: bytes) -> int:
    """Records in whole lines: one per F line, plus one for a line the process has not
    finished yet (P lines after the last F), which ``docker logs`` shows as it stands."""
    tags = [_tag(line) for line in data.split(b"\n")]
    last_f = max((i for i, tag in enumerate(tags) if tag == b"F"), default=-1)
    unfinished = any(tag == b"P" for tag in tags[last_f + 1:])
    return tags.count(b"F") + int(unfinished)


def _tag(line: bytes) -> bytes | None:
    parts = line.split(b" ", 3)
    return parts[2] if len(parts) >= 3 else None


class LogReader:
    """Reads a log's records in bounded batches, for ``docker logs`` without ``--follow``
    and before following. ``offset`` is where ``follow`` goes on afterwards.

    ``tail`` (N last records; 0 none; None or negative all) is applied before ``since_ns`` and
    ``until_ns`` (both inclusive), as dockerd's file loggers do. A missing file reads as empty.
    A trailing line conmon has not finished writing is left for ``follow``; a line the process
    has not finished (P records without their F) is returned as it stands. Blocking: async
    callers run ``batch`` with ``asyncio.to_thread``.
    """

    def __init__(self, path: Path, *, since_ns: int | None = None, until_ns: int | None = None,
                 tail: int | None = None) -> None:
        self._since, self._until = since_ns, until_ns
        self._merger = _Merger()
        self._done = False
        try:
            self._file: BinaryIO | None = path.open("rb")
        except FileNotFoundError:
            self._file, self.offset = None, 0
            return
        if tail is not None and tail >= 0:  # negative: all, as Docker's tail=all (-1)
            if tail == 0:
                self.offset = self._file.seek(0, os.SEEK_END)
                self._done = True
                return
            self.offset = tail_offset(self._file, tail)
        else:
            self.offset = 0
        self._file.seek(self.offset)

    def batch(self) -> list[LogRecord]:
        """The next records; an empty list once the file's complete lines are read."""
        if self._file is None or self._done:
            return []
        records: list[LogRecord] = []
        while not records and not self._done:
            chunk = self._file.read(READ_BATCH)
            end = chunk.rfind(b"\n") + 1
            if len(chunk) < READ_BATCH or end == 0:
                self._done = True
            self._file.seek(self.offset + end)
            self.offset += end
            lines = chunk[:end].split(b"\n")[:-1]
            records = [r for r in map(self._merger.feed, lines) if r is not None]
            if self._done:
                records += self._merger.flush()
            records = [r for r in records if self._wanted(r)]
            if self._until is not None and records and records[-1].time_ns > self._until:
                self._done = True
        return records

    def _wanted(self, record: LogRecord) -> bool:
        return (self._since is None or record.time_ns >= self._since) and (
            self._until is None or record.time_ns <= self._until
        )

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def read_records(
    path: Path,
    *,
    since_ns: int | None = None,
    until_ns: int | None = None,
    tail: int | None = None,
) -> tuple[list[LogRecord], int]:
    """All matching records at once, and the offset they end at: for small logs and tests;
    ``LogReader`` streams large ones."""
    reader = LogReader(path, since_ns=since_ns, until_ns=until_ns, tail=tail)
    records: list[LogRecord] = []
    try:
        while batch := reader.batch():
            records += batch
    finally:
        reader.close()
    return records, reader.offset


async def follow(
    path: Path,
    *,
    offset: int,
    is_running: Callable[[], bool],
    poll: float = 0.05,
) -> AsyncIterator[LogRecord]:
    """Yield the records appended after ``offset`` until the container stops.

    Ends once ``is_running()`` has returned False and everything written before that is read.
    When conmon truncates the log (``--log-size-max`` renames an empty file over it; a log
    reopen truncates in place) reading starts again at offset 0 of the new content.
    Reads are small appends of a page-cached file, done inline instead of in a thread.
    """
    merger = _Merger()
    reader: _Tail | None = None
    try:
        while True:
            # sampled before reading, so the last pass reads all the monitor wrote before exit
            running = is_running()
            if reader is None:
                reader = _Tail.open(path, offset)
            if reader is not None:
                for line in reader.read_lines():
                    record = merger.feed(line)
                    if record is not None:
                        yield record
            more = reader is not None and reader.more
            if not running and not more:
                for record in merger.flush():
                    yield record
                return
            await asyncio.sleep(0 if more else poll)
    finally:
        if reader is not None:
            reader.close()


class _Tail:
    """An open log file read by complete lines, that follows conmon's truncations."""

    def __init__(self, path: Path, file: BinaryIO) -> None:
        self._path = path
        self._file = file
        self._inode = os.fstat(file.fileno()).st_ino
        self._partial = b""
        self.more = False  # the last read was cut at FOLLOW_READ_MAX: more is waiting

    @classmethod
    def open(cls, path: Path, offset: int) -> _Tail | None:
        try:
            file = path.open("rb")
        except FileNotFoundError:
            return None
        tail = cls(path, file)
        if offset <= os.fstat(file.fileno()).st_size:
            file.seek(offset)
        return tail

    def read_lines(self) -> list[bytes]:
        lines = self._read_complete()
        try:
            inode = os.stat(self._path).st_ino
        except FileNotFoundError:
            return lines
        if inode != self._inode:
            # replaced: what is left in the old file was written before the new one appeared
            while self.more:
                lines += self._read_complete()
            self._file.close()
            self._file = self._path.open("rb")
            self._inode = os.fstat(self._file.fileno()).st_ino
            self._partial = b""
            lines += self._read_complete()
        return lines

    def _read_complete(self) -> list[bytes]:
        if os.fstat(self._file.fileno()).st_size < self._file.tell():
            self._file.seek(0)  # truncated in place
            self._partial = b""
        chunk = self._file.read(FOLLOW_READ_MAX)
        self.more = len(chunk) == FOLLOW_READ_MAX
        data = self._partial + chunk
        end = data.rfind(b"\n") + 1
        self._partial = data[end:]
        return data[:end].split(b"\n")[:-1]

    def close(self) -> None:
        self._file.close()
