"""Small filesystem operations several stores need: a directory's disk usage as Docker
counts it, making a rename durable, and deleting a tree in the background."""

from __future__ import annotations

import os
import queue
import secrets
import shutil
import threading
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


def discard(path: Path, trash: Path) -> None:
    """Take ``path`` out of its tree at once and delete it in a background thread: a rename
    into ``trash`` (a directory on the same filesystem, made if missing), so that no
    half-deleted directory stays under its name and the caller does not wait for a big
    tree (or a busy disk). The owner of ``trash`` empties it at start-up, for what a crash
    left there. A missing ``path`` is not an error."""
    trash.mkdir(parents=True, exist_ok=True)
    target = trash / f"rm-{secrets.token_hex(6)}-{path.name}"
    try:
        os.rename(path, target)
    except FileNotFoundError:
        return
    _deleter().put(target)


_queue: queue.SimpleQueue[Path] | None = None
_queue_lock = threading.Lock()


def _deleter() -> queue.SimpleQueue[Path]:
    """The queue of the one thread that deletes discarded trees, started on first use. One
    thread, not one per tree: starting a thread waits for it to take the GIL (milliseconds
    in a busy daemon, on a removal's path), and ten removals at once (``compose down``)
    would otherwise run ten rmtrees that all contend with the event loop for the GIL."""
    global _queue
    with _queue_lock:
        if _queue is None:
            _queue = queue.SimpleQueue()
            threading.Thread(target=_delete_forever, args=(_queue,), name="discard",
                             daemon=True).start()
        return _queue


def _delete_forever(pending: queue.SimpleQueue[Path]) -> None:
    while True:
        shutil.rmtree(pending.get(), ignore_errors=True)
