"""Real runc + conmon: create, attach before start, exit codes, tty, stdin, restart recovery."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest
from tests.integration.engine.runtime.runtime_support import WAIT, drain

from minke.engine.runtime import Conmon, logfile
from minke.errors import Conflict, InternalError, NotFound

pytestmark = pytest.mark.integration


async def create(env, box, *, tty=False, stdin=False, stdin_once=True, log_size_max=None) -> int:
    return await env.monitor.create(
        container_id=box.id,
        name=box.id,
        bundle=box.bundle,
        tty=tty,
        stdin=stdin,
        stdin_once=stdin_once,
        log_path=box.log,
        log_size_max=log_size_max,
    )


async def test_attach_before_start_sees_all_output(env):
    box = env.make(["sh", "-c", "echo out1; echo err1 >&2; echo out2; exit 3"])
    pid = await create(env, box)
    assert pid > 0
    state = await env.runtime.state(box.id)
    assert state is not None and state["status"] == "created" and state["pid"] == pid
    assert env.monitor.is_running(box.id, box.bundle)
    stream = await env.monitor.attach(box.bundle)
    reader = asyncio.create_task(drain(stream))
    await env.runtime.start(box.id)
    out, err = await asyncio.wait_for(reader, WAIT)
    assert out == b"out1\nout2\n"
    assert err == b"err1\n"
    status = await asyncio.wait_for(env.monitor.wait_exit(box.id, box.bundle), WAIT)
    assert status.code == 3 and not status.oom_killed
    assert abs(status.finished_at - time.time()) < 30
    assert env.monitor.exit_status(box.id) == status
    # the log has the same lines, by stream
    records, offset = logfile.read_records(box.log)
    assert offset == box.log.stat().st_size
    assert [(r.stream, r.data) for r in records if r.stream == "stdout"] == [
        ("stdout", b"out1\n"),
        ("stdout", b"out2\n"),
    ]
    assert [r.data for r in records if r.stream == "stderr"] == [b"err1\n"]
    await env.runtime.delete(box.id)
    assert await env.runtime.state(box.id) is None


async def test_exit_zero(env):
    box = env.make(["true"])
    await create(env, box)
    assert env.monitor.exit_status(box.id) is None
    await env.runtime.start(box.id)
    status = await asyncio.wait_for(env.monitor.wait_exit(box.id, box.bundle), WAIT)
    assert status.code == 0 and not status.oom_killed


async def test_kill_gives_137_and_sigterm_143(env):
    killed = env.make(["sleep", "1000"])
    # the init of a PID namespace ignores signals it has no handler for (as in Docker without
    # --init), so the TERM case traps and exits as a shell killed by TERM would
    termed = env.make(["sh", "-c", "trap 'exit 143' TERM; while :; do sleep 0.05; done"])
    for box in (killed, termed):
        await create(env, box)
        await env.runtime.start(box.id)
        assert (await env.runtime.state(box.id))["status"] == "running"
    assert len(await env.runtime.ps(killed.id)) == 1
    await env.runtime.kill(killed.id, signal.SIGKILL)
    await env.runtime.kill(termed.id, signal.SIGTERM)
    kstatus = await asyncio.wait_for(env.monitor.wait_exit(killed.id, killed.bundle), WAIT)
    tstatus = await asyncio.wait_for(env.monitor.wait_exit(termed.id, termed.bundle), WAIT)
    assert (kstatus.code, tstatus.code) == (137, 143)
    # the monitor is gone, the runtime keeps the stopped container until delete
    assert not env.monitor.is_running(killed.id, killed.bundle)
    assert (await env.runtime.state(killed.id))["status"] == "stopped"
    assert await env.runtime.ps(killed.id) == []
    with pytest.raises(Conflict):
        await env.runtime.kill(killed.id, signal.SIGTERM)
    with pytest.raises(Conflict):
        await env.runtime.start(killed.id)
    with pytest.raises(Conflict):
        await env.monitor.attach(killed.bundle)
    await env.runtime.delete(killed.id)
    await env.runtime.delete(killed.id)  # idempotent


async def test_runtime_errors_for_unknown_id(env):
    with pytest.raises(NotFound):
        await env.runtime.start("minke-test-nosuch")
    with pytest.raises(NotFound):
        await env.runtime.kill("minke-test-nosuch", signal.SIGTERM)
    assert await env.runtime.state("minke-test-nosuch") is None
    await env.runtime.delete("minke-test-nosuch", force=True)


async def test_pause_resume(env):
    box = env.make(["sleep", "1000"])
    await create(env, box)
    await env.runtime.start(box.id)
    await env.runtime.pause(box.id)
    assert (await env.runtime.state(box.id))["status"] == "paused"
    with pytest.raises(Conflict):
        await env.runtime.pause(box.id)
    await env.runtime.resume(box.id)
    assert (await env.runtime.state(box.id))["status"] == "running"
    await env.runtime.kill(box.id, signal.SIGKILL)
    assert (await env.monitor.wait_exit(box.id, box.bundle)).code == 137


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["nosuch"], 'exec: "nosuch": executable file not found in $PATH'),
        (["/etc/passwd"], "permission denied"),
    ],
)
async def test_create_failure_carries_runtime_message(env, args, needle):
    box = env.make(args)
    with pytest.raises(InternalError) as info:
        await create(env, box)
    assert needle in str(info.value)
    assert "level=error" not in str(info.value)
    assert not env.monitor.is_running(box.id, box.bundle)


async def test_tty_resize_before_start(env):
    box = env.make(["sh", "-c", "stty size; echo done"], tty=True)
    await create(env, box, tty=True)
    env.monitor.resize(box.bundle, 33, 120)
    stream = await env.monitor.attach(box.bundle)
    reader = asyncio.create_task(drain(stream))
    await env.runtime.start(box.id)
    out, err = await asyncio.wait_for(reader, WAIT)
    assert out == b"33 120\r\ndone\r\n"
    assert err == b""
    assert (await env.monitor.wait_exit(box.id, box.bundle)).code == 0
    records, _ = logfile.read_records(box.log)
    assert [r.data for r in records] == [b"33 120\r\n", b"done\r\n"]


async def test_stdin_closed_ends_cat(env):
    box = env.make(["cat"])
    await create(env, box, stdin=True, stdin_once=True)
    stream = await env.monitor.attach(box.bundle)
    reader = asyncio.create_task(drain(stream))
    await env.runtime.start(box.id)
    await stream.write(b"hello\n")
    await stream.write(b"x" * 100_000 + b"\n")  # more than one conmon read
    stream.close_stdin()
    out, _ = await asyncio.wait_for(reader, WAIT)
    assert out == b"hello\n" + b"x" * 100_000 + b"\n"
    assert (await env.monitor.wait_exit(box.id, box.bundle)).code == 0


async def test_stdin_left_open_for_the_next_client(env):
    box = env.make(["cat"])
    await create(env, box, stdin=True, stdin_once=False)
    first = await env.monitor.attach(box.bundle)
    await env.runtime.start(box.id)
    await first.write(b"one\n")
    assert await asyncio.wait_for(first.read(), WAIT) == (1, b"one\n")
    first.close_stdin()
    first.close()
    await asyncio.sleep(0.2)
    assert (await env.runtime.state(box.id))["status"] == "running"
    second = await env.monitor.attach(box.bundle)
    await second.write(b"two\n")
    assert await asyncio.wait_for(second.read(), WAIT) == (1, b"two\n")
    await env.runtime.kill(box.id, signal.SIGKILL)
    assert await asyncio.wait_for(second.read(), WAIT) is None
    assert (await env.monitor.wait_exit(box.id, box.bundle)).code == 137


async def test_log_size_max_truncates(env):
    box = env.make(["sh", "-c", "i=0; while [ $i -lt 300 ]; do i=$((i+1)); echo line$i; done"])
    await create(env, box, log_size_max=2000)
    await env.runtime.start(box.id)
    assert (await asyncio.wait_for(env.monitor.wait_exit(box.id, box.bundle), WAIT)).code == 0
    records, _ = logfile.read_records(box.log)
    assert box.log.stat().st_size <= 2000
    assert 0 < len(records) < 300
    assert records[-1].data == b"line300\n"


async def test_wait_exit_from_a_fresh_monitor(env):
    box = env.make(["sh", "-c", "sleep 0.5; exit 7"])
    await create(env, box)
    await env.runtime.start(box.id)
    # a new engine process: no child relation, no state but the files
    fresh = Conmon(runtime=env.runtime, exec_root=env.monitor.exec_root)
    assert fresh.is_running(box.id, box.bundle)
    assert not fresh.is_running("minke-test-other", box.bundle)
    assert fresh.exit_status(box.id) is None
    status = await asyncio.wait_for(fresh.wait_exit(box.id, box.bundle), WAIT)
    assert status.code == 7
    assert not fresh.is_running(box.id, box.bundle)
    # after the exit a wait answers at once from the file
    assert await asyncio.wait_for(fresh.wait_exit(box.id, box.bundle), 1) == status
    fresh.clear_exit(box.id)
    assert fresh.exit_status(box.id) is None


async def test_wait_exit_without_monitor_or_exit_file(env):
    status = await env.monitor.wait_exit("minke-test-never", env.tmp)
    assert status.code == -1 and not status.oom_killed


async def test_oom_killed(env):
    box = env.make(["sh", "-c", "tail /dev/zero"], memory=16 * 1024 * 1024)
    await create(env, box)
    await env.runtime.start(box.id)
    status = await asyncio.wait_for(env.monitor.wait_exit(box.id, box.bundle), 60)
    assert status.code == 137
    assert status.oom_killed


async def test_log_follow(env):
    box = env.make(["sh", "-c", "for i in 1 2 3 4 5; do echo line$i; sleep 0.1; done; printf tail"])
    await create(env, box)
    await env.runtime.start(box.id)
    got = []
    async for record in logfile.follow(
        box.log, offset=0, is_running=lambda: env.monitor.is_running(box.id, box.bundle)
    ):
        got.append(record)
    assert [r.data for r in got] == [b"line1\n", b"line2\n", b"line3\n", b"line4\n", b"line5\n",
                                     b"tail"]
    assert all(r.stream == "stdout" for r in got)
    assert [r.time_ns for r in got] == sorted(r.time_ns for r in got)
    assert abs(got[0].time_ns / 1e9 - time.time()) < 30
    records, _ = logfile.read_records(box.log, tail=2)
    assert [r.data for r in records] == [b"line5\n", b"tail"]
    since, _ = logfile.read_records(box.log, since_ns=got[3].time_ns)
    assert [r.data for r in since] == [b"line4\n", b"line5\n", b"tail"]
