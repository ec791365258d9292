"""First-mount copy-up of an image directory of 10,000 small files into a fresh named volume,
minke vs Docker, through the same docker CLI (issue 5).

Each round runs ``docker run --rm -v <new volume>:/srv/many IMAGE true`` (the copy happens
on that first mount) and the same with ``:nocopy`` (everything but the copy); the difference
of the medians is the copy-up itself. Volumes are removed between rounds, untimed. Both run
with ``--network none`` so that network set-up (which differs) stays out of the figures.
"""

from __future__ import annotations

import io
import secrets
import statistics
import tarfile
import tempfile
import time
from pathlib import Path

from common import Target, compare, parse_repeat, report
from tests.support.busybox import write_rootfs_tar

DIRS, FILES_PER_DIR, FILE_SIZE = 100, 100, 64  # 10,000 files of 64 bytes


def write_image_tar(dest: Path) -> Path:
    base = write_rootfs_tar(dest.with_suffix(".base.tar"))
    payload = b"x" * FILE_SIZE
    with tarfile.open(base) as src, tarfile.open(dest, "w") as tar:
        for member in src.getmembers():
            tar.addfile(member, src.extractfile(member) if member.isfile() else None)
        for name in ("srv", "srv/many"):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for d in range(DIRS):
            info = tarfile.TarInfo(f"srv/many/d{d:03}")
            info.type, info.mode, info.uid, info.gid = tarfile.DIRTYPE, 0o750, 33, 33
            tar.addfile(info)
            for f in range(FILES_PER_DIR):
                info = tarfile.TarInfo(f"srv/many/d{d:03}/f{f:03}")
                info.size, info.mode, info.uid, info.gid = FILE_SIZE, 0o640, 33, 33
                tar.addfile(info, io.BytesIO(payload))
    base.unlink()
    return dest


def measure(target: Target, image_tar: Path, repeat: int) -> dict[str, float]:
    ref = f"bench/copyup-{secrets.token_hex(3)}:latest"
    target.docker("import", "--change", 'CMD ["sh"]', str(image_tar), ref)
    copy, nocopy = [], []
    try:
        for i in range(repeat + 1):  # the first round warms caches and is not counted
            for mode, times in (("", copy), (":nocopy", nocopy)):
                vol = f"bench-copyup-{secrets.token_hex(4)}"
                start = time.perf_counter()
                target.docker("run", "--rm", "--network", "none", "-v",
                              f"{vol}:/srv/many{mode}", ref, "true")
                elapsed = time.perf_counter() - start
                if mode == "":
                    count = target.docker("run", "--rm", "--network", "none", "-v",
                                          f"{vol}:/srv/many", ref, "sh", "-c",
                                          "find /srv/many -type f | wc -l").stdout
                    assert int(count) == DIRS * FILES_PER_DIR, count
                target.docker("volume", "rm", vol)
                if i:
                    times.append(elapsed)
    finally:
        target.docker("rmi", ref, check=False)
    with_copy, without = statistics.median(copy), statistics.median(nocopy)
    return {"run_with_copyup_median_s": round(with_copy, 4),
            "run_nocopy_median_s": round(without, 4),
            "copyup_s": round(with_copy - without, 4), "n": repeat}


def main() -> None:
    repeat = parse_repeat(5)
    results: dict[str, object] = {"files": DIRS * FILES_PER_DIR, "file_size": FILE_SIZE}
    with tempfile.TemporaryDirectory() as tmp:
        image_tar = write_image_tar(Path(tmp) / "many.tar")
        compare(lambda target: measure(target, image_tar, repeat), results=results,
                ratios={f"ratio_{key}": (key,)
                        for key in ("run_with_copyup_median_s", "copyup_s")})
    report("volume_copyup", results)


if __name__ == "__main__":
    main()
