"""Fixtures for the volume tests: the docker CLI against the session minked, and an image
whose /srv/app holds files with owners, modes, times and an xattr (declared a VOLUME)."""

from __future__ import annotations

import functools
import io
import os
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.conftest import Daemon, unique
from tests.support.busybox import write_rootfs_tar
from tests.support.cli import DOCKER, docker_text

APP_MTIME = 1_000_000_000  # 2001-09-09: a time no copy would produce by accident

Docker = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(autouse=True)
def _need_cli() -> None:
    if not os.path.exists(DOCKER):
        pytest.skip("docker CLI not installed")


@pytest.fixture
def docker(minke_daemon: Daemon) -> Docker:
    return functools.partial(docker_text, minke_daemon)


def write_app_image_tar(dest: Path) -> Path:
    """busybox plus /srv/app: a directory owned 33:33 mode 0750 with two files."""
    base = write_rootfs_tar(dest.with_suffix(".base.tar"))
    with tarfile.open(base) as src, tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as tar:
        for member in src.getmembers():
            tar.addfile(member, src.extractfile(member) if member.isfile() else None)
        for name, mode in (("srv", 0o755), ("srv/app", 0o750)):
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, mode, APP_MTIME
            info.uid = info.gid = 33 if name == "srv/app" else 0
            tar.addfile(info)
        for name, text, mode in (("srv/app/index.html", "hello from the image\n", 0o640),
                                 ("srv/app/secret", "s3cret\n", 0o600)):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime, info.uid, info.gid = (
                len(data), mode, APP_MTIME, 33, 33)
            info.pax_headers = {"SCHILY.xattr.user.origin": "image"}
            tar.addfile(info, io.BytesIO(data))
    base.unlink()
    return dest


@pytest.fixture(scope="session")
def app_image(minke_daemon: Daemon, busybox_image: str,
              tmp_path_factory: pytest.TempPathFactory) -> str:
    tar = write_app_image_tar(tmp_path_factory.mktemp("app") / "app.tar")
    name = f"{unique('volapp')}:latest"
    subprocess.run([DOCKER, "import", "--change", 'CMD ["sh"]', "--change",
                    "VOLUME /srv/app", str(tar), name], env=minke_daemon.env(),
                   check=True, capture_output=True)
    return name
