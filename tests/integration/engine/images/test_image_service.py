"""ImageService on real overlayfs: import/save/load, archive formats, the overlay view of a
layered image, failure atomicity, and Docker's delete/prune rules."""

from __future__ import annotations

import asyncio
import io
import json
import os
import stat
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

try:
    from tests.support.busybox import write_rootfs_tar
except ModuleNotFoundError:
    # `.venv/bin/pytest` does not put the repository root on sys.path (see the runtime
    # tests' conftest); tests.support is rootdir-relative
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[4]))
    from tests.support.busybox import write_rootfs_tar

from minke.engine.images import ImageService
from minke.engine.state import StateDB
from minke.errors import Conflict, InvalidParameter, NoSuchImage

pytestmark = pytest.mark.integration

Build = dict[str, Callable[..., Any]]


def _save(service: ImageService, names: list[str]) -> bytes:
    async def run() -> bytes:
        out = bytearray()
        async for chunk in service.save(names):
            out += chunk
        return bytes(out)

    return asyncio.run(run())


def _store_state(service: ImageService, root: Path) -> tuple[Any, ...]:
    return (
        service.list(all=True),
        sorted(p.name for p in (root / "image/overlay2/layers").iterdir()),
        service.content.list(),
        service.records.all_refs(),
    )


def _three_layer_image(service: ImageService, build: Build) -> str:
    layers = [
        build["layer"](
            [
                ("etc", "dir", None),
                ("etc/keep", "file", "1"),
                ("etc/gone", "file", "x"),
                ("opq", "dir", None),
                ("opq/old", "file", "old"),
            ]
        ),
        build["layer"](
            [
                ("etc", "dir", None),
                ("etc/gone", "whiteout", None),
                ("opq", "dir", None),
                ("opq", "opaque", None),
                ("opq/new", "file", "new"),
            ]
        ),
        build["layer"]([("top", "file", "3"), ("etc", "dir", None), ("etc/keep", "file", "2")]),
    ]
    archive = build["legacy"](layers, ["layered:1"])
    assert asyncio.run(service.load(build["chunks"](archive))) == ["Loaded image: layered:1"]
    return service.resolve("layered:1")


def test_overlay_view_of_three_layers(
    service: ImageService, build: Build, tmp_path: Path, mounts: list[Path]
) -> None:
    image_id = _three_layer_image(service, build)
    chain = service.top_chain_id(image_id)
    service.snapshots.prepare("c1", chain)
    target = tmp_path / "merged"
    mounts.append(target)
    service.snapshots.mount("c1", target)
    try:
        assert (target / "etc/keep").read_text() == "2"
        assert not (target / "etc/gone").exists()
        assert sorted(os.listdir(target / "opq")) == ["new"]
        assert (target / "top").read_text() == "3"
        (target / "written").write_text("w")
    finally:
        service.snapshots.unmount(target)
    assert (service.snapshots.upper("c1") / "written").read_text() == "w"
    # The layer directories hold overlay whiteouts, not OCI .wh. files.
    middle = service.snapshots.layer_path(service.records.image(image_id)["chain_ids"][1])
    gone = (middle / "etc/gone").lstat()
    assert stat.S_ISCHR(gone.st_mode) and gone.st_rdev == 0
    assert os.getxattr(middle / "opq", "trusted.overlay.opaque") == b"y"
    service.snapshots.remove("c1")


def test_image_without_layers_mounts(
    service: ImageService, build: Build, tmp_path: Path, mounts: list[Path]
) -> None:
    image_id = asyncio.run(service.import_rootfs(build["chunks"](b""), repo="scratchy"))
    assert service.top_chain_id(image_id) is None
    assert service.config(image_id)["rootfs"]["diff_ids"] == []
    service.snapshots.prepare("s", None)
    target = tmp_path / "m"
    mounts.append(target)
    service.snapshots.mount("s", target)
    (target / "x").write_text("1")
    service.snapshots.unmount(target)
    assert (service.snapshots.upper("s") / "x").exists()


def test_import_save_load_round_trip(service: ImageService, build: Build, tmp_path: Path) -> None:
    rootfs = write_rootfs_tar(tmp_path / "rootfs.tar").read_bytes()
    image_id = asyncio.run(
        service.import_rootfs(
            build["chunks"](rootfs),
            repo="localhost:5000/team/bb",
            tag="t1",
            changes=['CMD ["sh"]', "LABEL a=b"],
            message="hello",
        )
    )
    config = service.config(image_id)
    assert config["config"]["Cmd"] == ["sh"] and config["comment"] == "hello"
    assert config["rootfs"]["diff_ids"] == [build["sha"](rootfs)]
    archive = _save(service, ["localhost:5000/team/bb:t1"])
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        names = set(tar.getnames())
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        index = json.load(tar.extractfile("index.json"))  # type: ignore[arg-type]
    assert {"oci-layout", "index.json", "manifest.json", "repositories"} <= names
    assert manifest[0]["RepoTags"] == ["localhost:5000/team/bb:t1"]
    assert manifest[0]["Config"] == f"blobs/sha256/{image_id[7:]}"
    annotations = index["manifests"][0]["annotations"]
    assert annotations["io.containerd.image.name"] == "localhost:5000/team/bb:t1"

    other = ImageService(
        root=tmp_path / "other", db=StateDB(tmp_path / "other.db"), events=service.events
    )
    lines = asyncio.run(other.load(build["chunks"](archive)))
    assert lines == ["Loaded image: localhost:5000/team/bb:t1"]
    assert other.resolve("localhost:5000/team/bb:t1") == image_id
    assert other.inspect(image_id)["RootFS"]["Layers"] == [build["sha"](rootfs)]
    assert _save(other, [image_id[7:19]]) != b""


def test_load_legacy_archive_with_gzip_and_shared_layers(
    service: ImageService, build: Build
) -> None:
    base = build["layer"]([("bin", "dir", None), ("bin/tool", "file", "tool")])
    config = build["config"]([build["sha"](base), build["sha"](base)])
    archive = build["legacy"]([base, base], ["app:1", "app:2"], gzip_layers=True, config=config)
    lines = asyncio.run(service.load(build["chunks"](archive)))
    assert lines == ["Loaded image: app:1", "Loaded image: app:2"]
    image_id = build["sha"](config)
    assert service.resolve("app:2") == image_id  # the id is the digest of the bytes as sent
    assert service.content.read(image_id) == config
    assert service.inspect("app:1")["RepoTags"] == ["app:1", "app:2"]
    assert len(service.snapshots.layers()) == 2  # same diff id twice: two chains
    # Loading again changes nothing and reuses the layers.
    asyncio.run(service.load(build["chunks"](archive)))
    assert len(service.snapshots.layers()) == 2


def test_load_oci_layout(service: ImageService, build: Build) -> None:
    layer = build["layer"]([("hello", "file", "oci")])
    archive, config = build["oci"]([layer], "localhost/oci-img:v2")
    assert asyncio.run(service.load(build["chunks"](archive))) == [
        "Loaded image: localhost/oci-img:v2"
    ]
    assert service.resolve("localhost/oci-img:v2") == build["sha"](config)
    untagged, config2 = build["oci"]([build["layer"]([("x", "file", "y")])], None)
    assert asyncio.run(service.load(build["chunks"](untagged))) == [
        f"Loaded image ID: {build['sha'](config2)}"
    ]


@pytest.mark.parametrize("failure", ["diff-mismatch", "malicious", "bad-tar", "blob-digest"])
def test_failed_load_leaves_the_store_as_it_was(
    service: ImageService, build: Build, tmp_path: Path, failure: str
) -> None:
    _three_layer_image(service, build)
    before = _store_state(service, tmp_path)
    good = build["layer"]([("a", "file", "a")])
    if failure == "diff-mismatch":
        config = build["config"]([build["sha"](good), "sha256:" + "0" * 64])
        archive = build["legacy"](
            [good, build["layer"]([("b", "file", "b")])], ["layered:1"], config=config
        )
    elif failure == "malicious":
        evil = build["layer"]([("x", "file", "x"), ("etc/.wh...", "file", "")])
        archive = build["legacy"]([good, evil], ["layered:1"])
    elif failure == "bad-tar":
        archive = build["legacy"]([good], ["layered:1"])[:3000] + b"garbage" * 100
    else:
        archive, _ = build["oci"]([good], "localhost/x:1")
        buf = io.BytesIO(archive)
        with tarfile.open(fileobj=buf) as tar:
            members = [
                (m, tar.extractfile(m).read() if m.isreg() else b"")  # type: ignore[union-attr]
                for m in tar.getmembers()
            ]
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w") as tar:
            for member, data in members:
                if member.name.startswith("blobs/") and len(data) > 100:
                    data = data[:-1] + bytes([data[-1] ^ 1])
                tar.addfile(member, io.BytesIO(data))
        archive = out.getvalue()
    with pytest.raises(InvalidParameter):
        asyncio.run(service.load(build["chunks"](archive)))
    assert _store_state(service, tmp_path) == before
    assert not [p for p in (tmp_path / "image/overlay2/tmp").iterdir() if "layer" in p.name]
    assert not [p for p in (tmp_path / "image/tmp").iterdir()]


def test_resolve_by_prefix_reference_and_digest(service: ImageService, build: Build) -> None:
    image_id = _three_layer_image(service, build)
    assert service.resolve(image_id) == image_id
    assert service.resolve(image_id[7:]) == image_id
    assert service.resolve(image_id[7:8]) == image_id  # unique one-character prefix
    assert service.resolve("docker.io/library/layered:1") == image_id
    with pytest.raises(NoSuchImage, match="No such image: layered:latest"):
        service.resolve("layered")
    service.tag(image_id, "localhost:5000/x/y", "z")
    assert service.resolve("localhost:5000/x/y:z") == image_id
    assert service.inspect("localhost:5000/x/y:z")["Metadata"]["LastTagTime"] != ""


def test_delete_rules_and_conflicts(service: ImageService, build: Build) -> None:
    image_id = _three_layer_image(service, build)
    service.tag("layered:1", "other", None)
    users: list[str] = []
    service.set_in_use_check(lambda i: list(users) if i == image_id else [])
    with pytest.raises(Conflict, match="image is referenced in multiple repositories"):
        service.delete(image_id[7:19])
    # A tag of an image with several tags just goes.
    assert service.delete("other") == [{"Untagged": "other:latest"}]
    users.append("abcdef0123456789")
    with pytest.raises(Conflict) as err:
        service.delete("layered:1")
    assert str(err.value) == (
        'conflict: unable to remove repository reference "layered:1" (must force) - '
        f"container abcdef012345 is using its referenced image {image_id[7:19]}"
    )
    with pytest.raises(Conflict, match="must be forced"):
        service.delete(image_id)
    # Forced, as `docker rmi -f` with a stopped container: tag and image go (the layers
    # would stay if the container had a snapshot on them; see the next test).
    service.tag(image_id, "spare", "1")
    assert service.delete("spare:1") == [{"Untagged": "spare:1"}]
    records = service.delete("layered:1", force=True)
    assert records[:2] == [{"Untagged": "layered:1"}, {"Deleted": image_id}]
    assert len(records) == 5  # and its three layers
    assert service.list(all=True) == []
    assert service.snapshots.layers() == [] and service.content.list() == []


def test_layers_under_a_container_survive_a_forced_delete(
    service: ImageService, build: Build
) -> None:
    image_id = _three_layer_image(service, build)
    service.snapshots.prepare("ctr", service.top_chain_id(image_id))
    service.set_in_use_check(lambda i: ["ctr"])
    records = service.delete(image_id, force=True)
    assert records == [{"Untagged": "layered:1"}, {"Deleted": image_id}]
    assert len(service.snapshots.layers()) == 3
    service.snapshots.remove("ctr")


def test_prune(service: ImageService, build: Build) -> None:
    tagged = _three_layer_image(service, build)
    dangling_layer = build["layer"]([("d", "file", "d")])
    archive, config = build["oci"]([dangling_layer], None)
    asyncio.run(service.load(build["chunks"](archive)))
    dangling = build["sha"](config)
    assert service.list(filters={"dangling": ["true"]})[0]["Id"] == dangling
    report = service.prune()
    assert {"Deleted": dangling} in report["ImagesDeleted"]
    assert report["SpaceReclaimed"] == 1
    assert service.prune() == {"ImagesDeleted": None, "SpaceReclaimed": 0}
    assert (
        service.prune(filters={"until": ["2000-01-01T00:00:00Z"], "dangling": ["false"]})[
            "ImagesDeleted"
        ]
        is None
    )
    report = service.prune(filters={"dangling": ["false"]})
    assert {"Untagged": "layered:1"} in report["ImagesDeleted"]
    assert {"Deleted": tagged} in report["ImagesDeleted"]
    assert service.list(all=True) == []


def test_list_filters(service: ImageService, build: Build) -> None:
    image_id = _three_layer_image(service, build)
    asyncio.run(
        service.import_rootfs(
            build["chunks"](build["layer"]([("f", "file", "1")])),
            repo="newer",
            changes=["LABEL tier=web"],
        )
    )
    assert [i["RepoTags"] for i in service.list()] == [["newer:latest"], ["layered:1"]]
    assert [i["Id"] for i in service.list(filters={"before": ["newer"]})] == [image_id]
    assert [i["RepoTags"] for i in service.list(filters={"since": ["layered:1"]})] == [
        ["newer:latest"]
    ]
    assert [i["RepoTags"] for i in service.list(filters={"label": ["tier=web"]})] == [
        ["newer:latest"]
    ]
    assert [i["RepoTags"] for i in service.list(filters={"reference": ["lay*"]})] == [["layered:1"]]
    assert service.list(filters={"dangling": ["true"]}) == []
    history = service.history("layered:1")
    assert history[0]["Id"] == image_id and history[0]["Tags"] == ["layered:1"]
    assert [h["CreatedBy"] for h in history] == ["layer 2", "layer 1", "layer 0"]
    assert history[-1]["Id"] == "<missing>"
    with pytest.raises(InvalidParameter):
        service.list(filters={"bogus": ["x"]})
