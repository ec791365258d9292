"""Push and pull, cold, against a local registry: minke vs Docker, same docker CLI, same
image content (loaded from one archive into both, so the image ids are equal).

Images: one layer of 100 MB (random, incompressible bytes) and ten layers of 10 MB each.
Each side gets its own ``docker-registry`` on loopback: Docker's runs inside the network
namespace of the anchor dockerd (its 127.0.0.1 is not ours). A push is cold: a fresh
registry each time. A pull is cold: the image is removed locally first.

Goals (issue 7): pull <= Docker's time, push <= Docker's.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path

from common import (
    REPO,
    Target,
    docker_target,
    minke_target,
    parse_repeat,
    ratio,
    report,
    summary,
    timed,
)

sys.path.insert(0, str(REPO / "tests" / "integration" / "registry"))
from conftest import Registry, make_registry  # noqa: E402


def anchor_pid(docker_host: str) -> int | None:
    """The PID of a docker-anchor dockerd (its pidfile sits beside its socket), whose network
    namespace the Docker-side registry must run in."""
    pidfile = Path(docker_host.removeprefix("unix://")).parent / "dockerd.pid"
    return int(pidfile.read_text()) if pidfile.exists() else None


def image_archive(path: Path, name: str, layer_sizes: list[int], seed: int) -> None:
    """A ``docker save`` archive of an image with one file of random bytes per layer."""
    rng = random.Random(seed)
    layers: list[tuple[str, bytes]] = []
    for i, size in enumerate(layer_sizes):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo(f"data/layer{i}.bin")
            info.size, info.mtime, info.mode = size, 1_600_000_000, 0o644
            tar.addfile(info, io.BytesIO(rng.randbytes(size)))
        layers.append((f"layer{i}.tar", buf.getvalue()))
    diff_ids = ["sha256:" + hashlib.sha256(data).hexdigest() for _, data in layers]
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
        "config": {"Cmd": ["/data"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "2024-01-01T00:00:00Z"} for _ in layers],
    }).encode()
    with tarfile.open(path, "w") as tar:
        def add(member: str, data: bytes) -> None:
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        for member, data in layers:
            add(member, data)
        add("config.json", config)
        add("manifest.json", json.dumps([{"Config": "config.json", "RepoTags": [name],
                                          "Layers": [m for m, _ in layers]}]).encode())


class Side:
    """One daemon with its own registry (in the daemon's network namespace)."""

    def __init__(self, target: Target, root: Path, netns_pid: int | None) -> None:
        self.target = target
        self.root = root
        self.netns_pid = netns_pid
        self.count = 0

    def registry(self) -> Registry:
        self.count += 1
        reg = make_registry(self.root / f"{self.target.name}-{self.count}",
                            netns_pid=self.netns_pid)
        reg.start()
        return reg

    def remove(self, *names: str) -> None:
        self.target.docker("rmi", "-f", *names, check=False)


def measure(side: Side, archive: Path, name: str, repeat: int) -> dict[str, object]:
    side.target.docker("load", "-i", str(archive))
    registries: list[Registry] = []
    try:
        # Push: a fresh registry per run, so nothing is there to skip or mount.
        times_push: list[float] = []
        for _ in range(repeat):
            reg = side.registry()
            registries.append(reg)
            remote = f"{reg.host}/bench/push:1"
            side.target.docker("tag", name, remote)
            times_push += timed(lambda r=remote: side.target.docker("push", r), 1, warmup=0)
            side.target.docker("rmi", remote)
            registries.pop().stop()
        # Pull: one registry holding the image; each run starts with no local copy.
        reg = side.registry()
        registries.append(reg)
        remote = f"{reg.host}/bench/pull:1"
        side.target.docker("tag", name, remote)
        side.target.docker("push", remote)
        side.remove(remote, name)
        times_pull: list[float] = []
        for _ in range(repeat):
            times_pull += timed(lambda: side.target.docker("pull", remote), 1, warmup=0)
            side.remove(remote)
        return {"push": summary(times_push), "pull": summary(times_pull)}
    finally:
        for reg in registries:
            reg.stop()
        side.remove(name)


def main() -> None:
    repeat = parse_repeat(3)
    work = Path(tempfile.mkdtemp(prefix="mk-bench-reg-", dir="/tmp"))
    try:
        images = {
            "single_100mb": ("bench/single:100mb", [100 << 20], 1),
            "ten_layers_10mb": ("bench/ten:10x10mb", [10 << 20] * 10, 2),
        }
        archives = {}
        for key, (name, sizes, seed) in images.items():
            archives[key] = work / f"{key}.tar"
            image_archive(archives[key], name, sizes, seed)
        # Other work on a shared machine moves these figures: keep the load beside them.
        results: dict[str, object] = {"load_before": os.getloadavg()}
        with minke_target() as (minke, _):
            side = Side(minke, work, None)
            results["minke"] = {k: measure(side, archives[k], images[k][0], repeat)
                                for k in images}
        docker = docker_target()
        pid = anchor_pid(docker.host) if docker else None
        if docker and pid and os.path.exists(f"/proc/{pid}"):
            side = Side(docker, work, pid)
            results["docker"] = {k: measure(side, archives[k], images[k][0], repeat)
                                 for k in images}
            ratios: dict[str, object] = {}
            for k in images:
                m, d = results["minke"][k], results["docker"][k]  # type: ignore[index]
                ratios[k] = {op: ratio(m[op]["median_s"], d[op]["median_s"])
                             for op in ("push", "pull")}
            results["ratio_minke_over_docker"] = ratios
        else:
            results["docker"] = "no docker-anchor Docker (dockerd.pid by its socket) answered"
        results["load_after"] = os.getloadavg()
        report("registry_pull_push", results)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
