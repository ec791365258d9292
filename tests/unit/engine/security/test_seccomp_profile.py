"""minke's default seccomp profile, compiled per container, equals moby's default.json compiled
the way dockerd does (moby ``setupSeccomp``), for several capability sets and architectures.

The reference file is read from ``<repo>/../shared/reference/security/``; it is never copied
into minke, which states its profile in ``minke.engine.seccomp.profile``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from minke.engine.containers.security import DEFAULT_CAPABILITIES, KNOWN_CAPABILITIES
from minke.engine.seccomp import DEFAULT_PROFILE, compile_profile, load_profile
from minke.errors import InvalidParameter

REFERENCE = (Path(__file__).resolve().parents[4].parent / "shared" / "reference" / "security"
             / "moby-seccomp-default.json")
SCMP = {"amd64": "SCMP_ARCH_X86_64", "arm64": "SCMP_ARCH_AARCH64", "s390x": "SCMP_ARCH_S390X",
        "ppc64le": "SCMP_ARCH_PPC64LE", "riscv64": "SCMP_ARCH_RISCV64"}

CAP_SETS = {
    "docker-default": DEFAULT_CAPABILITIES,
    "none": [],
    "sys-admin": [*DEFAULT_CAPABILITIES, "CAP_SYS_ADMIN"],
    "ptrace-time-nice": [*DEFAULT_CAPABILITIES, "CAP_SYS_PTRACE", "CAP_SYS_TIME",
                         "CAP_SYS_NICE", "CAP_SYSLOG"],
    "all": KNOWN_CAPABILITIES,
}


def moby_setup_seccomp(doc: dict[str, Any], caps: list[str], arch: str,
                       kernel: tuple[int, int]) -> dict[str, Any]:
    """An independent transcription of moby profiles/seccomp ``setupSeccomp``."""
    out: dict[str, Any] = {"defaultAction": doc["defaultAction"], "architectures": [],
                           "syscalls": []}
    for entry in doc.get("archMap") or []:
        if entry["architecture"] == SCMP[arch]:
            out["architectures"] += [entry["architecture"], *(entry["subArchitectures"] or [])]
    for call in doc["syscalls"]:
        inc, exc = call.get("includes") or {}, call.get("excludes") or {}
        if inc.get("arches") and arch not in inc["arches"]:
            continue
        if any(c not in caps for c in inc.get("caps") or []):
            continue
        if arch in (exc.get("arches") or []):
            continue
        if any(c in caps for c in exc.get("caps") or []):
            continue
        if inc.get("minKernel"):
            major, minor = (int(x) for x in inc["minKernel"].split("."))
            if kernel < (major, minor):
                continue
        new: dict[str, Any] = {"names": call["names"], "action": call["action"]}
        if call.get("args"):
            new["args"] = [{"index": a["index"], "value": a["value"],
                            "valueTwo": a.get("valueTwo", 0), "op": a["op"]}
                           for a in call["args"]]
        if "errnoRet" in call:
            new["errnoRet"] = call["errnoRet"]
        out["syscalls"].append(new)
    if "defaultErrnoRet" in doc:
        out["defaultErrnoRet"] = doc["defaultErrnoRet"]
    return out


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    if not REFERENCE.exists():
        pytest.skip(f"reference profile not found at {REFERENCE}")
    return json.loads(REFERENCE.read_text())


@pytest.mark.parametrize("caps_name", sorted(CAP_SETS))
@pytest.mark.parametrize("arch", ["amd64", "arm64", "s390x"])
@pytest.mark.parametrize("kernel", [(6, 1), (4, 4)])
def test_default_profile_compiles_as_mobys(reference: dict[str, Any], caps_name: str,
                                           arch: str, kernel: tuple[int, int]) -> None:
    caps = list(CAP_SETS[caps_name])
    ours = compile_profile(DEFAULT_PROFILE, caps, arch=arch, kernel=kernel)
    assert ours == moby_setup_seccomp(reference, caps, arch, kernel)


def test_default_profile_denies_mount_without_sys_admin() -> None:
    allowed = {n for call in compile_profile(DEFAULT_PROFILE, DEFAULT_CAPABILITIES)["syscalls"]
               if call["action"] == "SCMP_ACT_ALLOW" and not call.get("args")
               for n in call["names"]}
    assert {"read", "write", "execve"} <= allowed
    assert not {"mount", "init_module", "finit_module", "unshare", "reboot"} & allowed


def test_user_profile_in_mobys_format_compiles_like_the_default(reference: dict[str, Any]) -> None:
    profile = load_profile(json.dumps(reference), "default.json")
    assert compile_profile(profile, DEFAULT_CAPABILITIES, arch="amd64", kernel=(6, 1)) == \
        compile_profile(DEFAULT_PROFILE, DEFAULT_CAPABILITIES, arch="amd64", kernel=(6, 1))


def test_invalid_profile_names_its_source() -> None:
    with pytest.raises(InvalidParameter, match="my.json"):
        load_profile("{not json", "my.json")
    with pytest.raises(InvalidParameter, match="my.json"):
        load_profile('{"syscalls": [{"names": ["read"]}]}', "my.json")
