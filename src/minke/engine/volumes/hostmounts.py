"""The host's mount table as the volume code needs it: is a path a mount point, which mount
holds a path and how does it propagate, and mounting/unmounting through mount(8).

The one place that reads ``/proc/self/mountinfo`` or runs ``mount``/``umount`` for volumes.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from minke.errors import InternalError, InvalidParameter

MOUNTINFO = Path("/proc/self/mountinfo")


@dataclass(frozen=True)
class MountInfo:
    mount_point: str
    optional: tuple[str, ...]  # "shared:N", "master:N", "propagate_from:N", "unbindable"

    @property
    def shared(self) -> bool:
        return any(o.startswith("shared:") for o in self.optional)

    @property
    def slave(self) -> bool:
        return any(o.startswith("master:") for o in self.optional)


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as octal (\040 ...).
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 3 < len(field) and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mounts() -> list[MountInfo]:
    out = []
    for line in MOUNTINFO.read_text().splitlines():
        fields = line.split(" ")
        sep = fields.index("-")
        out.append(MountInfo(_unescape(fields[4]), tuple(fields[6:sep])))
    return out


def is_mount_point(path: Path) -> bool:
    target = os.path.realpath(path)
    return any(m.mount_point == target for m in mounts())


def mount_of(path: str) -> MountInfo:
    """The mount that holds ``path`` (the last-mounted one with the longest prefix)."""
    target = os.path.realpath(path)
    best: MountInfo | None = None
    for m in mounts():
        prefix = m.mount_point.rstrip("/") + "/"
        if (target == m.mount_point or target.startswith(prefix) or m.mount_point == "/") and (
            best is None or len(m.mount_point) >= len(best.mount_point)
        ):
            best = m
    if best is None:
        raise InternalError(f"no mount holds {path}")
    return best


def check_propagation(source: str, propagation: str) -> None:
    """Docker's check before a shared or slave bind: the source's mount must propagate
    (shared for rshared/shared; shared or slave for rslave/slave), else events under it
    could never reach the container."""
    if propagation not in ("shared", "rshared", "slave", "rslave"):
        return
    info = mount_of(source)
    if propagation in ("shared", "rshared") and not info.shared:
        raise InvalidParameter(
            f"path {source} is mounted on {info.mount_point} but it is not a shared mount")
    if propagation in ("slave", "rslave") and not (info.shared or info.slave):
        raise InvalidParameter(
            f"path {source} is mounted on {info.mount_point} but it is not a shared "
            "or slave mount")


def mount(kind: str, device: str, target: Path, options: str) -> None:
    """``mount -t kind -o options device target``; the error names the volume's options."""
    argv = ["mount", "-t", kind or "none"]
    if options:
        argv += ["-o", options]
    argv += [device, str(target)]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise InvalidParameter(
            f"failed to mount local volume: mount {device}:{target}, type {kind}, "
            f"options {options or '(none)'}: {proc.stderr.strip()}")


def unmount(target: Path) -> None:
    proc = subprocess.run(["umount", str(target)], capture_output=True, text=True, check=False)
    if proc.returncode != 0 and is_mount_point(target):
        # Busy (a process outside still uses it): detach it so the volume can go.
        subprocess.run(["umount", "-l", str(target)], capture_output=True, check=False)
