"""The ``minke`` command as a user runs it: a subprocess against the session's minked."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from tests.conftest import Daemon, unique

pytestmark = pytest.mark.integration


def minke(daemon: Daemon, *args: str, input: bytes | None = None,
          timeout: float = 60) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "minke.cli", *args], env=daemon.env(), input=input,
        capture_output=True, timeout=timeout,
    )
    return subprocess.CompletedProcess(result.args, result.returncode,
                                       result.stdout.decode(), result.stderr.decode())


def test_run_rm_output_and_exit_code(minke_daemon: Daemon, busybox_image: str) -> None:
    r = minke(minke_daemon, "run", "--rm", busybox_image, "sh", "-c",
              "echo out; echo err >&2; exit 3")
    assert (r.returncode, r.stdout, r.stderr) == (3, "out\n", "err\n")


def test_run_stdin(minke_daemon: Daemon, busybox_image: str) -> None:
    r = minke(minke_daemon, "run", "--rm", "-i", busybox_image, "cat", input=b"piped\n")
    assert (r.returncode, r.stdout) == (0, "piped\n")


def test_run_missing_image(minke_daemon: Daemon) -> None:
    r = minke(minke_daemon, "run", "--rm", "nosuch-image")
    assert r.returncode == 125
    assert r.stderr.startswith("Unable to find image 'nosuch-image:latest' locally\n")


def test_detached_lifecycle(minke_daemon: Daemon, busybox_image: str) -> None:
    name = unique("cli")
    r = minke(minke_daemon, "run", "-d", "--name", name, busybox_image, "sh", "-c",
              "echo started; exec sleep 300")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    assert len(cid) == 64
    r = minke(minke_daemon, "ps", "--format", "{{.ID}} {{.Names}} {{.State}}")
    assert f"{cid[:12]} {name} running" in r.stdout.splitlines()
    r = minke(minke_daemon, "ps")
    assert r.stdout.startswith("CONTAINER ID   IMAGE")
    for _ in range(50):
        r = minke(minke_daemon, "logs", name)
        if r.stdout:
            break
        time.sleep(0.1)
    assert r.stdout == "started\n"
    r = minke(minke_daemon, "exec", name, "sh", "-c", "echo in-exec; exit 4")
    assert (r.returncode, r.stdout) == (4, "in-exec\n")
    r = minke(minke_daemon, "inspect", "--format", "{{.State.Status}} {{.Name}}", name)
    assert r.stdout == f"running /{name}\n"
    r = minke(minke_daemon, "stop", "-t", "1", name)
    assert (r.returncode, r.stdout) == (0, f"{name}\n")
    r = minke(minke_daemon, "ps", "-a", "--filter", f"name={name}", "--format", "{{.Status}}")
    assert r.stdout.startswith("Exited (")
    r = minke(minke_daemon, "rm", name, "no-such-" + name)
    assert r.returncode == 1
    assert r.stdout == f"{name}\n"
    assert r.stderr == f"Error response from daemon: No such container: no-such-{name}\n"


def test_inspect_missing(minke_daemon: Daemon) -> None:
    r = minke(minke_daemon, "container", "inspect", "nope-nope")
    assert (r.returncode, r.stderr) == (1, "Error: No such container: nope-nope\n")


def test_images_tag_rmi(minke_daemon: Daemon, busybox_image: str) -> None:
    tag = unique("tagged")
    assert minke(minke_daemon, "tag", busybox_image, f"{tag}:v1").returncode == 0
    r = minke(minke_daemon, "images", "--format", "{{.Repository}}:{{.Tag}}")
    assert f"{tag}:v1" in r.stdout.splitlines()
    r = minke(minke_daemon, "images")
    assert r.stdout.split()[:6] == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    r = minke(minke_daemon, "rmi", f"{tag}:v1")
    assert r.returncode == 0 and f"Untagged: {tag}:v1" in r.stdout


def test_import_save_load(minke_daemon: Daemon, busybox_image: str, busybox_tar,
                          tmp_path) -> None:
    repo = unique("imported")
    r = minke(minke_daemon, "import", "-c", 'CMD ["sh"]', str(busybox_tar), f"{repo}:1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().startswith("sha256:")
    archive = tmp_path / "saved.tar"
    r = minke(minke_daemon, "save", "-o", str(archive), f"{repo}:1")
    assert r.returncode == 0, r.stderr
    assert archive.stat().st_size > 0
    assert minke(minke_daemon, "rmi", f"{repo}:1").returncode == 0
    r = minke(minke_daemon, "load", "-i", str(archive))
    assert r.returncode == 0, r.stderr
    assert f"Loaded image: {repo}:1" in r.stdout
    r = minke(minke_daemon, "run", "--rm", f"{repo}:1", "echo", "from-loaded")
    assert r.stdout == "from-loaded\n"
