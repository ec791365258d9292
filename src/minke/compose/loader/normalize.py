"""The canonical model: defaults, resource names, environment, types, and cross-references.

Runs once on the merged project (after profiles are applied): adds the ``default`` network
where services use it, names networks, volumes, secrets and configs as Compose does
(``<project>_<key>`` unless ``name`` or ``external``), folds ``env_file`` into
``environment`` and resolves bare ``KEY`` entries from the environment, turns the strings
that interpolation left into the booleans and numbers the spec means, and checks that every
reference (depends_on, networks, volumes, secrets, configs, extends) names something
defined, with no dependency cycle.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import ComposeFileError
from ..model import NAMESPACES, service_reference
from . import dotenv, inputs

TYPE_CHECKING = False  # typing costs milliseconds of start-up: for type checkers only
if TYPE_CHECKING:
    from typing import Any

Where = Callable[[tuple[str | int, ...]], tuple[str | None, int | None]]

BOOLS = ("init", "privileged", "read_only", "stdin_open", "tty", "oom_kill_disable")
INTS = ("scale", "mem_swappiness", "oom_score_adj", "cpu_count", "cpu_percent")
_TRUE = {"true", "yes", "y", "on", "1"}
_FALSE = {"false", "no", "n", "off", "0", ""}


def as_bool(value: Any, what: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ComposeFileError(f"{what}: invalid boolean {value!r}")


def as_int(value: Any, what: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise ComposeFileError(f"{what}: invalid integer {value!r}") from exc


def project(model: dict[str, Any], name: str, lookup: Callable[[str], str | None],
            where: Where) -> dict[str, Any]:
    """The canonical form of a merged project (``docker compose config``)."""
    services = model.get("services") or {}
    out: dict[str, Any] = {"name": name, "services": {}}
    uses_default = False
    for sname, svc in services.items():
        svc = _service(sname, dict(svc or {}), lookup)
        if "networks" not in svc and "network_mode" not in svc:
            svc["networks"] = {"default": None}
        if "default" in (svc.get("networks") or {}):
            uses_default = True
        out["services"][sname] = svc
    networks = dict(model.get("networks") or {})
    if uses_default and "default" not in networks:
        networks["default"] = None
    for section, items in (("networks", networks),
                           ("volumes", model.get("volumes") or {}),
                           ("secrets", model.get("secrets") or {}),
                           ("configs", model.get("configs") or {})):
        if items:
            out[section] = {key: _resource(name, key, dict(spec or {}), section, lookup)
                            for key, spec in items.items()}
    for key, value in model.items():
        if key.startswith("x-") or key == "models":
            out[key] = value
    check_references(out, where)
    return out


def _resource(project: str, key: str, spec: dict[str, Any], section: str,
              lookup: Callable[[str], str | None]) -> dict[str, Any]:
    external = spec.get("external")
    if isinstance(external, dict):  # the deprecated external.name form
        spec.setdefault("name", external.get("name", key))
        external = True
    if external is not None:
        external = as_bool(external, f"{section}.{key}.external")
        spec["external"] = external
        if not external:
            del spec["external"]
    if "labels" in spec:
        from .syntax import to_map

        spec["labels"] = to_map(spec["labels"], empty="")
    if external:
        spec.setdefault("name", key)
    else:
        spec.setdefault("name", f"{project}_{key}")
    for flag in ("internal", "attachable", "enable_ipv6", "enable_ipv4"):
        if flag in spec:
            spec[flag] = as_bool(spec[flag], f"{section}.{key}.{flag}")
    if section in ("secrets", "configs") and spec.get("environment") and "content" not in spec:
        spec.setdefault("content", lookup(spec["environment"]) or "")
    return spec


def _service(name: str, svc: dict[str, Any], lookup: Callable[[str], str | None]
             ) -> dict[str, Any]:
    svc.pop("extends", None)
    for key in BOOLS:
        if key in svc:
            svc[key] = as_bool(svc[key], f"services.{name}.{key}")
    for key in INTS:
        if key in svc:
            svc[key] = as_int(svc[key], f"services.{name}.{key}")
    deploy = svc.get("deploy")
    if deploy and "replicas" in deploy:
        deploy["replicas"] = as_int(deploy["replicas"], f"services.{name}.deploy.replicas")
        if "scale" in svc and svc["scale"] != deploy["replicas"]:
            raise ComposeFileError(f"services.{name}: can't set distinct values on 'scale' "
                                   "and 'deploy.replicas'")
    environment: dict[str, Any] = {}
    for spec in svc.get("env_file") or []:
        spec["required"] = as_bool(spec.get("required", True),
                                   f"services.{name}.env_file.required")
        path = spec["path"]
        if not inputs.isfile(path):
            if spec["required"]:
                raise ComposeFileError(f"env file {path} not found",
                                       path=f"services.{name}.env_file")
            continue
        environment.update(dotenv.read(path, lookup))
    # A bare KEY takes its value from the environment; unset, it stays null (as in
    # ``compose config``) and is left out of the container's environment.
    environment.update(resolve_environment(svc.get("environment") or {}, lookup))
    if "environment" in svc or environment:
        svc["environment"] = environment
    for kind in ("post_start", "pre_stop", "pre_start"):
        for i, hook in enumerate(svc.get(kind) or []):
            _hook(name, svc, kind, i, hook, lookup)
    _implicit_dependencies(svc)
    hc = svc.get("healthcheck")
    if hc and "disable" in hc:
        hc["disable"] = as_bool(hc["disable"], f"services.{name}.healthcheck.disable")
    if hc and "retries" in hc:
        hc["retries"] = as_int(hc["retries"], f"services.{name}.healthcheck.retries")
    for vol in svc.get("volumes") or []:
        if "read_only" in vol:
            vol["read_only"] = as_bool(vol["read_only"], f"services.{name}.volumes.read_only")
    for dep in (svc.get("depends_on") or {}).values():
        if "restart" in dep:
            dep["restart"] = as_bool(dep["restart"], f"services.{name}.depends_on.restart")
    return svc


def resolve_environment(env: dict[str, Any], lookup: Callable[[str], str | None]
                        ) -> dict[str, Any]:
    return {k: v if v is not None else lookup(k) for k, v in env.items()}


def _hook(name: str, svc: dict[str, Any], kind: str, i: int, hook: dict[str, Any],
          lookup: Callable[[str], str | None]) -> None:
    where = f"services.{name}.{kind}.{i}"
    for flag in ("privileged", "per_replica"):
        if flag in hook:
            hook[flag] = as_bool(hook[flag], f"{where}.{flag}")
    if "environment" in hook:
        hook["environment"] = resolve_environment(hook["environment"], lookup)
    if kind == "pre_start":
        if svc.get("image") and not hook.get("image"):
            hook["image"] = svc["image"]  # compose-go: a hook runs its service's image
    elif not hook.get("command"):
        raise ComposeFileError(f"{where}: command is required")


def _implicit_dependencies(svc: dict[str, Any]) -> None:
    deps = svc.get("depends_on") or {}
    implied: list[tuple[str, bool]] = []
    for link in svc.get("links") or []:
        implied.append((link.split(":")[0], True))
    for key in NAMESPACES:
        target = service_reference(svc.get(key))
        if target:
            implied.append((target, True))
    for entry in svc.get("volumes_from") or []:
        if not entry.startswith("container:"):
            implied.append((entry.split(":")[0], False))
    for target, restart in implied:
        deps.setdefault(target, {"condition": "service_started", "restart": restart,
                                 "required": True})
    if deps:
        svc["depends_on"] = deps


def check_references(model: dict[str, Any], where: Where) -> None:
    services = model.get("services") or {}
    for name, svc in services.items():
        def fail(message: str, *path: str | int, sname: str = name) -> None:
            file, line = where(("services", sname, *path))
            raise ComposeFileError(message, file=file, line=line)

        for key in NAMESPACES:
            target = service_reference(svc.get(key))
            if target is not None and target not in services:
                fail(f'service "{target}" not found for {key} \'service:{target}\'', key)
        for i, entry in enumerate(svc.get("volumes_from") or []):
            target = entry.split(":")[0]
            if not entry.startswith("container:") and target not in services:
                fail(f'service "{name}" refers to undefined service {target} in volumes_from: '
                     "invalid compose project", "volumes_from", i)
        for dep, spec in (svc.get("depends_on") or {}).items():
            if dep not in services and spec.get("required", True):
                fail(f'service "{name}" depends on undefined service "{dep}": invalid compose '
                     "project", "depends_on", dep)
        for net in svc.get("networks") or {}:
            if net not in (model.get("networks") or {}):
                fail(f'service "{name}" refers to undefined network {net}: invalid compose '
                     "project", "networks", net)
        for i, vol in enumerate(svc.get("volumes") or []):
            if vol.get("type") == "volume" and vol.get("source") and \
                    vol["source"] not in (model.get("volumes") or {}):
                fail(f'service "{name}" refers to undefined volume {vol["source"]}: invalid '
                     "compose project", "volumes", i)
        for model_name in svc.get("models") or []:
            if model_name not in (model.get("models") or {}):
                fail(f'service "{name}" refers to undefined model {model_name}: invalid '
                     "compose project", "models")
        for kind in ("secrets", "configs"):
            for i, ref in enumerate(svc.get(kind) or []):
                if ref["source"] not in (model.get(kind) or {}):
                    fail(f'service "{name}" refers to undefined {kind[:-1]} {ref["source"]}: '
                         "invalid compose project", kind, i)
    cycle = find_cycle({n: list(s.get("depends_on") or {}) for n, s in services.items()})
    if cycle:
        file, line = where(("services", cycle[0], "depends_on"))
        raise ComposeFileError("dependency cycle detected: " + " -> ".join(cycle),
                               file=file, line=line)


def find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """A dependency cycle as ``[a, b, a]``, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in graph.get(node, []):
            if dep not in graph:
                continue
            if state.get(dep) == 1:
                return stack[stack.index(dep):] + [dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in graph:
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None
