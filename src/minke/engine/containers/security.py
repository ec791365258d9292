"""What a container may do, as Docker decides it: capabilities, seccomp, sysctls, ulimits,
``--security-opt``, and which namespaces it shares (``--pid``, ``--ipc``, ``--uts``,
``--userns``).

``SecurityExtension`` validates these ``HostConfig`` fields when a container is created
(Docker's error texts, 400) and amends the OCI spec before each start. The base spec
(default capabilities, masked paths, device rules) is ``spec.py``'s; resource limits are
``resources.py``'s.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from minke.engine.containers.extensions import ContainerExtension
from minke.engine.seccomp import DEFAULT_PROFILE, Profile, compile_profile, load_profile
from minke.errors import Conflict, InvalidParameter

Record = dict[str, Any]

# Docker's default capability set (CapEff a80425fb).
DEFAULT_CAPABILITIES = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
]

# Every capability, in the kernel's numbering (capability.h); a kernel knows the first
# cap_last_cap + 1 of them.
KNOWN_CAPABILITIES = [
    "CAP_" + n for n in (
        "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
        "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST",
        "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO",
        "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
        "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE",
        "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM",
        "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
    )
]

# Sysctls that live in a namespace the container owns (runc's list, moby's validation):
# anything else would change the host.
_IPC_SYSCTLS = {
    "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
    "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced",
}
_UTS_SYSCTLS = {"kernel.domainname", "kernel.hostname"}

# `--ulimit` names (go-units ulimit.go) → the OCI rlimit type.
ULIMITS = {
    "core": "RLIMIT_CORE", "cpu": "RLIMIT_CPU", "data": "RLIMIT_DATA", "fsize": "RLIMIT_FSIZE",
    "locks": "RLIMIT_LOCKS", "memlock": "RLIMIT_MEMLOCK", "msgqueue": "RLIMIT_MSGQUEUE",
    "nice": "RLIMIT_NICE", "nofile": "RLIMIT_NOFILE", "nproc": "RLIMIT_NPROC",
    "rss": "RLIMIT_RSS", "rtprio": "RLIMIT_RTPRIO", "rttime": "RLIMIT_RTTIME",
    "sigpending": "RLIMIT_SIGPENDING", "stack": "RLIMIT_STACK", "as": "RLIMIT_AS",
}

# Namespace modes: which values each HostConfig field takes besides "container:<id>".
_MODES = {
    "PidMode": ("pid", "PID", {"", "host"}),
    "IpcMode": ("ipc", "IPC", {"", "host", "private", "shareable", "none"}),
    "UTSMode": ("uts", "UTS", {"", "host"}),
}


def all_capabilities() -> list[str]:
    """Every capability this kernel knows and minked itself may grant (``--privileged``,
    ``--cap-add ALL``). A daemon whose bounding set lacks some (a VM or an outer container
    started without CAP_SYS_RESOURCE, say) cannot pass them on: runc would fail the start
    with "unable to apply caps", as dockerd's containers do on such a host."""
    last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    bounding = _own_bounding_set()
    return [c for i, c in enumerate(KNOWN_CAPABILITIES[: last + 1]) if bounding >> i & 1]


def _own_bounding_set() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapBnd:"):
            return int(line.split()[1], 16)
    return (1 << len(KNOWN_CAPABILITIES)) - 1


def normalize_capabilities(values: list[str] | None, field: str) -> list[str]:
    """``net_admin``, ``NET_ADMIN``, ``CAP_NET_ADMIN`` → ``CAP_NET_ADMIN``; ``ALL`` stays."""
    out = []
    for value in values or []:
        if not isinstance(value, str):
            raise InvalidParameter(f"invalid {field}: capabilities must be strings")
        name = value.strip().upper()
        if name == "ALL":
            out.append(name)
            continue
        name = name if name.startswith("CAP_") else "CAP_" + name
        if name not in KNOWN_CAPABILITIES:
            raise InvalidParameter(f'invalid {field}: unknown capability: "{name}"')
        if field == "CapAdd" and name not in all_capabilities():
            raise InvalidParameter(
                f'invalid {field}: capability "{name}" is not available: minked does not '
                "hold it (its bounding set lacks it), so no container can get it")
        out.append(name)
    return out


def capabilities(host_config: dict[str, Any]) -> list[str]:
    """The container's bounding = effective = permitted set (moby ``TweakCapabilities``)."""
    if host_config.get("Privileged"):
        return all_capabilities()
    add = [_cap_name(c) for c in host_config.get("CapAdd") or []]
    drop = {_cap_name(c) for c in host_config.get("CapDrop") or []}
    caps = all_capabilities() if "CAP_ALL" in add else list(DEFAULT_CAPABILITIES)
    if "CAP_ALL" in drop:
        caps = []
    caps = [c for c in caps if c not in drop]
    caps += [c for c in add if c != "CAP_ALL" and c not in caps]
    return caps


def _cap_name(cap: str) -> str:
    cap = cap.upper()
    return cap if cap.startswith("CAP_") else "CAP_" + cap


@dataclass(frozen=True)
class SecurityOptions:
    """``HostConfig.SecurityOpt`` parsed (moby ``parseSecurityOpt``)."""

    no_new_privileges: bool = False
    seccomp: str = "default"  # "default", "unconfined", or a JSON profile
    unmask_system_paths: bool = False  # systempaths=unconfined


def parse_security_opts(opts: list[str] | None) -> SecurityOptions:
    nnp, seccomp, unmask = False, "default", False
    for opt in opts or []:
        if opt == "no-new-privileges":
            nnp = True
            continue
        if opt == "disable":  # label=disable's old spelling: minke has no SELinux labels
            continue
        sep = "=" if "=" in opt else ":"
        key, found, value = opt.partition(sep)
        if not found:
            raise InvalidParameter(f'invalid --security-opt 1: "{opt}"')
        if key == "no-new-privileges":
            if value.lower() not in ("true", "false", "1", "0"):
                raise InvalidParameter(f'invalid --security-opt 2: "{opt}"')
            nnp = value.lower() in ("true", "1")
        elif key == "seccomp":
            seccomp = "default" if value == "builtin" else value
        elif key == "systempaths":
            if value != "unconfined":
                raise InvalidParameter(f'invalid --security-opt 2: "{opt}"')
            unmask = True
        elif key in ("label", "apparmor"):
            pass  # minke applies no LSM profile; Docker's values are accepted and ignored
        else:
            raise InvalidParameter(f'invalid --security-opt 2: "{opt}"')
    return SecurityOptions(nnp, seccomp, unmask)


def no_new_privileges(host_config: dict[str, Any]) -> bool:
    return parse_security_opts(host_config.get("SecurityOpt")).no_new_privileges


def inline_seccomp_file(opts: list[str] | None) -> list[str] | None:
    """``seccomp=/path/profile.json`` read now and stored as its JSON, as the docker CLI
    sends it: the record then starts the same way even if the file changes or goes.
    An unreadable or invalid file is a 400 that names it."""
    if not opts:
        return opts
    out = []
    for opt in opts:
        key, sep, value = opt.partition("=") if "=" in opt else opt.partition(":")
        if key == "seccomp" and sep and value not in ("unconfined", "builtin", "default") \
                and not value.lstrip().startswith("{"):
            try:
                text = Path(value).read_text()
            except (OSError, UnicodeDecodeError) as exc:
                reason = getattr(exc, "strerror", None) or str(exc)
                raise InvalidParameter(
                    f"opening seccomp profile ({value}) failed: open {value}: {reason.lower()}"
                ) from None
            load_profile(text, value)
            opt = "seccomp=" + json.dumps(json.loads(text), separators=(",", ":"))
        out.append(opt)
    return out


def seccomp_profile(host_config: dict[str, Any], caps: list[str]) -> dict[str, Any] | None:
    """The compiled ``linux.seccomp``, or None when the container runs unconfined
    (``--privileged`` or ``seccomp=unconfined``, as Docker)."""
    if host_config.get("Privileged"):
        return None
    choice = parse_security_opts(host_config.get("SecurityOpt")).seccomp
    if choice == "unconfined":
        return None
    profile: Profile = DEFAULT_PROFILE if choice == "default" else load_profile(choice)
    return compile_profile(profile, caps)


def validate_sysctls(host: dict[str, Any]) -> None:
    """Only sysctls of the container's own namespaces, and not of one it shares."""
    sysctls = host.get("Sysctls") or {}
    if not isinstance(sysctls, dict):
        raise InvalidParameter("invalid Sysctls: expected a map of strings")
    for key in sysctls:
        if key in _IPC_SYSCTLS or key.startswith("fs.mqueue."):
            if host.get("IpcMode") == "host":
                raise InvalidParameter(f'sysctl "{key}" not allowed in host IPC namespace')
        elif key.startswith("net."):
            if host.get("NetworkMode") == "host":
                raise InvalidParameter(
                    f'--sysctl "{key}" is not allowed in the host network namespace')
        elif key in _UTS_SYSCTLS:
            if host.get("UTSMode") == "host":
                raise InvalidParameter(f'sysctl "{key}" not allowed in host UTS namespace')
        else:
            raise InvalidParameter(f'sysctl "{key}" is not in a separate kernel namespace')


def rlimits(host: dict[str, Any]) -> list[dict[str, Any]]:
    """``HostConfig.Ulimits`` as OCI ``process.rlimits``; a bad one is a 400 naming it."""
    out = []
    for ulimit in host.get("Ulimits") or []:
        name = str(ulimit.get("Name", ""))
        if name not in ULIMITS:
            raise InvalidParameter(f"invalid ulimit type: {name}")
        soft, hard = int(ulimit.get("Soft", 0)), int(ulimit.get("Hard", 0))
        if soft > hard:
            raise InvalidParameter(
                f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}")
        out.append({"type": ULIMITS[name], "hard": hard, "soft": soft})
    return out


def validate_modes(host: dict[str, Any]) -> None:
    for field, (_, label, plain) in _MODES.items():
        mode = host.get(field) or ""
        if mode not in plain and not (mode.startswith("container:") and len(mode) > 10):
            raise InvalidParameter(f"invalid {label} mode: {mode}")
    if (host.get("UsernsMode") or "") not in ("", "host"):
        # Without user-namespace remapping in the daemon, "host" is the only mode there is.
        raise InvalidParameter(f"invalid USER mode: {host['UsernsMode']}")


class SecurityExtension(ContainerExtension):
    """Validates the security fields of ``HostConfig`` at create; hardens the spec at start.

    ``lookup`` finds another container by name or id (for ``--pid container:web``); it
    raises ``NoSuchContainer`` as the container service does.
    """

    def __init__(self, lookup: Callable[[str], Record]) -> None:
        self._lookup = lookup

    async def created(self, record: Record) -> None:
        host = record["HostConfig"]
        for field in ("CapAdd", "CapDrop"):
            if host.get(field):
                host[field] = normalize_capabilities(host[field], field)
        host["SecurityOpt"] = inline_seccomp_file(host.get("SecurityOpt"))
        options = parse_security_opts(host.get("SecurityOpt"))
        if options.seccomp not in ("default", "unconfined"):
            load_profile(options.seccomp)
        validate_modes(host)
        validate_sysctls(host)
        rlimits(host)

    async def prepare(self, record: Record, spec: dict[str, Any], rootfs: Path) -> None:
        host = record["HostConfig"]
        linux = spec["linux"]
        seccomp = seccomp_profile(host, spec["process"]["capabilities"]["bounding"])
        if seccomp is not None:
            linux["seccomp"] = seccomp
        if host.get("Sysctls"):
            linux["sysctl"] = dict(host["Sysctls"])
        limits = rlimits(host)
        if limits:
            spec["process"]["rlimits"] = limits
        if parse_security_opts(host.get("SecurityOpt")).unmask_system_paths:
            linux["maskedPaths"], linux["readonlyPaths"] = [], []
        for field, (ns_type, label, _) in _MODES.items():
            mode = host.get(field) or ""
            if mode.startswith("container:"):
                self._join(linux, ns_type, label, mode.split(":", 1)[1])
        if (host.get("UTSMode") or "").startswith("container:"):
            # A joined UTS namespace keeps the other container's hostname: runc must not
            # set one (it would rename the other container).
            spec.pop("hostname", None)
            spec.pop("domainname", None)
        if host.get("IpcMode") == "none":
            spec["mounts"] = [m for m in spec["mounts"] if m["destination"] != "/dev/shm"]

    def _join(self, linux: dict[str, Any], ns_type: str, label: str, ref: str) -> None:
        """Enter the namespace of another running container (``--ipc container:db``)."""
        other = self._lookup(ref)
        state = other["State"]
        if not state.get("Running") or not state.get("Pid"):
            raise Conflict(f"cannot join {label} of a non running container: {ref}")
        path = f"/proc/{state['Pid']}/ns/{ns_type}"
        namespaces = [n for n in linux["namespaces"] if n["type"] != ns_type]
        namespaces.append({"type": ns_type, "path": path})
        linux["namespaces"] = namespaces
