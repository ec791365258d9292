"""Real runc + conmon: ``Runc.kill`` signals a container's init itself (no runc process per
signal) where that is what ``runc kill`` would do, and leaves every other case to runc: a
stale or gone init, a SIGKILL to a paused container (runc thaws it)."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import pytest
from tests.integration.engine.runtime.runtime_support import WAIT, drain
from tests.integration.engine.runtime.test_conmon_lifecycle import create

from minke.errors import Conflict

pytestmark = pytest.mark.integration

TRAP_USR1 = ["sh", "-c", 'trap "echo got USR1; exit 7" USR1; echo ready; '
             "while :; do sleep 0.05; done"]


async def _running(env, args: list[str]):
    box = env.make(args)
    await create(env, box)
    stream = await env.monitor.attach(box.bundle)
    reader = asyncio.create_task(drain(stream))
    await env.runtime.start(box.id)
    await _wait_for_output(box.log, b"ready")
    return box, reader


async def _wait_for_output(log: Path, text: bytes) -> None:
    async def poll() -> None:
        while not (log.exists() and text in log.read_bytes()):
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), WAIT)


def _recording_runc(env) -> Path:
    """From now on runc runs through a wrapper that notes each subcommand line."""
    calls = env.tmp / "runc-calls"
    wrapper = env.tmp / "runc-wrapper"
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexec {env.runtime.binary} "$@"\n')
    wrapper.chmod(0o755)
    env.runtime.binary = str(wrapper)
    return calls


def _kills(calls: Path) -> list[str]:
    lines = calls.read_text().splitlines() if calls.exists() else []
    return [line for line in lines if " kill " in f" {line} "]


async def test_a_signal_reaches_the_init_without_a_runc_process(env):
    box, reader = await _running(env, TRAP_USR1)
    calls = _recording_runc(env)
    await env.runtime.kill(box.id, signal.SIGUSR1)
    exit_ = await asyncio.wait_for(env.monitor.wait_exit(box.id, box.bundle), WAIT)
    assert exit_.code == 7
    out, _ = await asyncio.wait_for(reader, WAIT)
    assert b"got USR1" in out
    assert _kills(calls) == []


async def test_a_stopped_container_is_refused_in_runcs_words(env):
    box, reader = await _running(env, TRAP_USR1)
    await env.runtime.kill(box.id, signal.SIGKILL)
    await asyncio.wait_for(env.monitor.wait_exit(box.id, box.bundle), WAIT)
    await asyncio.wait_for(reader, WAIT)
    calls = _recording_runc(env)
    with pytest.raises(Conflict, match="not running"):
        await env.runtime.kill(box.id, signal.SIGTERM)
    assert len(_kills(calls)) == 1


async def test_an_init_that_is_not_the_recorded_process_is_not_signalled(env):
    """Against pid reuse: a start time other than runc's record means another process."""
    box, reader = await _running(env, TRAP_USR1)
    state_file = env.runtime.root / box.id / "state.json"
    recorded = state_file.read_text()
    state = json.loads(recorded)
    state["init_process_start"] = int(state["init_process_start"]) + 1
    state_file.write_text(json.dumps(state))
    try:
        with pytest.raises(Conflict, match="not running"):
            await env.runtime.kill(box.id, signal.SIGUSR1)
        assert b"got USR1" not in box.log.read_bytes()
    finally:
        state_file.write_text(recorded)  # runc's again: the clean-up's delete ends it
    await env.runtime.kill(box.id, signal.SIGKILL)
    assert (await asyncio.wait_for(env.monitor.wait_exit(box.id, box.bundle), WAIT)).code == 137
    await asyncio.wait_for(reader, WAIT)


async def test_sigkill_ends_a_paused_container(env):
    box, reader = await _running(env, TRAP_USR1)
    await env.runtime.pause(box.id)
    calls = _recording_runc(env)
    await env.runtime.kill(box.id, signal.SIGKILL)
    exit_ = await asyncio.wait_for(env.monitor.wait_exit(box.id, box.bundle), WAIT)
    assert exit_.code == 137
    assert len(_kills(calls)) == 1  # runc's: it thaws the cgroup, the kill alone would not
    await asyncio.wait_for(reader, WAIT)
