from __future__ import annotations

from pathlib import Path

from tests.unit.engine.containers.test_config import record

from minke.engine.containers import spec
from minke.engine.containers.rootfs import ExecUser


def test_default_capabilities_are_dockers_fourteen() -> None:
    caps = spec.capabilities({})
    assert len(caps) == 14
    # CapEff a80425fb is exactly these bits.
    bits = {"CHOWN": 0, "DAC_OVERRIDE": 1, "FOWNER": 3, "FSETID": 4, "KILL": 5, "SETGID": 6,
            "SETUID": 7, "SETPCAP": 8, "NET_BIND_SERVICE": 10, "NET_RAW": 13, "SYS_CHROOT": 18,
            "MKNOD": 27, "AUDIT_WRITE": 29, "SETFCAP": 31}
    mask = sum(1 << bits[c[4:]] for c in caps)
    assert mask == 0xA80425FB


def test_cap_add_and_drop() -> None:
    caps = spec.capabilities({"CapAdd": ["net_admin"], "CapDrop": ["CHOWN", "cap_kill"]})
    assert "CAP_NET_ADMIN" in caps and "CAP_CHOWN" not in caps and "CAP_KILL" not in caps
    assert spec.capabilities({"CapDrop": ["ALL"]}) == []


def test_env_order_matches_docker() -> None:
    r = record({"Env": ["HOSTNAME=over", "X=1"], "Tty": True})
    env = spec.process_env(r)
    assert env == ["PATH=/usr/bin:/bin", "HOSTNAME=over", "TERM=xterm", "X=1", "A=image"]
    assert spec.process_env(r, ["X=2"])[3] == "X=2"


def test_env_entries_without_a_value_unset_as_in_docker() -> None:
    # Compose sends `environment: [MAYBE]` as "MAYBE" when the client has no MAYBE: Docker
    # keeps it in Config.Env but never hands runc an entry without "=" (moby
    # ReplaceOrAppendEnvValues): it unsets a daemon default of that name, else is dropped.
    r = record({"Env": ["MAYBE", "HOSTNAME", "A=1", "A"]})
    assert r["Config"]["Env"][:4] == ["MAYBE", "HOSTNAME", "A=1", "A"]
    env = spec.process_env(r)
    assert all("=" in item for item in env)
    assert not any(item.startswith(("HOSTNAME=", "MAYBE")) for item in env)
    assert "A=1" in env  # only the daemon's defaults are unset, not earlier Config.Env


def test_exec_env_without_a_value_unsets_the_containers() -> None:
    r = record({"Env": ["B=2", "C=3"]})
    env = spec.process_env(r, ["B", "D=4", "PATH", "NOPE"])
    assert "B=2" not in env and "C=3" in env and "D=4" in env
    assert not any(item.startswith(("PATH=", "NOPE")) for item in env)
    # An exec with a TTY gets TERM even in a container without one, as Docker's does.
    assert "TERM=xterm" in spec.process_env(r, [], tty=True)
    assert "TERM=xterm" not in spec.process_env(r, [])


def test_runtime_spec_shape() -> None:
    r = record({"Cmd": ["echo", "hi"], "HostConfig": {"NetworkMode": "host",
                                                       "ReadonlyRootfs": True}})
    s = spec.runtime_spec(r, rootfs=Path("/rootfs"), user=ExecUser(1, 2, [3]),
                          cgroups_path="/minke/x")
    assert s["process"]["args"] == ["echo", "hi"]
    assert s["process"]["user"] == {"uid": 1, "gid": 2, "additionalGids": [3]}
    assert s["process"]["cwd"] == "/srv"
    assert s["root"] == {"path": "/rootfs", "readonly": True}
    kinds = {n["type"] for n in s["linux"]["namespaces"]}
    assert "network" not in kinds and {"pid", "ipc", "uts", "mount"} <= kinds
    dests = [m["destination"] for m in s["mounts"]]
    assert {"/proc", "/dev", "/dev/shm", "/etc/hosts", "/etc/resolv.conf"} <= set(dests)
    shm = next(m for m in s["mounts"] if m["destination"] == "/dev/shm")
    assert "size=67108864" in shm["options"]
    assert "/proc/kcore" in s["linux"]["maskedPaths"]
    assert s["hostname"] == "a" * 12


def test_privileged_lifts_masks_and_devices() -> None:
    r = record({"HostConfig": {"Privileged": True}})
    s = spec.runtime_spec(r, rootfs=Path("/r"), user=ExecUser(0, 0), cgroups_path="/m/x")
    assert s["linux"]["maskedPaths"] == []
    assert s["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    assert "CAP_SYS_ADMIN" in s["process"]["capabilities"]["bounding"]
