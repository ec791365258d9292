"""The docker CLI's own BuildKit mode (Debian's docker 20.10 CLI: ``docker build`` when the
daemon's ``/_ping`` says ``Builder-Version: 2``, no buildx): ``POST /session`` plus ``POST
/build?version=2``, with progress as ``moby.buildkit.trace`` messages, ``--secret``, ``-q``
and a Dockerfile error; ``DOCKER_BUILDKIT=0`` still gets the classic builder."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from tests.conftest import Daemon, unique

pytestmark = [pytest.mark.compat, pytest.mark.integration]

CLI = Path("/usr/bin/docker")  # Debian's docker.io: the 20.10 CLI


def _cli() -> Path:
    if not CLI.exists():
        pytest.skip("no docker 20.10 CLI at /usr/bin/docker")
    version = subprocess.run([str(CLI), "--version"], capture_output=True, text=True).stdout
    if " 20.10." not in version:
        pytest.skip(f"/usr/bin/docker is not the 20.10 CLI: {version}")
    return CLI


def _build(daemon: Daemon, *args: str, env: dict[str, str] | None = None,
           cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in daemon.env().items() if k != "DOCKER_BUILDKIT"}
    return subprocess.run([str(_cli()), "build", *args], env={**environ, **(env or {})},
                          cwd=cwd, capture_output=True, text=True, timeout=180)


def test_buildkit_mode_with_secret_and_quiet(minke_daemon: Daemon, busybox_image: str,
                                             tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox:latest\nCOPY note.txt /note.txt\n"
        "RUN --mount=type=secret,id=token cp /run/secrets/token /copied\n")
    (tmp_path / "note.txt").write_text("noted\n")
    (tmp_path / "token.txt").write_text("s3cret")
    tag = unique("clibk")
    shown = _build(minke_daemon, "--progress", "plain", "--secret", "id=token,src=token.txt",
                   "-t", tag, ".", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "[internal] load build context" in shown.stderr
    assert f"naming to docker.io/library/{tag}:latest" in shown.stderr
    quiet = _build(minke_daemon, "-q", "--secret", "id=token,src=token.txt", "-t", tag, ".",
                   cwd=tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    assert re.fullmatch(r"sha256:[0-9a-f]{64}\n", quiet.stdout)
    out = subprocess.run([str(_cli()), "run", "--rm", tag, "cat", "/copied", "/note.txt"],
                         env=minke_daemon.env(), capture_output=True, text=True, timeout=60)
    assert out.stdout == "s3cretnoted\n"


def test_dockerfile_error_and_classic_fallback(minke_daemon: Daemon, busybox_image: str,
                                               tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox:latest\nRUN true\nFROOB x\n")
    failed = _build(minke_daemon, "-t", unique("bad"), ".", cwd=tmp_path)
    assert failed.returncode != 0
    assert "dockerfile parse error on line 3: unknown instruction: FROOB" in failed.stderr
    classic = _build(minke_daemon, "-t", unique("bad"), ".", cwd=tmp_path,
                     env={"DOCKER_BUILDKIT": "0"})
    assert classic.returncode != 0  # the classic builder's own words for it:
    assert "Sending build context to Docker daemon" in classic.stdout
    assert "dockerfile parse error line 3: unknown instruction: FROOB" in classic.stderr
