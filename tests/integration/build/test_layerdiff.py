"""``layerdiff``: a real overlay upper directory (whiteouts, opaque directories, new and
changed files) becomes a layer tar and a committed image whose mounted root shows exactly
what the container saw."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from minke.engine.events import EventBus
from minke.engine.images import ImageService, layerdiff
from minke.engine.state import StateDB

pytestmark = pytest.mark.integration


@pytest.fixture
def service(tmp_path: Path) -> Iterator[ImageService]:
    db = StateDB(tmp_path / "state.db")
    yield ImageService(root=tmp_path / "image", db=db, events=EventBus())
    db.close()


def _base_image(service: ImageService) -> str:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name in ("etc", "etc/keep", "etc/sub"):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for name, data in (("etc/gone", b"x"), ("etc/keep/old", b"old"), ("etc/changed", b"1")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

    async def chunks():  # type: ignore[no-untyped-def]
        yield buf.getvalue()

    import asyncio

    return asyncio.run(service.import_rootfs(chunks()))


def _mounted(service: ImageService, key: str, parent: str | None, target: Path) -> None:
    service.snapshots.prepare(key, parent)
    service.snapshots.mount(key, target)


def test_upper_to_layer_and_image(service: ImageService, tmp_path: Path) -> None:
    base = _base_image(service)
    target = tmp_path / "merged"
    _mounted(service, "c1", service.top_chain_id(base), target)
    try:
        (target / "etc/gone").unlink()
        (target / "etc/changed").write_text("2")
        subprocess.run(["rm", "-rf", str(target / "etc/keep")], check=True)
        (target / "etc/keep").mkdir()  # a directory replaced: opaque in the upper dir
        (target / "etc/keep/new").write_text("new")
        (target / "added").write_text("a")
        os.link(target / "added", target / "hardlink")
    finally:
        service.snapshots.unmount(target)
    upper = service.snapshots.upper("c1")

    buf = io.BytesIO()
    layerdiff.write_layer_tar(upper, buf)
    names = [m.name for m in tarfile.open(fileobj=io.BytesIO(buf.getvalue()))]
    assert "etc/.wh.gone" in names
    assert "etc/keep/.wh..wh..opq" in names
    assert names.index("etc/keep") < names.index("etc/keep/.wh..wh..opq")
    members = {m.name: m for m in tarfile.open(fileobj=io.BytesIO(buf.getvalue()))}
    assert members["hardlink"].islnk() or members["added"].islnk()

    lowers = layerdiff.lower_dirs(service, base)
    kinds = {c["Path"]: c["Kind"] for c in layerdiff.changes(upper, lowers)}
    assert kinds["/etc/gone"] == layerdiff.CHANGE_DELETED
    assert kinds["/etc/changed"] == layerdiff.CHANGE_MODIFIED
    assert kinds["/added"] == layerdiff.CHANGE_ADDED

    image = layerdiff.commit_image(
        service, parent=base, upper=upper, config={"Cmd": ["sh"]},
        history={"created_by": "/bin/sh -c change"}, fields={"container": "c1"},
    )
    raw = service.content.read(image)
    config = json.loads(raw)
    assert list(config) == sorted(config)
    assert config["parent"] == base and config["container"] == "c1"
    assert len(config["rootfs"]["diff_ids"]) == 2
    assert config["history"][-1]["created_by"] == "/bin/sh -c change"
    assert service.inspect(image)["Parent"] == base

    check = tmp_path / "check"
    _mounted(service, "c2", service.top_chain_id(image), check)
    try:
        assert not (check / "etc/gone").exists()
        assert (check / "etc/changed").read_text() == "2"
        assert sorted(os.listdir(check / "etc/keep")) == ["new"]
        assert (check / "added").read_text() == "a"
    finally:
        service.snapshots.unmount(check)
        service.snapshots.remove("c2")
        service.snapshots.remove("c1")

    empty = layerdiff.commit_image(
        service, parent=image, upper=None, config={"Env": ["A=1"]},
        history={"created_by": "/bin/sh -c #(nop)  ENV A=1"},
    )
    econfig = service.config(empty)
    assert econfig["rootfs"]["diff_ids"] == config["rootfs"]["diff_ids"]
    assert econfig["history"][-1]["empty_layer"] is True
    assert [h["Size"] for h in service.history(empty)][:1] == [0]
