"""The ``changes`` of ``docker import`` / ``docker commit``: Dockerfile instructions applied
to a container config (``CMD``, ``ENTRYPOINT``, ``ENV``, ``EXPOSE``, ``LABEL``, ``ONBUILD``,
``STOPSIGNAL``, ``USER``, ``VOLUME``, ``WORKDIR``), as dockerd's ``BuildFromConfig`` does.
"""

from __future__ import annotations

import json
import posixpath
import shlex
from typing import Any

from minke.errors import InvalidParameter

ALLOWED = (
    "CMD",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "LABEL",
    "ONBUILD",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
)


def empty_config() -> dict[str, Any]:
    """A Docker ``container.Config`` with every field at its zero value, in Go's order."""
    return {
        "Hostname": "",
        "Domainname": "",
        "User": "",
        "AttachStdin": False,
        "AttachStdout": False,
        "AttachStderr": False,
        "Tty": False,
        "OpenStdin": False,
        "StdinOnce": False,
        "Env": None,
        "Cmd": None,
        "Image": "",
        "Volumes": None,
        "WorkingDir": "",
        "Entrypoint": None,
        "OnBuild": None,
        "Labels": None,
    }


def apply_changes(config: dict[str, Any], changes: list[str]) -> dict[str, Any]:
    """``config`` with the instruction lines of ``changes`` applied, in order."""
    cmd_set = False
    for change in changes:
        for line in change.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            word, _, rest = line.partition(" ")
            instruction, rest = word.upper(), rest.strip()
            if instruction not in ALLOWED:
                raise InvalidParameter(f"{word} is not a valid change command")
            if instruction == "CMD":
                config["Cmd"] = _command(rest)
                cmd_set = True
            elif instruction == "ENTRYPOINT":
                config["Entrypoint"] = _command(rest) if rest else None
                if not cmd_set:
                    config["Cmd"] = None  # as a Dockerfile: ENTRYPOINT resets an inherited CMD
            elif instruction == "ENV":
                env = list(config.get("Env") or [])
                for key, value in _pairs(rest, instruction):
                    env = [e for e in env if e.partition("=")[0] != key] + [f"{key}={value}"]
                config["Env"] = env
            elif instruction == "LABEL":
                labels = dict(config.get("Labels") or {})
                labels.update(_pairs(rest, instruction))
                config["Labels"] = labels
            elif instruction == "EXPOSE":
                ports = dict(config.get("ExposedPorts") or {})
                for spec in rest.split():
                    for port in _ports(spec):
                        ports[port] = {}
                config["ExposedPorts"] = ports
            elif instruction == "VOLUME":
                volumes = dict(config.get("Volumes") or {})
                for path in _list_or_words(rest):
                    volumes[path] = {}
                config["Volumes"] = volumes
            elif instruction == "WORKDIR":
                config["WorkingDir"] = posixpath.normpath(
                    posixpath.join("/", config.get("WorkingDir") or "/", rest)
                )
            elif instruction == "USER":
                config["User"] = rest
            elif instruction == "STOPSIGNAL":
                config["StopSignal"] = rest
            elif instruction == "ONBUILD":
                config["OnBuild"] = [*(config.get("OnBuild") or []), rest]
    return config


def _json_list(text: str) -> list[str] | None:
    if not text.startswith("["):
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


def _command(text: str) -> list[str]:
    """Exec form (a JSON list) as is; shell form wrapped in ``/bin/sh -c``."""
    exec_form = _json_list(text)
    return exec_form if exec_form is not None else ["/bin/sh", "-c", text]


def _list_or_words(text: str) -> list[str]:
    as_list = _json_list(text)
    return as_list if as_list is not None else text.split()


def _pairs(text: str, instruction: str) -> list[tuple[str, str]]:
    """``k=v k2="v 2"`` pairs, or the legacy ``k value with spaces`` form."""
    if not text:
        raise InvalidParameter(f"{instruction} requires at least one argument")
    first = text.split(None, 1)[0]
    if "=" not in first:
        key, _, value = text.partition(" ")
        return [(key, value.strip())]
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise InvalidParameter(f"{instruction} {text}: {exc}") from None
    out = []
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise InvalidParameter(f"{instruction} names can not be blank: {word!r}")
        out.append((key, value))
    return out


def _ports(spec: str) -> list[str]:
    port, _, proto = spec.partition("/")
    proto = (proto or "tcp").lower()
    start, _, end = port.partition("-")
    try:
        low, high = int(start), int(end or start)
    except ValueError:
        raise InvalidParameter(f"invalid containerPort: {port}") from None
    if not 0 < low <= high <= 65535:
        raise InvalidParameter(f"invalid containerPort: {port}")
    return [f"{p}/{proto}" for p in range(low, high + 1)]
