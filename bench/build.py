"""``docker build`` (classic builder, ``DOCKER_BUILDKIT=0``), same docker CLI, against minke
and Docker: a 7-step Dockerfile with a 200-file context, built cold (``--no-cache``), fully
cached, and after changing one copied file (rebuild from the COPY step on).

Goals (issue #6): cold at least as fast as Docker's, fully cached <= 0.5x Docker's.
``python bench/build.py [repeat]``.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from common import (
    DOCKER_CLI,
    Target,
    docker_target,
    import_busybox,
    minke_target,
    ratio,
    report,
    summary,
    timed,
)

DOCKERFILE = """\
FROM bench/busybox:latest
ARG VERSION=1
ENV APP=/app
WORKDIR /app
COPY . /app/
RUN cat /app/src/f007.txt > /app/seven && ls /app/src | wc -l > /app/count
CMD ["cat", "/app/count"]
"""
FILES = 200


def make_context(root: Path) -> Path:
    (root / "src").mkdir(parents=True)
    (root / "Dockerfile").write_text(DOCKERFILE)
    for i in range(FILES - 1):
        (root / "src" / f"f{i:03}.txt").write_text(f"file {i}\n" * 20)
    return root


def build(target: Target, ctx: Path, *extra: str) -> None:
    subprocess.run([DOCKER_CLI, "build", *extra, "-t", "bench/build:1", str(ctx)],
                   env={**target.env(), "DOCKER_BUILDKIT": "0"}, check=True,
                   capture_output=True)


def measure(target: Target, ctx: Path, repeat: int) -> dict[str, object]:
    cold = timed(lambda: build(target, ctx, "--no-cache"), repeat)
    cached = timed(lambda: build(target, ctx), repeat)
    counter = iter(range(10_000))

    def change_one() -> None:
        (ctx / "src" / "f007.txt").write_text(f"changed {next(counter)}\n")
        build(target, ctx)

    changed = timed(change_one, repeat)
    return {"cold": summary(cold), "cached": summary(cached), "one_file_changed":
            summary(changed)}


def main() -> None:
    repeat = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    with tempfile.TemporaryDirectory() as tmp:
        ctx = make_context(Path(tmp) / "ctx")
        results: dict[str, object] = {"files": FILES, "steps": 7, "repeat": repeat}
        with minke_target() as (minke, _daemon):
            import_busybox(minke)
            results["minke"] = measure(minke, ctx, repeat)
        docker = docker_target()
        if docker is not None:
            import_busybox(docker)
            try:
                results["docker"] = measure(docker, ctx, repeat)
            finally:
                docker.docker("rmi", "bench/build:1", check=False)
                docker.docker("image", "prune", "-f", check=False)
            for key in ("cold", "cached", "one_file_changed"):
                m = results["minke"][key]["median_s"]  # type: ignore[index]
                d = results["docker"][key]["median_s"]  # type: ignore[index]
                results[f"ratio_{key}"] = ratio(m, d)
        else:
            results["docker"] = "no Docker daemon (set DOCKER_ANCHOR_HOST)"
    report("build", results)


if __name__ == "__main__":
    main()
