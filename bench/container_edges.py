"""Latency of the container operations whose Docker edge behaviours minke follows, minke vs
Docker, through docker-py:
- ``kill`` (SIGKILL) of a running container, which answers once the container has stopped;
- ``rm -f`` of a running container;
- ``put_archive`` of a directory tree (200 files, 8 MiB) into a running container, which
  minke spools and checks whole before extracting anything.
"""

from __future__ import annotations

import io
import os
import tarfile
import time

import docker
from common import Target, compare, import_busybox, parse_repeat, report, summary

FILES = 200
FILE_SIZE = 40 * 1024


def tree_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as archive:
        for d in range(10):
            info = tarfile.TarInfo(f"tree/d{d}")
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            archive.addfile(info)
        for i in range(FILES):
            info = tarfile.TarInfo(f"tree/d{i % 10}/f{i}")
            info.size = FILE_SIZE
            archive.addfile(info, io.BytesIO(os.urandom(FILE_SIZE)))
    return buf.getvalue()


def measure(target: Target, repeat: int) -> dict[str, object]:
    ref = import_busybox(target)
    api = docker.APIClient(base_url=target.host, version="1.41", timeout=120)
    config = api.create_host_config(network_mode="none")
    data = tree_tar()
    kills, removals, puts = [], [], []
    try:
        for _ in range(repeat):
            cid = api.create_container(ref, ["sleep", "3600"], host_config=config)["Id"]
            api.start(cid)
            start = time.perf_counter()
            api.kill(cid)
            kills.append(time.perf_counter() - start)
            assert api.inspect_container(cid)["State"]["Status"] == "exited"
            api.start(cid)
            start = time.perf_counter()
            assert api.put_archive(cid, "/tmp", data)
            puts.append(time.perf_counter() - start)
            start = time.perf_counter()
            api.remove_container(cid, force=True)
            removals.append(time.perf_counter() - start)
    finally:
        api.close()
    return {"kill": summary(kills), "rm_force": summary(removals),
            "put_archive_8MiB_tree": summary(puts)}


def main() -> None:
    repeat = parse_repeat(10)
    results = compare(lambda target: measure(target, repeat), ratios={
        "kill_ratio": ("kill", "median_s"),
        "rm_force_ratio": ("rm_force", "median_s"),
        "put_archive_ratio": ("put_archive_8MiB_tree", "median_s"),
    })
    report("container_edges", results)


if __name__ == "__main__":
    main()
