"""Real runc + conmon: ``Runc.start`` releases a created container through its exec FIFO as
``runc start`` does, and ends in the states runc itself reports."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest
from tests.integration.engine.runtime.runtime_support import WAIT, drain
from tests.integration.engine.runtime.test_conmon_lifecycle import create

from minke.errors import Conflict

pytestmark = pytest.mark.integration


async def test_start_runs_the_process_and_runc_sees_it_running(env):
    box = env.make(["sh", "-c", "echo started; sleep 1000"])
    await create(env, box)
    stream = await env.monitor.attach(box.bundle)
    reader = asyncio.create_task(drain(stream))
    await env.runtime.start(box.id)
    assert (await env.runtime.state(box.id))["status"] == "running"
    assert not (env.runtime.root / box.id / "exec.fifo").exists()
    with pytest.raises(Conflict, match="already running"):
        await env.runtime.start(box.id)  # the FIFO is gone: runc's own refusal
    await env.runtime.kill(box.id, signal.SIGKILL)
    out, _ = await asyncio.wait_for(reader, WAIT)
    assert out == b"started\n"
    assert (await asyncio.wait_for(env.monitor.wait_exit(box.id, box.bundle), WAIT)).code == 137


async def test_start_of_a_container_whose_init_died_fails(env):
    box = env.make(["true"])
    pid = await create(env, box)
    os.kill(pid, signal.SIGKILL)  # the init, waiting for its start
    await asyncio.wait_for(env.monitor.wait_exit(box.id, box.bundle), WAIT)
    with pytest.raises(Conflict, match="already dead"):
        await asyncio.wait_for(env.runtime.start(box.id), WAIT)
    assert (await env.runtime.state(box.id))["status"] == "stopped"
