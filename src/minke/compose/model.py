"""The project model the planner and executor read: names, labels, graph, config hash.

Wraps the canonical model (plain dicts, as ``compose config`` prints them) with what
Docker Compose derives from it: container names ``<project>-<service>-<n>``, the
``com.docker.compose.*`` labels, the replica count, the dependency order and the config
hash that decides whether a container must be recreated.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

TYPE_CHECKING = False  # typing costs milliseconds of start-up: for type checkers only
if TYPE_CHECKING:
    from typing import Any

COMPOSE_VERSION = "2.29.0"  # what the version label says; docker-compose compares none of it

PROJECT = "com.docker.compose.project"
SERVICE = "com.docker.compose.service"
NUMBER = "com.docker.compose.container-number"
ONEOFF = "com.docker.compose.oneoff"
CONFIG_HASH = "com.docker.compose.config-hash"
DEPENDS_ON = "com.docker.compose.depends_on"
WORKING_DIR = "com.docker.compose.project.working_dir"
CONFIG_FILES = "com.docker.compose.project.config_files"
ENV_FILE = "com.docker.compose.project.environment_file"
VERSION = "com.docker.compose.version"
IMAGE = "com.docker.compose.image"
NETWORK = "com.docker.compose.network"
VOLUME = "com.docker.compose.volume"
REPLACE = "com.docker.compose.replace"
HOOK = "com.docker.compose.hook"  # on pre_start hook containers: not replicas

# Attributes that may name another service's container ("service:NAME"): that service
# must exist, and is an implicit dependency (compose-go adds the same to depends_on).
NAMESPACES = ("network_mode", "ipc", "pid", "uts", "cgroup")


def service_reference(value: Any) -> str | None:
    if isinstance(value, str) and value.startswith("service:"):
        return value[len("service:"):]
    return None


# Fields that do not change what runs in the container, left out of the hash as Compose
# does: a rebuild is detected by the image id, a scale change by the count.
_UNHASHED = ("build", "pull_policy", "scale", "depends_on", "profiles")


class Project:
    # A plain class: dataclasses imports inspect, milliseconds on every command's start.
    def __init__(self, name: str, model: dict[str, Any], working_dir: str = "",
                 config_files: list[str] | None = None, env_files: list[str] | None = None,
                 disabled: dict[str, Any] | None = None) -> None:
        self.name = name
        self.model = model
        self.working_dir = working_dir
        self.config_files = config_files or []
        self.env_files = env_files or []
        self.disabled = disabled or {}

    @property
    def services(self) -> dict[str, dict[str, Any]]:
        return self.model.get("services") or {}

    def section(self, name: str) -> dict[str, dict[str, Any]]:
        return self.model.get(name) or {}

    def replicas(self, service: str) -> int:
        svc = self.services[service]
        if "scale" in svc:
            return int(svc["scale"])
        return int((svc.get("deploy") or {}).get("replicas", 1))

    def image_name(self, service: str) -> str:
        """The image a service runs: its ``image``, or ``<project>-<service>`` when built."""
        svc = self.services[service]
        return svc.get("image") or f"{self.name}-{service}"

    def container_name(self, service: str, number: int) -> str:
        svc = self.services.get(service) or {}
        return svc.get("container_name") or f"{self.name}-{service}-{number}"

    def dependencies(self, service: str) -> dict[str, dict[str, Any]]:
        deps = self.services[service].get("depends_on") or {}
        return {name: spec for name, spec in deps.items() if name in self.services}

    def with_dependencies(self, names: Iterable[str]) -> list[str]:
        """``names`` and everything they depend on, transitively, in dependency order."""
        wanted: set[str] = set()
        stack = list(names)
        while stack:
            name = stack.pop()
            if name not in wanted and name in self.services:
                wanted.add(name)
                stack.extend(self.dependencies(name))
        return [n for n in self.order() if n in wanted]

    def order(self) -> list[str]:
        """All services, each after its dependencies (the loader has refused cycles)."""
        done: list[str] = []
        seen: set[str] = set()

        def visit(name: str) -> None:
            if name in seen:
                return
            seen.add(name)
            for dep in sorted(self.dependencies(name)):
                visit(dep)
            done.append(name)

        for name in sorted(self.services):
            visit(name)
        return done

    def depths(self) -> dict[str, int]:
        """Each service's dependency level: 0 without dependencies, else one more than its
        deepest dependency's. Services of one level can start (or stop) together."""
        depth: dict[str, int] = {}
        for name in self.order():
            depth[name] = 1 + max((depth[d] for d in self.dependencies(name)), default=-1)
        return depth

    def dependents(self, service: str) -> list[str]:
        return [n for n in self.services if service in self.dependencies(n)]

    def config_hash(self, service: str) -> str:
        return service_hash(self.services[service])

    def labels(self, service: str, number: int, *, oneoff: bool = False,
               image_id: str = "") -> dict[str, str]:
        """The labels Docker Compose v2 puts on a service's container."""
        svc = self.services[service]
        deps = ",".join(f"{n}:{s.get('condition', 'service_started')}:"
                        f"{str(bool(s.get('restart', False))).lower()}"
                        for n, s in (svc.get("depends_on") or {}).items())
        labels = dict(svc.get("labels") or {})
        labels.update({
            PROJECT: self.name, SERVICE: service, NUMBER: str(number),
            ONEOFF: "True" if oneoff else "False", CONFIG_HASH: self.config_hash(service),
            DEPENDS_ON: deps, WORKING_DIR: self.working_dir,
            CONFIG_FILES: ",".join(self.config_files), VERSION: COMPOSE_VERSION,
        })
        if self.env_files:
            labels[ENV_FILE] = ",".join(self.env_files)
        if image_id:
            labels[IMAGE] = image_id
        return labels


try:  # CPython's own sha256: hashlib would load OpenSSL, milliseconds on every start
    from _sha256 import sha256
except ImportError:  # pragma: no cover - other Pythons (3.12 names it _sha2)
    try:
        from _sha2 import sha256  # type: ignore[no-redef]
    except ImportError:
        from hashlib import sha256  # type: ignore[no-redef]


def service_hash(service: dict[str, Any]) -> str:
    """sha256 of the service's configuration, less the fields that do not shape a container."""
    data = {k: v for k, v in service.items() if k not in _UNHASHED}
    if isinstance(data.get("deploy"), dict):
        data["deploy"] = {k: v for k, v in data["deploy"].items() if k != "replicas"}
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return sha256(text.encode()).hexdigest()
