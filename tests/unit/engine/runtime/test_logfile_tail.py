"""Tail and batched reading of large k8s-file logs without loading them whole."""

from __future__ import annotations

from pathlib import Path

from minke.engine.runtime import logfile

STAMP = "2026-11-28T00:00:{:02d}.000000000+00:00"


def write_log(path: Path, lines: list[tuple[int, str, str, str]]) -> None:
    path.write_text("".join(f"{STAMP.format(t)} {s} {tag} {text}\n" for t, s, tag, text in lines))


def test_tail_counts_records_not_lines(tmp_path: Path) -> None:
    log = tmp_path / "ctr.log"
    write_log(log, [
        (0, "stdout", "F", "one"),
        (1, "stdout", "P", "tw"),
        (1, "stderr", "F", "err"),
        (2, "stdout", "F", "o"),
        (3, "stdout", "F", "three"),
    ])
    records, _ = logfile.read_records(log, tail=2)
    assert [r.data for r in records] == [b"o\n", b"three\n"]
    records, _ = logfile.read_records(log, tail=3)
    # the P line of "two" sits before the stderr record, and comes along with it
    assert [r.data for r in records] == [b"err\n", b"two\n", b"three\n"]
    assert logfile.read_records(log, tail=0)[0] == []
    assert len(logfile.read_records(log, tail=100)[0]) == 4


def test_tail_of_a_large_log_reads_from_the_end(tmp_path: Path, monkeypatch) -> None:
    log = tmp_path / "big.log"
    lines = [(i % 60, "stdout", "F", f"line {i} " + "x" * 200) for i in range(20000)]
    write_log(log, lines)
    monkeypatch.setattr(logfile, "TAIL_BLOCK", 4096)
    records, offset = logfile.read_records(log, tail=3)
    assert [r.data.split()[1] for r in records] == [b"19997", b"19998", b"19999"]
    assert offset == log.stat().st_size


def test_batches_cover_everything_in_order(tmp_path: Path, monkeypatch) -> None:
    log = tmp_path / "big.log"
    write_log(log, [(i % 60, "stdout", "F", f"{i}") for i in range(5000)])
    monkeypatch.setattr(logfile, "READ_BATCH", 1000)
    reader = logfile.LogReader(log)
    seen = []
    while batch := reader.batch():
        assert len(batch) < 30
        seen += [int(r.data) for r in batch]
    assert seen == list(range(5000))
    assert reader.offset == log.stat().st_size


def test_since_until_filter(tmp_path: Path) -> None:
    log = tmp_path / "ctr.log"
    write_log(log, [(t, "stdout", "F", str(t)) for t in range(10)])
    base = logfile.parse_timestamp(STAMP.format(0))
    records, _ = logfile.read_records(log, since_ns=base + 3 * 10**9, until_ns=base + 5 * 10**9)
    assert [r.data for r in records] == [b"3\n", b"4\n", b"5\n"]


def test_unfinished_last_line_counts_as_a_record(tmp_path: Path) -> None:
    log = tmp_path / "ctr.log"
    write_log(log, [(0, "stdout", "F", "a"), (1, "stdout", "F", "b"), (2, "stdout", "P", "tail")])
    records, _ = logfile.read_records(log, tail=2)
    assert [r.data for r in records] == [b"b\n", b"tail"]
