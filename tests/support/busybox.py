"""A busybox root filesystem made from Debian's busybox-static, as a directory or a tar.

The test and demo image: one static binary, a link per applet, and /etc/passwd and
/etc/group so that user names resolve as in Docker's busybox image.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

BUSYBOX = Path("/bin/busybox")

PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    "daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
    "nobody:x:65534:65534:nobody:/home:/bin/false\n"
    "www-data:x:33:33:www-data:/var/www:/bin/false\n"
)
GROUP = "root:x:0:\ndaemon:x:1:\nwww-data:x:33:\nnogroup:x:65534:\n"


def applets() -> list[str]:
    out = subprocess.run([str(BUSYBOX), "--list"], check=True, capture_output=True, text=True)
    return [a for a in out.stdout.split() if a != "busybox"]


def write_rootfs_tar(dest: Path) -> Path:
    """Write an uncompressed rootfs tar to ``dest`` and return it."""
    with tarfile.open(dest, "w") as tar:
        for d in ("bin", "etc", "tmp", "root", "dev", "proc", "sys", "var", "home"):
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if d == "tmp" else 0o755
            tar.addfile(info)
        tar.add(str(BUSYBOX), arcname="bin/busybox")
        for name in applets():
            info = tarfile.TarInfo(f"bin/{name}")
            info.type = tarfile.SYMTYPE
            info.linkname = "busybox"
            tar.addfile(info)
        for name, text in (("etc/passwd", PASSWD), ("etc/group", GROUP)):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return dest


def make_rootfs_dir(dest: Path) -> Path:
    """Unpack the same rootfs into the directory ``dest``."""
    tar_path = dest.parent / (dest.name + ".tar")
    write_rootfs_tar(tar_path)
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tar_path) as tar:
        tar.extractall(dest, filter="tar")
    tar_path.unlink()
    return dest


if __name__ == "__main__":
    import sys

    write_rootfs_tar(Path(sys.argv[1]))
