"""Runc: command lines and error translation, against a stand-in runtime script (no root)."""

from __future__ import annotations

from pathlib import Path

import pytest

from minke.engine.runtime import OCIRuntime, Runc
from minke.engine.runtime.runtime import runtime_message
from minke.errors import Conflict, InternalError, NotFound, Unavailable

# stand-in for runc: records argv, answers from a table, fails the way runc 1.1.5 does
FAKE = r"""#!/bin/sh
printf '%s\n' "$@" > "$(dirname "$0")/argv"
case "$*" in
  *nosuch*) echo 'time="2026-11-28T01:05:45Z" level=error msg="container does not exist"' >&2
            exit 1 ;;
  *" kill stopped "*) echo 'time="x" level=error msg="container not running"' >&2; exit 1 ;;
  *" start broken") echo 'time="x" level=error msg="exec: \"x\": permission denied"' >&2; exit 1 ;;
  *" state "*) echo '{"id": "c1", "status": "running", "pid": 42}' ;;
  *" ps --format json stopped") echo null ;;
  *" ps --format json "*) echo '[42, 43]' ;;
esac
"""


@pytest.fixture
def fake(tmp_path: Path) -> Runc:
    binary = tmp_path / "fakerunc"
    binary.write_text(FAKE)
    binary.chmod(0o755)
    return Runc(binary=str(binary), root=tmp_path / "state")


def argv(runtime: Runc) -> list[str]:
    return (Path(runtime.binary).parent / "argv").read_text().splitlines()


def test_names_and_global_args(tmp_path):
    runtime: OCIRuntime = Runc(root=tmp_path / "r")
    assert runtime.name == "runc"
    assert runtime.global_args() == ["--root", str(tmp_path / "r")]
    crun = Runc(binary="crun", root=tmp_path / "r")
    assert crun.name == "crun"


async def test_command_lines(fake):
    root = str(fake.root)
    await fake.start("c1")
    assert argv(fake) == ["--root", root, "start", "c1"]
    await fake.kill("c1", 15, all_processes=True)
    assert argv(fake) == ["--root", root, "kill", "--all", "c1", "15"]
    (fake.root / "c1").mkdir(parents=True)  # runc's state dir: the container exists
    await fake.delete("c1", force=True)
    assert argv(fake) == ["--root", root, "delete", "--force", "c1"]
    await fake.delete("never-created")  # no state dir: runc is not even run
    assert argv(fake) == ["--root", root, "delete", "--force", "c1"]
    await fake.pause("c1")
    assert argv(fake)[2:] == ["pause", "c1"]
    await fake.resume("c1")
    assert argv(fake)[2:] == ["resume", "c1"]


async def test_state_and_ps(fake):
    assert (await fake.state("c1"))["pid"] == 42
    assert await fake.ps("c1") == [42, 43]
    assert await fake.ps("stopped") == []


async def test_errors(fake):
    with pytest.raises(NotFound, match="container does not exist"):
        await fake.start("nosuch")
    assert await fake.state("nosuch") is None
    await fake.delete("nosuch")  # idempotent
    with pytest.raises(Conflict, match="container not running"):
        await fake.kill("stopped", 9)
    with pytest.raises(InternalError) as info:
        await fake.start("broken")
    assert str(info.value) == 'fakerunc start broken: exec: "x": permission denied'


async def test_missing_binary(tmp_path):
    with pytest.raises(Unavailable):
        await Runc(binary=str(tmp_path / "none"), root=tmp_path).start("c1")


def test_runtime_message():
    stderr = (
        'time="2026-11-28T01:12:01Z" level=warning msg="a warning"\n'
        'time="2026-11-28T01:12:01Z" level=error msg="runc create failed: unable to start '
        'container process: exec: \\"nosuch\\": executable file not found in $PATH"\n'
    )
    assert runtime_message(stderr) == (
        "runc create failed: unable to start container process: "
        'exec: "nosuch": executable file not found in $PATH'
    )
    assert runtime_message(b"level=error msg=plain\n") == "plain"
    assert runtime_message("crun: something broke\n\n") == "crun: something broke"
    assert runtime_message('time="x" level=info msg="only info"') == "only info"
    assert runtime_message("") == ""
    # Go escapes JSON does not know survive as text
    assert runtime_message('level=error msg="bell \\a here"') == "bell \\a here"
