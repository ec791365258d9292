"""The real docker CLI against minked: the commands of the engine-foundation issue."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from tests.conftest import Daemon, unique
from tests.support.cli import DOCKER, docker, needs_docker_cli

pytestmark = [pytest.mark.compat, pytest.mark.integration, needs_docker_cli]



def test_version_and_info(minke_daemon: Daemon) -> None:
    out = docker(minke_daemon, "version", "--format", "{{json .Server}}").stdout
    server = json.loads(out)
    assert server["ApiVersion"] == "1.41"
    info = json.loads(docker(minke_daemon, "info", "--format", "{{json .}}").stdout)
    assert info["Driver"] == "overlay2" and info["OSType"] == "linux"


def test_run_rm_output_and_exit_code(minke_daemon: Daemon, busybox_image: str) -> None:
    proc = docker(minke_daemon, "run", "--rm", busybox_image, "sh", "-c",
                  "echo out; echo err >&2; exit 7", check=False)
    assert proc.returncode == 7
    assert proc.stdout == b"out\n" and proc.stderr == b"err\n"
    assert b"t-" not in docker(minke_daemon, "ps", "-a").stdout


def test_run_stdin_pipe(minke_daemon: Daemon, busybox_image: str) -> None:
    proc = docker(minke_daemon, "run", "--rm", "-i", busybox_image, "sh", "-c", "tr a-z A-Z",
                  input=b"hello\nworld\n")
    assert proc.stdout == b"HELLO\nWORLD\n"


def test_command_not_found_exit_codes(minke_daemon: Daemon, busybox_image: str) -> None:
    proc = docker(minke_daemon, "run", "--rm", busybox_image, "nosuchcmd", check=False)
    assert proc.returncode == 127, proc.stderr
    assert b"executable file not found" in proc.stderr or b"no such file" in proc.stderr
    proc = docker(minke_daemon, "run", "--rm", busybox_image, "/etc/passwd", check=False)
    assert proc.returncode == 126, proc.stderr


def test_killed_by_signal_is_128_plus_n(minke_daemon: Daemon, busybox_image: str) -> None:
    """A container whose init dies of signal N exits 128+N, and `docker run` passes it on.
    (PID 1 of a namespace ignores signals it has no handler for, so they come from outside.)"""
    name = unique()
    run = subprocess.Popen([DOCKER, "run", "--rm", "--name", name, busybox_image, "sleep", "60"],
                           env=minke_daemon.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while b"true" not in docker(minke_daemon, "inspect", "-f", "{{.State.Running}}", name,
                                check=False).stdout:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    docker(minke_daemon, "kill", "-s", "KILL", name)
    assert run.wait(20) == 137


def test_detached_lifecycle(minke_daemon: Daemon, busybox_image: str) -> None:
    name = unique()
    cid = docker(minke_daemon, "run", "-d", "--name", name, "-l", "role=test", busybox_image,
                 "sh", "-c", "trap 'echo bye; exit 0' TERM; echo started; "
                 "while true; do sleep 0.1; done").stdout.decode().strip()
    assert len(cid) == 64
    ps = docker(minke_daemon, "ps", "--filter", f"name={name}", "--format",
                "{{.ID}} {{.Names}} {{.Status}} {{.Label \"role\"}}").stdout.decode()
    assert ps.startswith(cid[:12] + f" {name} Up") and ps.strip().endswith("test")
    deadline = time.monotonic() + 10
    while b"started" not in docker(minke_daemon, "logs", name).stdout:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    top = docker(minke_daemon, "top", name).stdout.decode()
    assert "PID" in top and "sleep" in top or "sh" in top
    inspect = json.loads(docker(minke_daemon, "inspect", name).stdout)[0]
    assert inspect["State"]["Running"] and inspect["Name"] == "/" + name
    docker(minke_daemon, "stop", "-t", "5", name)
    assert docker(minke_daemon, "wait", name).stdout.strip() == b"0"
    assert b"bye" in docker(minke_daemon, "logs", name).stdout
    status = docker(minke_daemon, "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}",
                    name).stdout.strip()
    assert status == b"exited 0"
    docker(minke_daemon, "rm", name)
    proc = docker(minke_daemon, "inspect", name, check=False)
    assert proc.returncode != 0 and b"No such" in proc.stderr


def test_logs_follow_tail_timestamps(minke_daemon: Daemon, busybox_image: str) -> None:
    name = unique()
    docker(minke_daemon, "run", "-d", "--name", name, busybox_image, "sh", "-c",
           "for i in 1 2 3 4 5; do echo line$i; done; sleep 1; echo late; echo err >&2")
    proc = docker(minke_daemon, "logs", "-f", "--tail", "2", name)
    assert proc.stdout == b"line4\nline5\nlate\n" and proc.stderr == b"err\n"
    ts = docker(minke_daemon, "logs", "-t", "--tail", "1", name).stderr.decode()
    assert ts.endswith(" err\n") and "T" in ts.split()[0] and ts.split()[0].endswith("Z")
    docker(minke_daemon, "rm", "-f", name)


def test_exec_and_exec_exit_code(minke_daemon: Daemon, busybox_image: str) -> None:
    name = unique()
    docker(minke_daemon, "run", "-d", "--name", name, "-e", "FOO=bar", busybox_image,
           "sleep", "300")
    out = docker(minke_daemon, "exec", "-e", "X=1", "-w", "/tmp", name, "sh", "-c",
                 "echo $FOO $X $(pwd)").stdout
    assert out == b"bar 1 /tmp\n"
    assert docker(minke_daemon, "exec", name, "sh", "-c", "exit 4", check=False).returncode == 4
    assert docker(minke_daemon, "exec", "-u", "nobody", name, "id", "-u").stdout == b"65534\n"
    assert docker(minke_daemon, "exec", "-i", name, "cat", input=b"piped\n").stdout == b"piped\n"
    docker(minke_daemon, "kill", name)
    assert docker(minke_daemon, "wait", name).stdout.strip() == b"137"
    docker(minke_daemon, "rm", name)


def test_tty_run_and_exec(minke_daemon: Daemon, busybox_image: str) -> None:
    """`-it` through a real pseudo-terminal, as a person at a terminal runs it."""
    pty = pytest.importorskip("pty")
    name = unique()

    def run_in_pty(*args: str) -> tuple[int, bytes]:
        pid, fd = pty.fork()
        if pid == 0:
            os.execve(DOCKER, [DOCKER, *args], minke_daemon.env())
        out = b""
        while True:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status), out

    code, out = run_in_pty("run", "-it", "--rm", "--name", name, busybox_image,
                           "sh", "-c", "tty; stty size; exit 5")
    assert code == 5
    assert b"/dev/pts/0" in out
    docker(minke_daemon, "run", "-d", "--name", name, busybox_image, "sleep", "300")
    code, out = run_in_pty("exec", "-it", name, "sh", "-c", "tty && exit 6")
    assert code == 6 and b"/dev/pts/" in out
    docker(minke_daemon, "rm", "-f", name)


def test_errors(minke_daemon: Daemon, busybox_image: str) -> None:
    proc = docker(minke_daemon, "run", "--rm", "nosuch-image:1", "true", check=False)
    assert proc.returncode == 125
    proc = docker(minke_daemon, "inspect", "--type", "container", "nosuch", check=False)
    assert b"No such container: nosuch" in proc.stderr
    name = unique()
    docker(minke_daemon, "create", "--name", name, busybox_image, "true")
    proc = docker(minke_daemon, "create", "--name", name, busybox_image, "true", check=False)
    assert proc.returncode != 0 and b"is already in use" in proc.stderr
    docker(minke_daemon, "rm", name)


def test_rename_and_restart(minke_daemon: Daemon, busybox_image: str) -> None:
    a, b = unique(), unique()
    docker(minke_daemon, "run", "-d", "--name", a, busybox_image, "sleep", "300")
    docker(minke_daemon, "rename", a, b)
    pid1 = docker(minke_daemon, "inspect", "-f", "{{.State.Pid}}", b).stdout
    docker(minke_daemon, "restart", "-t", "1", b)
    pid2 = docker(minke_daemon, "inspect", "-f", "{{.State.Pid}} {{.State.Running}}", b).stdout
    assert pid2.split()[1] == b"true" and pid2.split()[0] != pid1.strip()
    docker(minke_daemon, "rm", "-f", b)


def test_import_save_load_roundtrip(minke_daemon: Daemon, busybox_tar: Path,
                                    tmp_path: Path) -> None:
    ref = f"cli-import/{unique()}:v1"
    docker(minke_daemon, "import", "-c", "CMD [\"sh\"]", str(busybox_tar), ref)
    image_id = docker(minke_daemon, "inspect", "-f", "{{.Id}}", ref).stdout.strip()
    archive = tmp_path / "saved.tar"
    docker(minke_daemon, "save", "-o", str(archive), ref)
    docker(minke_daemon, "rmi", ref)
    out = docker(minke_daemon, "load", "-i", str(archive)).stdout.decode()
    assert f"Loaded image: {ref}" in out
    assert docker(minke_daemon, "inspect", "-f", "{{.Id}}", ref).stdout.strip() == image_id
    assert docker(minke_daemon, "run", "--rm", ref, "echo", "ok").stdout == b"ok\n"
    docker(minke_daemon, "tag", ref, ref + "-b")
    assert ref.split(":")[0] in docker(minke_daemon, "images").stdout.decode()
    history = docker(minke_daemon, "history", ref).stdout.decode()
    assert "IMAGE" in history
    docker(minke_daemon, "rmi", ref, ref + "-b")


def test_start_attach_reruns_an_exited_container(minke_daemon: Daemon, busybox_image: str) -> None:
    name = unique()
    docker(minke_daemon, "create", "--name", name, busybox_image, "sh", "-c",
           "echo run; exit 2")
    for _ in range(2):  # created, then exited: each `start -a` shows the new run's output
        proc = docker(minke_daemon, "start", "-a", name, check=False)
        assert (proc.returncode, proc.stdout) == (2, b"run\n")
    docker(minke_daemon, "rm", name)
