"""The container record made from a create request and its image, with Docker's merge rules.

Owns the shape minke persists for a container: Docker's ContainerJSON (``Config``,
``HostConfig``, ``State``, ...) so that inspect is the record itself. Knows nothing of
runtimes or mounts; ``spec.py`` turns a record into an OCI runtime spec.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from minke.errors import Conflict, InvalidParameter, NotSupported
from minke.units import ZERO_TIME, rfc3339

__all__ = ["ZERO_TIME", "rfc3339"]  # re-exported: records' times are written with them

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_STOP_TIMEOUT = 10  # s, Docker's default for `docker stop`

# The local log is written by conmon in its k8s-file format and read back by `docker logs`;
# it is offered under Docker's default driver name because clients branch on that name
# (docker-py's `containers.run` reads output only for json-file and journald). "none"
# stores nothing: output reaches attached clients only.
DEFAULT_LOG_DRIVER = "json-file"
NO_LOG_DRIVER = "none"
LOG_DRIVERS = ("json-file", "k8s-file", NO_LOG_DRIVER)
RESTART_POLICIES = ("", "no", "always", "unless-stopped", "on-failure")

Record = dict[str, Any]


def _list_or_none(value: Any, field: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidParameter(f"invalid value for {field}: expected a list of strings")
    return list(value)


def env_key(item: str) -> str:
    """The name of an environment entry ("A=1" → "A"; "A", which unsets A, → "A")."""
    return item.partition("=")[0]


def merge_env(image_env: list[str], request_env: list[str]) -> list[str]:
    """moby's merge of ``Config.Env``: the request's entries as sent (duplicates, and entries
    without "=" that unset a variable, included), then the image's whose name the request
    does not use. Only a request entry without a name is refused, as moby's ValidateEnv."""
    for item in request_env:
        if not env_key(item):
            raise InvalidParameter(f"invalid environment variable: {item}")
    names = {env_key(item) for item in request_env}
    return [*request_env, *(item for item in image_env if env_key(item) not in names)]


def build_config(request: dict[str, Any], image_config: dict[str, Any]) -> dict[str, Any]:
    """The container's ``Config``: the request's fields merged over the image's."""
    for field in ("Env", "Cmd", "Entrypoint"):
        request[field] = _list_or_none(request.get(field), field)
    config: dict[str, Any] = {
        "Hostname": request.get("Hostname") or "",
        "Domainname": request.get("Domainname") or "",
        "User": request.get("User") if request.get("User") else image_config.get("User", ""),
        "AttachStdin": bool(request.get("AttachStdin")),
        "AttachStdout": bool(request.get("AttachStdout")),
        "AttachStderr": bool(request.get("AttachStderr")),
        "ExposedPorts": {
            **(image_config.get("ExposedPorts") or {}),
            **(request.get("ExposedPorts") or {}),
        } or None,
        "Tty": bool(request.get("Tty")),
        "OpenStdin": bool(request.get("OpenStdin")),
        "StdinOnce": bool(request.get("StdinOnce")),
        "Env": merge_env(image_config.get("Env") or [DEFAULT_PATH], request.get("Env") or []),
        "Cmd": None,
        "Image": request.get("Image") or "",
        "Volumes": {**(image_config.get("Volumes") or {}), **(request.get("Volumes") or {})}
        or None,
        "WorkingDir": request.get("WorkingDir") or image_config.get("WorkingDir") or "",
        "Entrypoint": None,
        "OnBuild": image_config.get("OnBuild"),
        "Labels": {**(image_config.get("Labels") or {}), **(request.get("Labels") or {})},
    }
    entrypoint = request.get("Entrypoint")
    if entrypoint is None:
        config["Entrypoint"] = image_config.get("Entrypoint")
        config["Cmd"] = request.get("Cmd") or image_config.get("Cmd")
    else:
        config["Entrypoint"] = None if entrypoint == [""] else entrypoint
        config["Cmd"] = request.get("Cmd")
    for key in ("StopSignal", "StopTimeout", "Healthcheck", "ArgsEscaped", "NetworkDisabled",
                "MacAddress", "Shell"):
        value = request.get(key, image_config.get(key))
        if value is not None:
            config[key] = value
    if config["WorkingDir"] and not config["WorkingDir"].startswith("/"):
        raise InvalidParameter(
            f"the working directory '{config['WorkingDir']}' is invalid, it needs to be an "
            "absolute path"
        )
    return config


def build_host_config(request: dict[str, Any] | None) -> dict[str, Any]:
    """``HostConfig`` with Docker's defaults filled in and the fields minke checks validated."""
    host = copy.deepcopy(request or {})
    host.setdefault("Binds", None)
    host.setdefault("NetworkMode", "default")
    if not host["NetworkMode"]:
        host["NetworkMode"] = "default"
    # Which networks exist is the network service's to say (its ``created`` hook).
    policy = host.get("RestartPolicy") or {}
    name = policy.get("Name", "") or ""
    if name not in RESTART_POLICIES:
        raise InvalidParameter(f"invalid restart policy '{name}'")
    host["RestartPolicy"] = {
        "Name": name or "no",
        "MaximumRetryCount": int(policy.get("MaximumRetryCount") or 0),
    }
    if host.get("AutoRemove") and name not in ("", "no"):
        raise InvalidParameter("can't create 'AutoRemove' container with restart policy")
    host.setdefault("AutoRemove", False)
    log_config = host.get("LogConfig") or {}
    log_type = log_config.get("Type") or DEFAULT_LOG_DRIVER
    if log_type not in LOG_DRIVERS:
        raise InvalidParameter(f"logger: no log driver named '{log_type}' is registered")
    host["LogConfig"] = {"Type": log_type, "Config": log_config.get("Config") or {}}
    for key in ("Privileged", "ReadonlyRootfs", "PublishAllPorts", "Init"):
        host.setdefault(key, False)
    host.setdefault("PortBindings", {})
    host.setdefault("CapAdd", None)
    host.setdefault("CapDrop", None)
    host.setdefault("Dns", [])
    host.setdefault("DnsOptions", [])
    host.setdefault("DnsSearch", [])
    host.setdefault("ExtraHosts", None)
    host.setdefault("GroupAdd", None)
    host.setdefault("IpcMode", "private")
    host.setdefault("PidMode", "")
    host.setdefault("UTSMode", "")
    host.setdefault("ShmSize", 64 * 1024 * 1024)
    host.setdefault("Runtime", "runc")
    host.setdefault("ConsoleSize", [0, 0])
    host.setdefault("Tmpfs", None)
    host.setdefault("Mounts", None)
    host.setdefault("VolumesFrom", None)
    return host


def log_file(record: Record) -> Path | None:
    """The file the container's output is logged to; None when its driver stores nothing."""
    return Path(record["LogPath"]) if record.get("LogPath") else None


def readable_log(record: Record) -> Path:
    """The log ``docker logs`` reads, or Docker's refusal (moby ``ContainerLogs``)."""
    if record["State"]["Status"] == "removing" or record["State"].get("Dead"):
        raise Conflict("can not get logs from container which is dead or marked for removal")
    path = log_file(record)
    if path is None:
        raise NotSupported("configured logging driver does not support reading")
    return path


def new_record(
    *, container_id: str, name: str, image_id: str, image_config: dict[str, Any],
    request: dict[str, Any], paths: dict[str, str],
) -> Record:
    """A ``created`` container's record."""
    config = build_config(request, image_config)
    host_config = build_host_config(request.get("HostConfig"))
    argv = [*(config["Entrypoint"] or []), *(config["Cmd"] or [])]
    if not argv:
        raise InvalidParameter("No command specified")
    if not config["Hostname"]:
        config["Hostname"] = container_id[:12]
    return {
        "Id": container_id,
        "Created": rfc3339(),
        "Path": argv[0],
        "Args": argv[1:],
        "State": {
            "Status": "created", "Running": False, "Paused": False, "Restarting": False,
            "OOMKilled": False, "Dead": False, "Pid": 0, "ExitCode": 0, "Error": "",
            "StartedAt": ZERO_TIME, "FinishedAt": ZERO_TIME,
        },
        "Image": image_id,
        "ResolvConfPath": paths["resolv.conf"],
        "HostnamePath": paths["hostname"],
        "HostsPath": paths["hosts"],
        "LogPath": "" if host_config["LogConfig"]["Type"] == NO_LOG_DRIVER else paths["log"],
        "Name": "/" + name,
        "RestartCount": 0,
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": None,
        "HostConfig": host_config,
        "GraphDriver": {"Name": "overlay2", "Data": {}},
        "Mounts": [],
        "Config": config,
        "NetworkSettings": {
            "Bridge": "", "SandboxID": "", "HairpinMode": False, "Ports": {},
            "SandboxKey": "", "IPAddress": "", "Gateway": "", "MacAddress": "",
            # The request's endpoint settings; the network service's ``created`` checks
            # them and fills in each network's entry.
            "Networks": dict((request.get("NetworkingConfig") or {})
                             .get("EndpointsConfig") or {}),
        },
    }
