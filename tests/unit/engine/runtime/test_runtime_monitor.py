"""Conmon without conmon: command lines, exit files, PID-reuse guard, attach framing, resize."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from pathlib import Path

import pytest

from minke.engine.runtime import AttachStream, Conmon, ExitStatus, Runc
from minke.engine.runtime.monitor import STDIN_CHUNK
from minke.errors import Conflict


@pytest.fixture
def monitor(tmp_path: Path) -> Conmon:
    runtime = Runc(binary="/usr/sbin/runc", root=tmp_path / "runc")
    return Conmon(runtime=runtime, exec_root=tmp_path / "exec", binary="/usr/bin/conmon")


def pairs(argv: list[str]) -> dict[str, str]:
    return {a: b for a, b in zip(argv, argv[1:], strict=False) if a.startswith("-")}


def test_create_argv(monitor, tmp_path):
    bundle = tmp_path / "b"
    argv = monitor.create_argv(
        container_id="c1",
        name="web",
        bundle=bundle,
        tty=False,
        stdin=True,
        stdin_once=False,
        log_path=tmp_path / "c1.log",
        log_size_max=1000,
    )
    assert argv[0] == "/usr/bin/conmon"
    flags = pairs(argv)
    assert flags["-c"] == "c1" and flags["-u"] == "c1" and flags["-n"] == "web"
    assert flags["-r"] == "/usr/sbin/runc"
    assert flags["-b"] == str(bundle)
    assert flags["-p"] == str(bundle / "pidfile")
    assert flags["--conmon-pidfile"] == str(bundle / "conmon.pid")
    assert flags["--exit-dir"] == str(tmp_path / "exec" / "exits")
    assert flags["--persist-dir"] == str(tmp_path / "exec" / "persist" / "c1")
    assert flags["-l"] == f"k8s-file:{tmp_path / 'c1.log'}"
    assert flags["--log-size-max"] == "1000"
    assert "--full-attach" in argv and "-i" in argv and "--leave-stdin-open" in argv
    assert "-t" not in argv and "-s" not in argv  # no systemd cgroup manager here
    runtime_args = [b for a, b in zip(argv, argv[1:], strict=False) if a == "--runtime-arg"]
    assert runtime_args == ["--root", str(tmp_path / "runc")]


@pytest.mark.parametrize(
    ("tty", "stdin", "stdin_once", "present", "absent"),
    [
        (True, True, True, ["-t"], ["-i", "--leave-stdin-open"]),
        (False, True, True, ["-i"], ["-t", "--leave-stdin-open"]),
        (False, False, False, [], ["-t", "-i", "--leave-stdin-open"]),
    ],
)
def test_create_argv_stdio(monitor, tmp_path, tty, stdin, stdin_once, present, absent):
    argv = monitor.create_argv(
        container_id="c1", name="c1", bundle=tmp_path, tty=tty, stdin=stdin,
        stdin_once=stdin_once, log_path=tmp_path / "l",
    )
    assert all(f in argv for f in present)
    assert not any(f in argv for f in absent)
    assert "--log-size-max" not in argv


def test_exec_argv(monitor, tmp_path):
    exec_dir = tmp_path / "b" / "exec" / "e1"
    argv = monitor.exec_argv(
        container_id="c1", exec_id="e1", exec_dir=exec_dir, tty=True, stdin=True
    )
    flags = pairs(argv)
    assert flags["-c"] == "c1" and flags["-u"] == "e1" and flags["-b"] == str(exec_dir)
    assert flags["--exit-dir"] == str(exec_dir / "exit")
    assert flags["--exec-process-spec"] == str(exec_dir / "exec-process.json")
    assert flags["-l"] == "none"
    assert {"-e", "--exec-attach", "-t", "--full-attach"} <= set(argv)


def test_exit_status_files(monitor):
    assert monitor.exit_status("c1") is None
    exits = monitor.exec_root / "exits"
    exits.mkdir(parents=True)
    (exits / "c1").write_text("137")  # conmon writes no newline
    os.utime(exits / "c1", (1_700_000_000.5, 1_700_000_000.5))
    assert monitor.exit_status("c1") == ExitStatus(137, False, 1_700_000_000.5)
    persist = monitor.exec_root / "persist" / "c1"
    persist.mkdir(parents=True)
    (persist / "oom").touch()
    assert monitor.exit_status("c1").oom_killed
    monitor.clear_exit("c1")
    assert monitor.exit_status("c1") is None and not persist.exists()
    monitor.clear_exit("c1")  # nothing left: fine


async def test_wait_exit_reads_file_when_conmon_is_gone(monitor, tmp_path):
    bundle = tmp_path / "b"
    bundle.mkdir()
    exits = monitor.exec_root / "exits"
    exits.mkdir(parents=True)
    (exits / "c1").write_text("-1")
    status = await asyncio.wait_for(monitor.wait_exit("c1", bundle), 1)
    assert status.code == -1
    # no file, no conmon: unknown, now
    status = await asyncio.wait_for(monitor.wait_exit("c2", bundle), 1)
    assert status.code == -1 and abs(status.finished_at - time.time()) < 5


def test_is_running_guards_pid_reuse(monitor, tmp_path):
    bundle = tmp_path / "b"
    bundle.mkdir()
    assert monitor.monitor_pid(bundle) is None
    assert not monitor.is_running("c1", bundle)
    # a live PID that is not a conmon (this test process) must not count
    (bundle / "conmon.pid").write_text(str(os.getpid()))
    assert monitor.monitor_pid(bundle) == os.getpid()
    assert not monitor.is_running("c1", bundle)
    (bundle / "conmon.pid").write_text("garbage")
    assert monitor.monitor_pid(bundle) is None


async def test_attach_stream_framing():
    ours, conmon = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    stream = AttachStream(ours)
    conmon.send(b"\x02out")
    conmon.send(b"\x03err")
    conmon.send(b"\x02")  # nothing after the stream byte: skipped
    conmon.send(b"\x09odd")  # unknown stream: skipped
    conmon.send(b"\x02" + b"y" * 8192)
    assert await stream.read() == (1, b"out")
    assert await stream.read() == (2, b"err")
    assert await stream.read() == (1, b"y" * 8192)
    # stdin goes raw, in chunks conmon reads whole
    data = b"z" * (STDIN_CHUNK * 2 + 5)
    writer = asyncio.create_task(stream.write(data))
    received = []
    while sum(map(len, received)) < len(data):
        received.append(await asyncio.to_thread(conmon.recv, 1 << 20))
    await writer
    assert [len(p) for p in received] == [STDIN_CHUNK, STDIN_CHUNK, 5]
    stream.close_stdin()
    assert conmon.recv(10) == b""  # conmon sees EOF on stdin
    conmon.send(b"\x02late")  # output still flows after close_stdin
    assert await stream.read() == (1, b"late")
    conmon.close()
    assert await stream.read() is None
    with pytest.raises(Conflict):
        await stream.write(b"x")
    stream.close()
    stream.close()


async def test_attach_without_conmon(monitor, tmp_path):
    with pytest.raises(Conflict):
        await monitor.attach(tmp_path)


def test_resize_writes_ctl(monitor, tmp_path):
    ctl = tmp_path / "ctl"
    os.mkfifo(ctl)
    reader = os.open(ctl, os.O_RDONLY | os.O_NONBLOCK)
    try:
        monitor.resize(tmp_path, 33, 120)
        assert os.read(reader, 100) == b"1 33 120\n"
    finally:
        os.close(reader)
    # nobody reads ctl any more (conmon exited): Conflict after the short retry
    with pytest.raises(Conflict):
        monitor.resize(tmp_path, 1, 1)


def test_public_surface():
    import minke.engine.runtime as runtime

    assert runtime.__all__ == sorted(runtime.__all__)
    assert set(runtime.__all__) == {
        "AttachStream", "Conmon", "ExecSession", "ExitStatus", "LogReader", "LogRecord",
        "OCIRuntime",
        "Runc", "follow", "read_records",
    }
