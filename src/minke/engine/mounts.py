"""mount(2) and umount2(2) called through libc: the one place the engine makes these system
calls itself, for the mounts on the hot paths of container start and stop (overlay roots,
network namespace files, shared /dev/shm), where running mount(8) would cost a process each.
"""

from __future__ import annotations

import ctypes
import errno
import os
from pathlib import Path

MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_BIND = 4096
MS_REC = 16384
MS_SHARED = 1 << 20
MNT_DETACH = 2

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]

_Arg = str | bytes | Path | None


def _c(value: _Arg) -> bytes | None:
    return None if value is None else os.fsencode(value)


def mount(source: _Arg, target: str | Path, fstype: _Arg = None, flags: int = 0,
          data: _Arg = None) -> None:
    """mount(2); an OSError carrying the errno and ``target`` when it fails."""
    if _libc.mount(_c(source), _c(target), _c(fstype), flags, _c(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), str(target))


def umount(target: str | Path, flags: int = 0) -> bool:
    """umount2(2). False when ``target`` is not a mount point or does not exist (nothing to
    do); an OSError for any other failure (EBUSY among them: the caller decides whether to
    detach)."""
    if _libc.umount2(_c(target), flags) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOENT):
        return False
    raise OSError(err, os.strerror(err), str(target))
