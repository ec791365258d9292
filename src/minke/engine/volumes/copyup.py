"""Copy-up: on the first mount of an empty volume, the image's content at the mount target
is copied into the volume with ownership, modes, timestamps, xattrs and hard links, as
Docker does (moby ``copyExistingContents``): the volume then starts with what the image
had there (a database image's initial files, a web server's default pages).

The source is resolved inside the container's root filesystem (``resolve_in_root``), so a
link in the image never leads out of it; inside the copy, links are copied as links and
never followed. GNU ``cp -a`` does the copying: it is the one tool here that preserves every
attribute and runs at C speed (10,000 small files in a fraction of a second).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from minke.engine.containers.rootfs import resolve_in_root
from minke.errors import InternalError


def is_empty(path: Path) -> bool:
    with os.scandir(path) as entries:
        return next(entries, None) is None


def source_dir(rootfs: Path, target: str) -> Path | None:
    """The image's directory at ``target`` (inside ``rootfs``), or None if there is none."""
    source = resolve_in_root(rootfs, target)
    if source.is_symlink() or not source.is_dir():
        return None
    return source


def copy_up(source: Path, data: Path) -> None:
    """Copy the content and the attributes of ``source`` into the empty directory ``data``.
    ``source/.`` makes cp copy the directory onto ``data`` itself, so the volume's root
    takes the image directory's owner, mode and times (Docker's ``copyOwnership``)."""
    proc = subprocess.run(
        ["cp", "-a", "--no-dereference", "--", f"{source}/.", str(data)],
        capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0:
        raise InternalError(f"copying image content into volume {data}: {proc.stderr.strip()}")


def clear(data: Path) -> None:
    """Empty ``data`` (an interrupted copy-up is redone from the start)."""
    with os.scandir(data) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
