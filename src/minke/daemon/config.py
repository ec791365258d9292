"""``daemon.json``: minked's configuration file, merged with its flags as dockerd merges them.

The file holds a JSON object whose keys are dockerd's (``hosts``, ``tls``, ``data-root``…);
each maps to one flag. A key the daemon does not know, a value of the wrong type, or a
setting given both as a flag and in the file is an error naming it — dockerd refuses to
start in the same cases rather than guess which one wins. A missing file is fine unless
``--config-file`` named it. What the settings mean is left to their users.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from minke.errors import InvalidParameter

DEFAULT_CONFIG_FILE = "/etc/minke/daemon.json"


@dataclass(frozen=True)
class Key:
    """A ``daemon.json`` key: the flag's ``dest`` it sets and the JSON type it takes."""

    dest: str
    kind: type  # str, bool or list (of strings)


KEYS: dict[str, Key] = {
    "hosts": Key("host", list),
    "tls": Key("tls", bool),
    "tlsverify": Key("tlsverify", bool),
    "tlscacert": Key("tlscacert", str),
    "tlscert": Key("tlscert", str),
    "tlskey": Key("tlskey", str),
    "data-root": Key("data_root", str),
    "exec-root": Key("exec_root", str),
    "pidfile": Key("pidfile", str),
    "log-level": Key("log_level", str),
    "default-runtime": Key("default_runtime", str),
    "cgroup-parent": Key("cgroup_parent", str),
    "group": Key("group", str),
    "bridge": Key("bridge", str),
    "bip": Key("bip", str),
    "insecure-registries": Key("insecure_registry", list),
    "node-generic-resources": Key("node_generic_resource", list),
    "web": Key("web", str),
    "web-token-file": Key("web_token_file", str),
    "cluster-store": Key("cluster_store", str),
    "cluster-store-cacert": Key("cluster_store_cacert", str),
    "cluster-store-cert": Key("cluster_store_cert", str),
    "cluster-store-key": Key("cluster_store_key", str),
    "cluster-store-serve": Key("cluster_store_serve", bool),
    "swarm-leader-lease": Key("swarm_leader_lease", str),
}


class _Unset(list):  # type: ignore[type-arg]
    """Placeholder for a setting not given on the command line."""


class ConfigError(InvalidParameter):
    """The configuration file cannot be used; the message names the file and the key."""


def parse(parser: argparse.ArgumentParser, argv: list[str] | None,
          config_dest: str = "config_file") -> argparse.Namespace:
    """Parse ``argv`` and merge the configuration file into the result.

    Settings come from the flags, else the file, else the parser's defaults.
    """
    # A key whose flag this parser lacks counts as unknown.
    present = vars(parser.parse_known_args([])[0])
    dests = {key.dest for key in KEYS.values() if key.dest in present}
    # Each setting starts as its own placeholder; one still in place was not on the
    # command line. (A list, because "append" flags copy and extend what they find.)
    unset = {dest: _Unset() for dest in dests}
    args = parser.parse_args(argv, namespace=argparse.Namespace(**unset))
    explicit = {dest for dest in dests if getattr(args, dest) is not unset[dest]}
    for dest in explicit:
        if isinstance(getattr(args, dest), _Unset):
            setattr(args, dest, list(getattr(args, dest)))
    path = getattr(args, config_dest, None)
    named = path is not None
    path = Path(path or DEFAULT_CONFIG_FILE)
    settings = load(path, required=named, known=dests)
    _check_conflicts(path, settings, explicit, args)
    for dest in dests - explicit:
        setattr(args, dest, settings.get(dest, parser.get_default(dest)))
    return args


def load(path: Path, *, required: bool, known: set[str] | None = None) -> dict[str, Any]:
    """The file's settings by flag ``dest``; {} if it does not exist and is not required."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        if required:
            raise ConfigError(f"unable to configure the minke daemon with file {path}: "
                              "no such file") from None
        return {}
    except OSError as exc:
        raise ConfigError(f"unable to configure the minke daemon with file {path}: "
                          f"{exc.strerror}") from exc
    if not text.strip():
        return {}
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"unable to configure the minke daemon with file {path}: "
                          f"invalid JSON at line {exc.lineno} column {exc.colno}: "
                          f"{exc.msg}") from exc
    if not isinstance(doc, dict):
        raise ConfigError(f"unable to configure the minke daemon with file {path}: "
                          "the file must hold a JSON object")
    known = {key.dest for key in KEYS.values()} if known is None else known
    unknown = sorted(k for k in doc if k not in KEYS or KEYS[k].dest not in known)
    if unknown:
        raise ConfigError(f"unable to configure the minke daemon with file {path}: the "
                          "following directives don't match any configuration option: "
                          + ", ".join(unknown))
    return {KEYS[name].dest: _typed(path, name, value) for name, value in doc.items()}


def _typed(path: Path, name: str, value: Any) -> Any:
    kind = KEYS[name].kind
    if kind is list:
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        wanted = "a list of strings"
    else:
        ok = isinstance(value, kind)
        wanted = "a boolean" if kind is bool else "a string"
    if not ok:
        raise ConfigError(f"unable to configure the minke daemon with file {path}: "
                          f"{name} must be {wanted}, not {json.dumps(value)}")
    return list(value) if kind is list else value


def _check_conflicts(path: Path, settings: dict[str, Any], explicit: set[str],
                     args: argparse.Namespace) -> None:
    names = {key.dest: name for name, key in KEYS.items()}
    conflicts = [
        f"{names[dest]}: (from flag: {_show(getattr(args, dest))}, "
        f"from file: {_show(settings[dest])})"
        for dest in sorted(explicit & set(settings), key=lambda d: names[d])
    ]
    if conflicts:
        raise ConfigError(f"unable to configure the minke daemon with file {path}: the "
                          "following directives are specified both as a flag and in the "
                          "configuration file: " + ", ".join(conflicts))


def _show(value: Any) -> str:
    if isinstance(value, list):
        return "[" + " ".join(map(str, value)) + "]"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
