"""Capabilities, --security-opt, sysctls, ulimits and namespace modes: parsing, Docker's
error texts, and what they make of the OCI spec."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from minke.engine.containers.security import (
    DEFAULT_CAPABILITIES,
    SecurityExtension,
    all_capabilities,
    capabilities,
    inline_seccomp_file,
    normalize_capabilities,
    parse_security_opts,
    rlimits,
    seccomp_profile,
    validate_modes,
    validate_sysctls,
)
from minke.errors import Conflict, InvalidParameter, NoSuchContainer


def test_default_capabilities_are_dockers_a80425fb() -> None:
    from minke.engine.containers.security import KNOWN_CAPABILITIES

    mask = sum(1 << KNOWN_CAPABILITIES.index(c) for c in capabilities({}))
    assert f"{mask:x}" == "a80425fb"


def test_cap_add_drop_and_all() -> None:
    caps = capabilities({"CapAdd": ["CAP_NET_ADMIN"], "CapDrop": ["CAP_CHOWN"]})
    assert "CAP_NET_ADMIN" in caps and "CAP_CHOWN" not in caps
    assert capabilities({"CapDrop": ["ALL"], "CapAdd": ["CAP_KILL"]}) == ["CAP_KILL"]
    assert capabilities({"Privileged": True}) == all_capabilities()


def test_unknown_capability_is_dockers_error() -> None:
    assert normalize_capabilities(["net_admin", "ALL"], "CapAdd") == ["CAP_NET_ADMIN", "ALL"]
    with pytest.raises(InvalidParameter, match='invalid CapAdd: unknown capability: "CAP_FOO"'):
        normalize_capabilities(["foo"], "CapAdd")
    with pytest.raises(InvalidParameter, match="invalid CapDrop"):
        normalize_capabilities(["CAP_NOPE"], "CapDrop")


def test_security_opts() -> None:
    assert parse_security_opts(["no-new-privileges"]).no_new_privileges
    assert parse_security_opts(["no-new-privileges:true"]).no_new_privileges
    assert not parse_security_opts(["no-new-privileges=false"]).no_new_privileges
    assert parse_security_opts(["seccomp=unconfined"]).seccomp == "unconfined"
    assert parse_security_opts(["apparmor=unconfined", "label=disable"]).seccomp == "default"
    with pytest.raises(InvalidParameter, match='invalid --security-opt 2: "bogus=1"'):
        parse_security_opts(["bogus=1"])
    with pytest.raises(InvalidParameter, match="invalid --security-opt 1"):
        parse_security_opts(["bogus"])


def test_seccomp_modes() -> None:
    assert seccomp_profile({"Privileged": True}, []) is None
    assert seccomp_profile({"SecurityOpt": ["seccomp=unconfined"]}, []) is None
    default = seccomp_profile({}, DEFAULT_CAPABILITIES)
    assert default is not None and default["defaultErrnoRet"] == 1
    custom = json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]})
    compiled = seccomp_profile({"SecurityOpt": [f"seccomp={custom}"]}, DEFAULT_CAPABILITIES)
    assert compiled == {"defaultAction": "SCMP_ACT_ALLOW", "architectures": [],
                        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}


def test_seccomp_file_is_inlined_and_bad_files_are_named(tmp_path: Path) -> None:
    good = tmp_path / "p.json"
    good.write_text('{ "defaultAction": "SCMP_ACT_ALLOW" }')
    inlined = inline_seccomp_file([f"seccomp={good}"])
    assert inlined == ['seccomp={"defaultAction":"SCMP_ACT_ALLOW"}']
    missing = tmp_path / "missing.json"
    with pytest.raises(InvalidParameter, match=f"opening seccomp profile \\({missing}\\) failed"):
        inline_seccomp_file([f"seccomp={missing}"])
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(InvalidParameter, match="bad.json"):
        inline_seccomp_file([f"seccomp={bad}"])


@pytest.mark.parametrize(("host", "message"), [
    ({"Sysctls": {"vm.swappiness": "1"}}, 'sysctl "vm.swappiness" is not in a separate'),
    ({"Sysctls": {"kernel.shmmax": "1"}, "IpcMode": "host"}, "host IPC namespace"),
    ({"Sysctls": {"net.ipv4.ip_forward": "1"}, "NetworkMode": "host"}, "host network"),
])
def test_sysctls_only_of_own_namespaces(host: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        validate_sysctls(host)
    validate_sysctls({"Sysctls": {"kernel.shmmax": "1", "net.ipv4.ip_forward": "1",
                                  "fs.mqueue.msg_max": "10"}})


def test_ulimits() -> None:
    assert rlimits({"Ulimits": [{"Name": "nofile", "Soft": 100, "Hard": 200}]}) == [
        {"type": "RLIMIT_NOFILE", "hard": 200, "soft": 100}]
    with pytest.raises(InvalidParameter, match="invalid ulimit type: bogus"):
        rlimits({"Ulimits": [{"Name": "bogus", "Soft": 1, "Hard": 1}]})
    with pytest.raises(InvalidParameter, match="soft limit must be less than or equal"):
        rlimits({"Ulimits": [{"Name": "nofile", "Soft": 2, "Hard": 1}]})


def test_namespace_modes() -> None:
    validate_modes({"PidMode": "host", "IpcMode": "container:db", "UTSMode": "",
                    "UsernsMode": "host"})
    for field, value, label in (("PidMode", "bogus", "PID"), ("IpcMode", "x", "IPC"),
                                ("UTSMode", "private", "UTS"), ("UsernsMode", "remap", "USER")):
        with pytest.raises(InvalidParameter, match=f"invalid {label} mode: {value}"):
            validate_modes({field: value})


def _spec() -> dict[str, Any]:
    return {"hostname": "x", "process": {"capabilities": {"bounding": DEFAULT_CAPABILITIES}},
            "mounts": [{"destination": "/dev/shm"}],
            "linux": {"namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}],
                      "maskedPaths": ["/proc/kcore"], "readonlyPaths": ["/proc/sys"]}}


def test_extension_joins_namespaces_of_a_running_container() -> None:
    others = {"db": {"State": {"Running": True, "Pid": 4242}},
              "off": {"State": {"Running": False, "Pid": 0}}}

    def lookup(ref: str) -> dict[str, Any]:
        if ref not in others:
            raise NoSuchContainer(ref)
        return others[ref]

    ext = SecurityExtension(lookup)
    spec = _spec()
    record = {"HostConfig": {"PidMode": "container:db", "UTSMode": "container:db",
                             "IpcMode": "none", "SecurityOpt": ["systempaths=unconfined"],
                             "Sysctls": {"kernel.shmmax": "1"},
                             "Ulimits": [{"Name": "nproc", "Soft": 5, "Hard": 5}]}}
    asyncio.run(ext.prepare(record, spec, Path("/")))
    assert {"type": "pid", "path": "/proc/4242/ns/pid"} in spec["linux"]["namespaces"]
    assert {"type": "uts", "path": "/proc/4242/ns/uts"} in spec["linux"]["namespaces"]
    assert "hostname" not in spec and spec["mounts"] == []
    assert spec["linux"]["maskedPaths"] == [] and spec["linux"]["sysctl"] == {"kernel.shmmax": "1"}
    assert spec["process"]["rlimits"] == [{"type": "RLIMIT_NPROC", "hard": 5, "soft": 5}]
    assert spec["linux"]["seccomp"]["defaultAction"] == "SCMP_ACT_ERRNO"
    with pytest.raises(Conflict, match="cannot join PID of a non running container: off"):
        asyncio.run(ext.prepare({"HostConfig": {"PidMode": "container:off"}}, _spec(), Path("/")))
    with pytest.raises(NoSuchContainer):
        asyncio.run(ext.prepare({"HostConfig": {"IpcMode": "container:gone"}}, _spec(), Path("/")))
