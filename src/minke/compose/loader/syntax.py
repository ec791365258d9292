"""Short syntaxes to long ones, field by field, for one service of one file.

Run on each file before merging, so that the merge rules compare like with like (a port
given as ``"8080:80"`` in one file and as a mapping in another), and relative paths are
resolved against the directory they were written for (the project directory for ``-f``
files, the file's own directory for ``extends`` and ``include``). Adds no defaults: an
override file's fragment stays a fragment. ``!reset``/``!override`` markers pass through.
"""

from __future__ import annotations

import os
import re
import shlex

from ..errors import ComposeFileError
from .markers import Override, Reset

TYPE_CHECKING = False  # typing costs milliseconds of start-up: for type checkers only
if TYPE_CHECKING:
    from typing import Any

MAP_FIELDS = ("environment", "labels", "sysctls", "annotations")
LIST_FIELDS = ("dns", "dns_search", "tmpfs", "label_file")
_PROPAGATION = {"shared", "rshared", "slave", "rslave", "private", "rprivate"}


def to_map(value: Any, sep: str = "=", empty: str | None = None) -> dict[str, Any]:
    """A list_or_dict as a dict; ``KEY`` without a value maps to ``empty``."""
    if isinstance(value, dict):
        return {k: _scalar(v) for k, v in value.items()}
    out: dict[str, Any] = {}
    for item in value or []:
        key, has, val = str(item).partition(sep)
        out[key] = val if has else empty
    return out


def _scalar(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def resolve_path(path: str, base: str) -> str:
    if path.startswith("~"):
        path = os.path.expanduser(path)
    return os.path.normpath(os.path.join(base, path))


def _each(value: Any, fn: Any) -> Any:
    if isinstance(value, Reset):
        return value
    if isinstance(value, Override):
        return Override(fn(value.value))
    return fn(value)


def service(svc: dict[str, Any], base: str, name: str) -> dict[str, Any]:
    """The service with long syntaxes and absolute paths."""
    out = dict(svc)
    for key in MAP_FIELDS:
        if key in out:
            out[key] = _each(out[key], lambda v, k=key: to_map(v, empty=None if k ==
                                                                 "environment" else ""))
    for key in LIST_FIELDS:
        if key in out:
            out[key] = _each(out[key], lambda v: [v] if isinstance(v, str) else list(v))
    conv = {
        "build": lambda v: build(v, base),
        "depends_on": depends_on,
        "networks": lambda v: dict.fromkeys(v) if isinstance(v, list) else dict(v),
        "ports": lambda v: [p for item in v for p in port(item, name)],
        "expose": lambda v: [str(e) for e in v],
        "volumes": lambda v: [volume(item, base, name) for item in v],
        "secrets": lambda v: [file_ref(item) for item in v],
        "configs": lambda v: [file_ref(item) for item in v],
        "env_file": lambda v: env_files(v, base),
        "extra_hosts": extra_hosts,
        "command": command,
        "entrypoint": command,
        "healthcheck": healthcheck,
        "post_start": hooks,
        "pre_stop": hooks,
        "pre_start": hooks,
    }
    for key, fn in conv.items():
        if key in out and out[key] is not None:
            out[key] = _each(out[key], fn)
    return out


def command(value: Any) -> Any:
    # Compose v2 splits a string command as a shell would, and runs it without a shell.
    return shlex.split(value) if isinstance(value, str) else value


def hooks(value: list[Any]) -> list[dict[str, Any]]:
    """Lifecycle hooks: commands split as a service's, environment as a mapping."""
    out = []
    for hook in value:
        hook = dict(hook)
        if hook.get("command") is not None:
            hook["command"] = command(hook["command"])
        if "environment" in hook:
            hook["environment"] = to_map(hook["environment"], empty=None)
        out.append(hook)
    return out


def build(value: Any, base: str) -> dict[str, Any]:
    spec = {"context": value} if isinstance(value, str) else dict(value)
    context = spec.get("context", ".")
    if not re.match(r"^[a-z]+://|^git@", context):
        spec["context"] = resolve_path(context, base)
    if "args" in spec:
        spec["args"] = to_map(spec["args"], empty=None)
    if "labels" in spec:
        spec["labels"] = to_map(spec["labels"], empty="")
    return spec


def depends_on(value: Any) -> dict[str, Any]:
    if isinstance(value, list):
        return {name: {"condition": "service_started", "required": True} for name in value}
    out = {}
    for name, spec in value.items():
        spec = dict(spec or {})
        spec.setdefault("condition", "service_started")
        spec.setdefault("required", True)
        out[name] = spec
    return out


def healthcheck(value: dict[str, Any]) -> dict[str, Any]:
    out = dict(value)
    test = out.get("test")
    if isinstance(test, str):
        out["test"] = ["CMD-SHELL", test]
    return out


def extra_hosts(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [f"{host}={ip}" for host, ips in value.items()
                for ip in (ips if isinstance(ips, list) else [ips])]
    out = []
    for item in value:
        host, sep, ip = item.partition("=")
        if not sep:
            host, _, ip = item.partition(":")
        out.append(f"{host}={ip}")
    return out


def env_files(value: Any, base: str) -> list[dict[str, Any]]:
    items = [value] if isinstance(value, str) else value
    out = []
    for item in items:
        spec = {"path": item} if isinstance(item, str) else dict(item)
        spec["path"] = resolve_path(spec["path"], base)
        spec.setdefault("required", True)
        out.append(spec)
    return out


def file_ref(item: Any) -> dict[str, Any]:
    return {"source": item} if isinstance(item, str) else dict(item)


_PORT = re.compile(
    r"^(?:(?P<ip>\[[^\]]+\]|[0-9.]+|[0-9a-fA-F:]+::?[0-9a-fA-F]*):)??"
    r"(?:(?P<published>[0-9]*(?:-[0-9]+)?):)?"
    r"(?P<target>[0-9]+(?:-[0-9]+)?)(?:/(?P<protocol>[a-z]+))?$")


def port(item: Any, service_name: str) -> list[dict[str, Any]]:
    """One ports entry as long syntax; a range becomes one entry per port."""
    if isinstance(item, dict):
        out = dict(item)
        out.setdefault("mode", "ingress")
        out.setdefault("protocol", "tcp")
        out["target"] = int(out["target"])
        if "published" in out and out["published"] is not None:
            out["published"] = str(out["published"])
        return [out]
    text = str(item)
    match = _PORT.match(text)
    if match is None:
        raise ComposeFileError(f"services.{service_name}.ports: invalid port {text!r}")
    ip = (match.group("ip") or "").strip("[]")
    published = match.group("published") or ""
    protocol = match.group("protocol") or "tcp"
    first, _, last = match.group("target").partition("-")
    targets = list(range(int(first), int(last or first) + 1))
    if published and "-" in published and len(targets) > 1:
        p_first = int(published.split("-")[0])
        hosts = [str(p_first + i) for i in range(len(targets))]
    else:
        hosts = [published] * len(targets)
    out = []
    for target, host in zip(targets, hosts, strict=True):
        entry: dict[str, Any] = {"mode": "ingress", "target": target}
        if ip:
            entry["host_ip"] = ip
        if host:
            entry["published"] = host
        entry["protocol"] = protocol
        out.append(entry)
    return out


def volume(item: Any, base: str, service_name: str) -> dict[str, Any]:
    """One volumes entry as long syntax, bind sources made absolute."""
    if isinstance(item, dict):
        out = dict(item)
        if out.get("type") == "bind" and out.get("source"):
            out["source"] = resolve_path(out["source"], base)
        return out
    parts = str(item).split(":")
    if len(parts) == 1:
        return {"type": "volume", "target": parts[0], "volume": {}}
    if len(parts) > 3:
        raise ComposeFileError(f"services.{service_name}.volumes: invalid spec: {item}")
    source, target = parts[0], parts[1]
    modes = parts[2].split(",") if len(parts) == 3 else []
    out: dict[str, Any]
    if source.startswith((".", "/", "~")):
        out = {"type": "bind", "source": resolve_path(source, base), "target": target,
               "bind": {"create_host_path": True}}
        prop = [m for m in modes if m in _PROPAGATION]
        if prop:
            out["bind"]["propagation"] = prop[0]
        sel = [m for m in modes if m in ("z", "Z")]
        if sel:
            out["bind"]["selinux"] = sel[0]
    else:
        out = {"type": "volume", "source": source, "target": target, "volume": {}}
        if "nocopy" in modes:
            out["volume"]["nocopy"] = True
    if "ro" in modes:
        out["read_only"] = True
    return out
