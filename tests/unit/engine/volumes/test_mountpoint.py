"""Parsing and precedence of -v, --mount, --tmpfs, --volumes-from and image volumes."""

from __future__ import annotations

import pytest

from minke.engine.volumes.extension import merge_mounts, root_propagation
from minke.engine.volumes.mountpoint import MountPoint, parse_bind, parse_mount, parse_tmpfs, plan
from minke.errors import InvalidParameter


def no_inherit(ref: str) -> list[MountPoint]:
    raise AssertionError(f"unexpected --volumes-from {ref}")


def test_bind_named_and_anonymous() -> None:
    bind = parse_bind("/srv/data/:/data:ro,rshared")
    assert (bind.type, bind.source, bind.destination, bind.rw, bind.mode, bind.propagation) == (
        "bind", "/srv/data", "/data", False, "ro,rshared", "rshared")
    assert bind.create_source
    named = parse_bind("db:/var/lib/db")
    assert (named.type, named.name, named.mode, named.copy_data, named.anonymous) == (
        "volume", "db", "z", True, False)
    assert not parse_bind("db:/x:nocopy").copy_data
    anon = parse_bind("/only")
    assert anon.type == "volume" and anon.anonymous and anon.name == ""
    assert parse_bind("/h:/c").docker_view() == {
        "Type": "bind", "Source": "/h", "Destination": "/c", "Mode": "", "RW": True,
        "Propagation": "rprivate"}


@pytest.mark.parametrize("spec,message", [
    ("a/b:/x", '"a/b" includes invalid characters for a local volume name'),
    ("/a:rel", "invalid volume specification: '/a:rel': invalid mount config for type "
               "\"bind\": invalid mount path: 'rel' mount path must be absolute"),
    ("/a:/", "destination can't be '/'"),
    ("/a:/b:bogus", "invalid mode: bogus"),
    ("/a:/b:ro,rw", "invalid mode: ro,rw"),
    ("/a:/b:c:d", "invalid volume specification: '/a:/b:c:d'"),
    ("vol:/b:rshared", "propagation applies to bind mounts only"),
])
def test_bad_binds(spec: str, message: str) -> None:
    with pytest.raises(InvalidParameter, match=None) as err:
        parse_bind(spec)
    assert message in err.value.message


def test_mount_types_and_errors() -> None:
    volume = parse_mount({"Type": "volume", "Target": "/v", "VolumeOptions": {
        "NoCopy": True, "Labels": {"a": "b"}, "DriverConfig": {"Name": "local"}}})
    assert volume.anonymous and not volume.copy_data and volume.labels == {"a": "b"}
    tmpfs = parse_mount({"Type": "tmpfs", "Target": "/t",
                         "TmpfsOptions": {"SizeBytes": 2 << 20, "Mode": 0o1770}})
    assert tmpfs.tmpfs_options == ["nosuid", "nodev", "noexec", "size=2048k", "mode=1770"]
    bind = parse_mount({"Type": "bind", "Source": "/s", "Target": "/d"})
    assert not bind.create_source and bind.propagation == "rprivate"
    for mount, message in [
        ({"Type": "bind", "Source": "rel", "Target": "/d"},
         "invalid mount path: 'rel' mount path must be absolute"),
        ({"Type": "bind", "Target": "/d"}, "field Source must not be empty"),
        ({"Type": "tmpfs", "Source": "x", "Target": "/d"}, "field Source must not be specified"),
        ({"Type": "volume", "Target": "d"}, "invalid mount path: 'd' mount path must be absolute"),
        ({"Type": "npipe", "Target": "/d"}, "mount type unknown"),
        ({"Type": "volume", "Target": "/d", "BindOptions": {"Propagation": "shared"}},
         "field BindOptions must not be specified"),
        ({"Type": "bind", "Source": "/s", "Target": "/d",
          "BindOptions": {"Propagation": "sideways"}}, "invalid propagation mode: sideways"),
    ]:
        with pytest.raises(InvalidParameter) as err:
            parse_mount(mount)
        assert message in err.value.message


def test_tmpfs_options_merge_with_defaults() -> None:
    assert parse_tmpfs("/t", "").tmpfs_options == ["nosuid", "nodev", "noexec"]
    point = parse_tmpfs("/t", "exec,size=1m,ro")
    assert point.tmpfs_options == ["nosuid", "nodev", "exec", "size=1m", "ro"]
    assert not point.rw


def test_precedence_and_conflicts() -> None:
    inherited = [MountPoint(type="volume", destination="/a", name="fromc", anonymous=True,
                            created=True),
                 MountPoint(type="volume", destination="/b", name="fromc2")]
    points = plan({"VolumesFrom": ["other:ro"], "Binds": ["/h:/b"], "Tmpfs": {"/t": ""}},
                  {"/a": {}, "/img": {}, "/t": {}}, lambda ref: inherited)
    by_dest = {p.destination: p for p in points}
    assert by_dest["/a"].name == "fromc" and not by_dest["/a"].rw  # inherited, mode applied
    assert not by_dest["/a"].created  # never undone by this container
    assert by_dest["/b"].type == "bind"  # -v overrides --volumes-from
    assert by_dest["/img"].anonymous and by_dest["/img"].copy_data
    assert by_dest["/t"].type == "tmpfs"  # an image volume does not replace a tmpfs
    for host in ({"Binds": ["/h:/x", "/i:/x/"]},
                 {"Binds": ["/h:/x"], "Mounts": [{"Type": "tmpfs", "Target": "/x"}]},
                 {"Binds": ["/h:/x"], "Tmpfs": {"/x": ""}}):
        with pytest.raises(InvalidParameter, match="Duplicate mount point: /x"):
            plan(host, None, no_inherit)


def test_plan_sorted_parents_first() -> None:
    points = plan({"Binds": ["/h:/a/b/c", "/h:/a"], "Tmpfs": {"/a/b": ""}}, None, no_inherit)
    assert [p.destination for p in points] == ["/a", "/a/b", "/a/b/c"]


def test_merge_mounts_replaces_defaults_and_orders_by_depth() -> None:
    spec = {"mounts": [{"destination": d} for d in
                       ("/proc", "/dev", "/dev/pts", "/dev/shm", "/etc/hosts")]}
    merge_mounts(spec, [{"destination": "/dev/shm", "user": True},
                        {"destination": "/data", "user": True},
                        {"destination": "/proc/x", "user": True}])
    assert [m["destination"] for m in spec["mounts"]] == [
        "/proc", "/dev", "/data", "/dev/pts", "/etc/hosts", "/dev/shm", "/proc/x"]
    assert spec["mounts"][5].get("user")
    spec = {"mounts": [{"destination": "/dev"}, {"destination": "/dev/pts"}]}
    merge_mounts(spec, [{"destination": "/dev"}])
    assert spec["mounts"] == [{"destination": "/dev"}]


def test_root_propagation() -> None:
    assert root_propagation([parse_bind("/a:/a:rslave"), parse_bind("/b:/b:rshared")]) == \
        "rshared"
    assert root_propagation([parse_bind("/a:/a:slave")]) == "rslave"
    assert root_propagation([parse_bind("/a:/a")]) == ""
