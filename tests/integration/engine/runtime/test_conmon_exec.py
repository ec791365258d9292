"""Real runc + conmon: exec sessions with and without a TTY, stdin, detached, failures."""

from __future__ import annotations

import asyncio
import secrets
import signal

import pytest
from tests.integration.engine.runtime.runtime_support import WAIT, drain

from minke.errors import InternalError

pytestmark = pytest.mark.integration


async def start_sleeper(env):
    box = env.make(["sleep", "1000"])
    await env.monitor.create(
        container_id=box.id, name=box.id, bundle=box.bundle, tty=False, stdin=False,
        stdin_once=True, log_path=box.log,
    )
    await env.runtime.start(box.id)
    return box


async def run_exec(env, box, args, *, tty=False, stdin=False, detach=False):
    return await env.monitor.exec(
        container_id=box.id,
        exec_id=secrets.token_hex(32),  # Docker's exec ids are 64 hex digits: long paths
        bundle=box.bundle,
        process=env.process(args, tty=tty),
        tty=tty,
        stdin=stdin,
        detach=detach,
    )


async def stop(env, box):
    await env.runtime.kill(box.id, signal.SIGKILL)
    assert (await asyncio.wait_for(env.monitor.wait_exit(box.id, box.bundle), WAIT)).code == 137


async def test_exec_output_and_exit_code(env):
    box = await start_sleeper(env)
    session = await run_exec(env, box, ["sh", "-c", "echo out; echo err >&2; exit 5"])
    assert session.pid > 0 and session.stream is not None
    out, err = await asyncio.wait_for(drain(session.stream), WAIT)
    assert (out, err) == (b"out\n", b"err\n")
    assert await asyncio.wait_for(session.wait(), WAIT) == 5
    assert await session.wait() == 5
    # the container is unaffected and its monitor goes on
    assert env.monitor.is_running(box.id, box.bundle)
    await stop(env, box)


async def test_exec_tty_with_resize(env):
    box = await start_sleeper(env)
    session = await run_exec(env, box, ["sh", "-c", "sleep 0.3; stty size; exit 6"], tty=True)
    session.resize(40, 100)
    out, err = await asyncio.wait_for(drain(session.stream), WAIT)
    assert (out, err) == (b"40 100\r\n", b"")
    assert await asyncio.wait_for(session.wait(), WAIT) == 6
    await stop(env, box)


async def test_exec_stdin(env):
    box = await start_sleeper(env)
    session = await run_exec(env, box, ["cat"], stdin=True)
    reader = asyncio.create_task(drain(session.stream))
    await session.stream.write(b"piped\n")
    session.stream.close_stdin()
    out, _ = await asyncio.wait_for(reader, WAIT)
    assert out == b"piped\n"
    assert await asyncio.wait_for(session.wait(), WAIT) == 0
    await stop(env, box)


async def test_exec_killed_by_signal(env):
    box = await start_sleeper(env)
    # not the namespace's init, so TERM's default action applies
    session = await run_exec(env, box, ["sh", "-c", "kill -TERM $$"], detach=True)
    assert session.stream is None
    assert await asyncio.wait_for(session.wait(), WAIT) == 143
    await stop(env, box)


async def test_detached_exec(env):
    box = await start_sleeper(env)
    session = await run_exec(env, box, ["sh", "-c", "sleep 0.5; exit 4"], detach=True)
    assert session.stream is None
    assert session.pid in await env.runtime.ps(box.id)
    assert await asyncio.wait_for(session.wait(), WAIT) == 4
    assert session.pid not in await env.runtime.ps(box.id)
    await stop(env, box)


async def test_exec_failure_carries_runtime_message(env):
    box = await start_sleeper(env)
    with pytest.raises(InternalError) as info:
        await run_exec(env, box, ["nosuch"])
    assert 'exec: "nosuch": executable file not found in $PATH' in str(info.value)
    await stop(env, box)
