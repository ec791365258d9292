"""Fixtures for real runc + conmon containers: bundles from `runc spec`, cleaned up always.

Every container gets a unique id and cgroup path (/minke-test-<random>), its runc root and
exec root live in tmp_path, and teardown runs `runc delete --force` on each id it handed out.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.support.busybox import make_rootfs_dir
from tests.support.coroutines import pytest_pyfunc_call

from minke.engine.runtime import Conmon, Runc

pytestmark = pytest.mark.integration
__all__ = ["pytest_pyfunc_call"]  # a hook (the tests are coroutines): pytest finds it by name


def _missing_prerequisite() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    for tool in ("runc", "conmon"):
        if shutil.which(tool) is None:
            return f"{tool} not installed"
    return None


@pytest.fixture(scope="session")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    reason = _missing_prerequisite()
    if reason:
        pytest.skip(reason)
    return make_rootfs_dir(tmp_path_factory.mktemp("busybox") / "rootfs")


@pytest.fixture(scope="session")
def base_spec(rootfs: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    workdir = tmp_path_factory.mktemp("spec")
    subprocess.run(["runc", "spec"], cwd=workdir, check=True)
    return json.loads((workdir / "config.json").read_text())


@dataclass
class Box:
    """One test container: its id, bundle and log path."""

    id: str
    bundle: Path
    log: Path


@dataclass
class Env:
    runtime: Runc
    monitor: Conmon
    tmp: Path
    make: Callable[..., Box]
    base_spec: dict[str, Any]

    def process(self, args: list[str], *, tty: bool = False) -> dict[str, Any]:
        """An OCI process object for exec: the spec's defaults with these args."""
        process = json.loads(json.dumps(self.base_spec["process"]))
        process.update(args=args, terminal=tty)
        return process


@pytest.fixture
def env(tmp_path: Path, rootfs: Path, base_spec: dict[str, Any]) -> Iterator[Env]:
    runtime = Runc(root=tmp_path / "runc")
    monitor = Conmon(runtime=runtime, exec_root=tmp_path / "exec")
    made: list[str] = []

    def make(
        args: list[str],
        *,
        tty: bool = False,
        memory: int | None = None,
        env: list[str] | None = None,
    ) -> Box:
        cid = f"minke-test-{secrets.token_hex(6)}"
        bundle = tmp_path / cid
        bundle.mkdir()
        spec = json.loads(json.dumps(base_spec))
        spec["process"]["args"] = args
        spec["process"]["terminal"] = tty
        if env:
            spec["process"]["env"] += env
        spec["root"]["path"] = str(rootfs)
        spec["linux"]["cgroupsPath"] = f"/{cid}"
        if memory is not None:
            resources = spec["linux"].setdefault("resources", {})
            resources["memory"] = {"limit": memory, "swap": memory}
        (bundle / "config.json").write_text(json.dumps(spec))
        made.append(cid)
        return Box(cid, bundle, tmp_path / f"{cid}.log")

    yield Env(runtime, monitor, tmp_path, make, base_spec)
    for cid in made:
        subprocess.run(
            ["runc", "--root", str(runtime.root), "delete", "--force", cid],
            capture_output=True,
        )
