"""Small filesystem operations several stores need: a directory's disk usage as Docker
counts it, and making a rename durable."""

from __future__ import annotations

import os
from pathlib import Path


def directory_size(path: Path) -> int:
    """Bytes in regular files under ``path``, each inode counted once (as moby's
    ``directory.Size``, less symlinks' few bytes); links are not followed and other mounts
    are not crossed; 0 if ``path`` is gone."""
    seen: set[tuple[int, int]] = set()
    total = 0
    try:
        root_dev = path.stat().st_dev
    except OSError:
        return 0
    stack = [str(path)]
    while stack:
        current = stack.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if entry.is_dir(follow_symlinks=False):
                if st.st_dev == root_dev:
                    stack.append(entry.path)
                continue
            key = (st.st_dev, st.st_ino)
            if entry.is_file(follow_symlinks=False) and key not in seen:
                seen.add(key)
                total += st.st_size
    return total


def fsync_dir(path: Path) -> None:
    """fsync a directory, so that a rename or unlink inside it survives a crash."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
