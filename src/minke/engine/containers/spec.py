"""The OCI runtime spec (config.json) of a container, with Docker's defaults.

Owns the translation of a container record into what runc runs: process, mounts,
namespaces, cgroup path, capabilities, masked and read-only paths, device rules.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from minke.engine.containers.rootfs import ExecUser
from minke.engine.containers.security import (  # noqa: F401 (DEFAULT_CAPABILITIES re-exported)
    DEFAULT_CAPABILITIES,
    capabilities,
    no_new_privileges,
)

MASKED_PATHS = [
    "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
    "/sys/firmware", "/sys/devices/virtual/powercap",
]
READONLY_PATHS = [
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
]


def _char(major: int, minor: int | None, access: str = "rwm") -> dict[str, Any]:
    rule: dict[str, Any] = {"allow": True, "type": "c", "major": major, "access": access}
    if minor is not None:
        rule["minor"] = minor
    return rule


# The device cgroup allow-list of Docker's default spec (moby oci/defaults.go).
DEFAULT_DEVICE_RULES = [
    {"allow": False, "access": "rwm"},
    {"allow": True, "type": "c", "access": "m"},
    {"allow": True, "type": "b", "access": "m"},
    _char(1, 3), _char(1, 8), _char(1, 7), _char(5, 0), _char(1, 5), _char(1, 9),
    _char(136, None), _char(5, 2), _char(10, 200),
]


def replace_or_append_env(defaults: list[str], overrides: list[str]) -> list[str]:
    """moby's ``ReplaceOrAppendEnvValues``: each override replaces the default of its name or
    is appended; one without "=" unsets the default of its name and is otherwise dropped
    (runc refuses an entry without "="). Only ``defaults`` are looked up, so an override
    never replaces or unsets an earlier override."""
    env: list[str | None] = list(defaults)
    index = {item.partition("=")[0]: i for i, item in enumerate(defaults)}
    for item in overrides:
        name, has_value, _ = item.partition("=")
        i = index.get(name)
        if not has_value:
            if i is not None:
                env[i] = None
        elif i is not None:
            env[i] = item
        else:
            env.append(item)
    return [item for item in env if item is not None]


def process_env(
    record: dict[str, Any], extra: list[str] | None = None, *, tty: bool | None = None
) -> list[str]:
    """Docker's process environment (moby ``CreateDaemonEnvironment``): PATH, HOSTNAME and,
    with a TTY, TERM, with ``Config.Env`` over them; for an exec, its ``extra`` env over that
    and ``tty`` the exec's own (Docker gives an exec with a TTY TERM in any container)."""
    config = record["Config"]
    defaults = [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        f"HOSTNAME={config['Hostname']}",
    ]
    if config.get("Tty") if tty is None else tty:
        defaults.append("TERM=xterm")
    env = replace_or_append_env(defaults, config.get("Env") or [])
    return env if extra is None else replace_or_append_env(env, extra)


def process(
    record: dict[str, Any], user: ExecUser, *, args: list[str], env: list[str], cwd: str,
    tty: bool, console_size: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """The OCI ``process`` object, shared by the container's init and by exec."""
    caps = capabilities(record["HostConfig"])
    proc: dict[str, Any] = {
        "terminal": tty,
        "user": {"uid": user.uid, "gid": user.gid},
        "args": args,
        "env": env,
        "cwd": cwd or "/",
        "capabilities": {
            "bounding": caps, "effective": caps, "permitted": caps,
            # Docker gives a root process no inheritable or ambient capabilities.
        },
        "noNewPrivileges": no_new_privileges(record["HostConfig"]),
    }
    if user.additional_gids:
        proc["user"]["additionalGids"] = user.additional_gids
    if tty and console_size and all(console_size):
        proc["consoleSize"] = {"height": console_size[0], "width": console_size[1]}
    return proc


def _mounts(record: dict[str, Any]) -> list[dict[str, Any]]:
    host = record["HostConfig"]
    shm_size = int(host.get("ShmSize") or 64 * 1024 * 1024)
    mounts: list[dict[str, Any]] = [
        {"destination": "/proc", "type": "proc", "source": "proc",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["ro", "nosuid", "noexec", "nodev"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", f"size={shm_size}"]},
    ]
    for dest, key in (("/etc/resolv.conf", "ResolvConfPath"), ("/etc/hostname", "HostnamePath"),
                      ("/etc/hosts", "HostsPath")):
        if record.get(key):
            mounts.append({"destination": dest, "type": "bind", "source": record[key],
                           "options": ["rbind", "rprivate"]})
    return mounts


def _namespaces(host: dict[str, Any]) -> list[dict[str, Any]]:
    namespaces = [{"type": "mount"}]
    if host.get("PidMode") != "host":
        namespaces.append({"type": "pid"})
    if host.get("IpcMode") != "host":
        namespaces.append({"type": "ipc"})
    if host.get("UTSMode") != "host":
        namespaces.append({"type": "uts"})
    if host.get("NetworkMode") != "host":
        namespaces.append({"type": "network"})
    return namespaces


def runtime_spec(
    record: dict[str, Any], *, rootfs: Path, user: ExecUser, cgroups_path: str,
    console_size: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """The complete config.json for the container's init process."""
    config, host = record["Config"], record["HostConfig"]
    args = [record["Path"], *record["Args"]]
    spec: dict[str, Any] = {
        "ociVersion": "1.0.2",
        "process": process(
            record, user, args=args, env=process_env(record), cwd=config.get("WorkingDir") or "/",
            tty=bool(config.get("Tty")), console_size=console_size,
        ),
        "root": {"path": str(rootfs), "readonly": bool(host.get("ReadonlyRootfs"))},
        "mounts": _mounts(record),
        "linux": {
            "cgroupsPath": cgroups_path,
            "namespaces": _namespaces(host),
            "resources": {"devices": DEFAULT_DEVICE_RULES},
            "maskedPaths": [] if host.get("Privileged") else MASKED_PATHS,
            "readonlyPaths": [] if host.get("Privileged") else READONLY_PATHS,
        },
    }
    if host.get("UTSMode") != "host":
        spec["hostname"] = config["Hostname"]
        if config.get("Domainname"):
            spec["domainname"] = config["Domainname"]
    if host.get("Privileged"):
        spec["linux"]["resources"]["devices"] = [{"allow": True, "access": "rwm"}]
    oom_score_adj = host.get("OomScoreAdj")
    if oom_score_adj:
        spec["process"]["oomScoreAdj"] = int(oom_score_adj)
    return spec
