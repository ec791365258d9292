"""Compile a seccomp profile for one container: its capabilities, this machine's architecture
and kernel decide which rules apply (what dockerd's ``setupSeccomp`` does at each start).

Also reads profiles in moby's JSON format (``--security-opt seccomp=profile.json``) into the
same ``Profile`` rules, so a user's profile is compiled exactly like minke's default.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Iterable
from typing import Any

from minke.engine.seccomp.profile import Arg, Profile, Rule
from minke.errors import InvalidParameter

# Go's GOARCH (the names moby's rules use) and libseccomp's name for the native ABI.
_GOARCH = {
    "x86_64": "amd64", "aarch64": "arm64", "i686": "386", "i386": "386", "armv7l": "arm",
    "s390x": "s390x", "ppc64le": "ppc64le", "riscv64": "riscv64", "loongarch64": "loong64",
    "mips64": "mips64", "mips64el": "mips64le",
}
_SCMP_ARCH = {
    "amd64": "SCMP_ARCH_X86_64", "arm64": "SCMP_ARCH_AARCH64", "386": "SCMP_ARCH_X86",
    "arm": "SCMP_ARCH_ARM", "s390x": "SCMP_ARCH_S390X", "ppc64le": "SCMP_ARCH_PPC64LE",
    "riscv64": "SCMP_ARCH_RISCV64", "loong64": "SCMP_ARCH_LOONGARCH64",
    "mips64": "SCMP_ARCH_MIPS64", "mips64le": "SCMP_ARCH_MIPSEL64",
}


def host_arch() -> str:
    """This machine's architecture as Go names it (``amd64``)."""
    machine = platform.machine()
    return _GOARCH.get(machine, machine)


def host_kernel() -> tuple[int, int]:
    release = os.uname().release
    return _version(release.split("-", 1)[0])


def _version(text: str) -> tuple[int, int]:
    parts = (text.split(".") + ["0"])[:2]
    try:
        return int(parts[0]), int("".join(ch for ch in parts[1] if ch.isdigit()) or 0)
    except ValueError:
        raise InvalidParameter(f"invalid kernel version in seccomp profile: {text!r}") from None


def _applies(rule: Rule, caps: set[str], arch: str, kernel: tuple[int, int]) -> bool:
    if rule.arches and arch not in rule.arches:
        return False
    if rule.caps and not all(c in caps for c in rule.caps):
        return False
    if rule.not_arches and arch in rule.not_arches:
        return False
    if rule.not_caps and any(c in caps for c in rule.not_caps):
        return False
    return rule.min_kernel is None or kernel >= rule.min_kernel


def _syscall(rule: Rule) -> dict[str, Any]:
    call: dict[str, Any] = {"names": list(rule.names), "action": rule.action}
    if rule.args:
        call["args"] = [
            {"index": a.index, "value": a.value, "valueTwo": a.value_two, "op": a.op}
            for a in rule.args
        ]
    if rule.errno is not None:
        call["errnoRet"] = rule.errno
    return call


def compile_profile(
    profile: Profile, capabilities: Iterable[str], *, arch: str | None = None,
    kernel: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """The OCI ``linux.seccomp`` object for a container whose bounding set is
    ``capabilities``, on ``arch`` (Go name, default this machine's) and ``kernel``."""
    arch = arch or host_arch()
    kernel = kernel or host_kernel()
    caps = set(capabilities)
    native = _SCMP_ARCH.get(arch)
    architectures: list[str] = []
    for name, subs in profile.arch_map.items():
        if name == native:
            architectures += [name, *subs]
    seccomp: dict[str, Any] = {
        "defaultAction": profile.default_action,
        "architectures": architectures,
        "syscalls": [_syscall(r) for r in profile.rules if _applies(r, caps, arch, kernel)],
    }
    if profile.default_errno is not None:
        seccomp["defaultErrnoRet"] = profile.default_errno
    return seccomp


def load_profile(text: str | bytes, source: str = "seccomp profile") -> Profile:
    """A profile in moby's JSON format (``seccomp/default.json`` and the profiles users
    write for Docker); errors name ``source`` and say what is wrong, as dockerd's do."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise InvalidParameter(f"Decoding seccomp profile failed: {source}: {exc}") from None
    if not isinstance(doc, dict):
        raise InvalidParameter(f"Decoding seccomp profile failed: {source}: not a JSON object")
    try:
        return _profile(doc)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InvalidParameter(
            f"Decoding seccomp profile failed: {source}: invalid field {exc}"
        ) from None


def _profile(doc: dict[str, Any]) -> Profile:
    arch_map: dict[str, tuple[str, ...]] = {}
    if doc.get("architectures") and doc.get("archMap"):
        raise InvalidParameter(
            "both 'architectures' and 'archMap' are specified in the seccomp profile, "
            "use either 'architectures' or 'archMap'"
        )
    for entry in doc.get("archMap") or []:
        arch_map[entry["architecture"]] = tuple(entry.get("subArchitectures") or ())
    for name in doc.get("architectures") or []:
        # The old flat list names every ABI itself; each stands alone.
        arch_map[name] = ()
    rules = tuple(_rule(call) for call in doc.get("syscalls") or [])
    return Profile(
        default_action=str(doc.get("defaultAction") or ""),
        default_errno=doc.get("defaultErrnoRet"),
        arch_map=arch_map,
        rules=rules,
    )


def _rule(call: dict[str, Any]) -> Rule:
    if call.get("name") and call.get("names"):
        raise InvalidParameter("use either 'name' or 'names'")
    names = tuple(call.get("names") or [call["name"]])
    includes = call.get("includes") or {}
    excludes = call.get("excludes") or {}
    min_kernel = includes.get("minKernel")
    return Rule(
        names=names,
        action=str(call["action"]),
        args=tuple(
            Arg(int(a["index"]), int(a["value"]), str(a["op"]), int(a.get("valueTwo") or 0))
            for a in call.get("args") or []
        ),
        caps=tuple(includes.get("caps") or ()),
        not_caps=tuple(excludes.get("caps") or ()),
        arches=tuple(includes.get("arches") or ()),
        not_arches=tuple(excludes.get("arches") or ()),
        min_kernel=_version(min_kernel) if min_kernel else None,
        errno=call.get("errnoRet"),
    )
