"""The volume store, the local driver's options and the service's rules, on a temporary
directory and a real SQLite database."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from minke.engine.events import EventBus
from minke.engine.fsutil import directory_size
from minke.engine.state import StateDB
from minke.engine.volumes import local
from minke.engine.volumes.mountpoint import MountPoint
from minke.engine.volumes.service import VolumeService
from minke.engine.volumes.store import VolumeStore
from minke.errors import Conflict, InvalidParameter, NotFound, NotSupported


def service(tmp_path: Path) -> VolumeService:
    return VolumeService(root=tmp_path / "volumes", db=StateDB(tmp_path / "db"),
                         events=EventBus())


def test_create_inspect_is_idempotent(tmp_path: Path) -> None:
    svc = service(tmp_path)
    doc = svc.create("data", labels={"a": "b"})
    assert svc.create("data") == doc
    view = svc.inspect("data")
    assert set(view) == {"CreatedAt", "Driver", "Labels", "Mountpoint", "Name", "Options",
                         "Scope"}
    assert view["Mountpoint"] == str(tmp_path / "volumes" / "data" / "_data")
    assert Path(view["Mountpoint"]).is_dir() and view["Labels"] == {"a": "b"}
    anon = svc.create("")
    assert len(anon["Name"]) == 64 and anon["Anonymous"]


def test_bad_names_drivers_options(tmp_path: Path) -> None:
    svc = service(tmp_path)
    with pytest.raises(InvalidParameter, match="includes invalid characters"):
        svc.create("a/b")
    with pytest.raises(NotFound, match='plugin "nfs9" not found'):
        svc.create("x1", driver="nfs9")
    with pytest.raises(InvalidParameter, match='invalid option: "foo"'):
        svc.create("x1", options={"foo": "bar"})
    with pytest.raises(InvalidParameter, match='missing required option: "type"'):
        svc.create("x1", options={"device": "tmpfs"})
    with pytest.raises(NotSupported):
        svc.create("x1", options={"size": "1g"})
    with pytest.raises(InvalidParameter, match="absolute"):
        local.check_options("x1", {"type": "none", "o": "bind", "device": "rel"})
    assert svc.list() == [] and list((tmp_path / "volumes").iterdir()) == []


def test_in_use_refused_then_removed(tmp_path: Path) -> None:
    svc = service(tmp_path)
    svc.create("data")
    svc.save_plan("c1", [MountPoint(type="volume", destination="/d", name="data")])
    with pytest.raises(Conflict, match=r"remove data: volume is in use - \[c1\]"):
        asyncio.run(svc.remove("data", force=True))
    assert svc.list({"dangling": ["false"]})[0]["Name"] == "data"
    assert svc.list({"dangling": ["true"]}) == []
    svc.drop_plan("c1")
    asyncio.run(svc.remove("data"))
    assert not (tmp_path / "volumes" / "data").exists()
    with pytest.raises(NotFound, match="get data: no such volume"):
        asyncio.run(svc.remove("data"))
    asyncio.run(svc.remove("data", force=True))  # force: a missing volume is no error


def test_plans_and_records_survive_reopen(tmp_path: Path) -> None:
    svc = service(tmp_path)
    svc.create("data")
    (Path(svc.inspect("data")["Mountpoint"]) / "f").write_text("kept")
    svc.save_plan("c1", [MountPoint(type="volume", destination="/d", name="data")])
    again = service(tmp_path)
    assert again.users("data") == ["c1"]
    assert (Path(again.inspect("data")["Mountpoint"]) / "f").read_text() == "kept"


def test_recover_removes_directories_without_record(tmp_path: Path) -> None:
    store = VolumeStore(tmp_path / "v", StateDB(tmp_path / "db"))
    store.create("keep", driver="local", options={}, labels={})
    (tmp_path / "v" / "half-created" / "_data").mkdir(parents=True)
    (tmp_path / "v" / ".trash-old-1234").mkdir()
    store.recover(lambda path: False)
    assert sorted(p.name for p in (tmp_path / "v").iterdir()) == ["keep"]


def test_filters_and_prune(tmp_path: Path) -> None:
    svc = service(tmp_path)
    svc.create("web-data", labels={"team": "web"})
    svc.create("db-data", labels={"team": "db", "tier": "1"})
    assert [v["Name"] for v in svc.list({"name": ["web"]})] == ["web-data"]
    assert [v["Name"] for v in svc.list({"label": ["team=db"]})] == ["db-data"]
    assert [v["Name"] for v in svc.list({"label": ["tier"]})] == ["db-data"]
    assert len(svc.list({"driver": ["local"]})) == 2
    with pytest.raises(InvalidParameter, match="Invalid filter 'colour'"):
        svc.list({"colour": ["red"]})
    (Path(svc.inspect("db-data")["Mountpoint"]) / "f").write_bytes(b"x" * 100)
    report = asyncio.run(svc.prune({"label!": ["team=web"]}))
    assert report == {"VolumesDeleted": ["db-data"], "SpaceReclaimed": 100}


def test_directory_size_counts_hard_links_once(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"1" * 10)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "b").write_bytes(b"2" * 5)
    (tmp_path / "d" / "hard").hardlink_to(tmp_path / "a")
    (tmp_path / "d" / "sym").symlink_to("/etc/passwd")
    assert directory_size(tmp_path) == 15
