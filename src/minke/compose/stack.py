"""A Compose project as a swarm stack, as ``docker stack deploy`` converts it client-side
(the docker CLI's ``cli/compose/convert``): the overlay networks, secrets, configs and
service specs to create, every object labelled ``com.docker.stack.namespace=<stack>`` and
named ``<stack>_<key>``, so that ``docker stack`` and ``minke stack`` see the same stacks.

The ``deploy:`` keys become the service's mode (replicated, global, replicated-job,
global-job), placement, resources, restart policy, update and rollback configs, endpoint
mode and labels. Keys that cannot apply to a swarm service are ignored with a warning, in
the docker CLI's words; a service that cannot be deployed at all is an error naming it.
"""

from __future__ import annotations

import os

from .convert import duration_ns, healthcheck, size_bytes
from .errors import ComposeFileError
from .model import Project

TYPE_CHECKING = False  # typing costs milliseconds of start-up: for type checkers only
if TYPE_CHECKING:
    from typing import Any

NAMESPACE = "com.docker.stack.namespace"
IMAGE = "com.docker.stack.image"
SECOND = 1_000_000_000

# What a swarm service has no field for (the docker CLI's list, and Compose's own keys).
UNSUPPORTED = ("build", "cgroupns_mode", "cgroup_parent", "devices", "domainname",
               "external_links", "ipc", "links", "mac_address", "network_mode", "pid",
               "privileged", "restart", "security_opt", "shm_size", "userns_mode",
               "depends_on", "container_name", "develop", "post_start", "pre_stop")
MODES = {"replicated": "Replicated", "global": "Global", "replicated-job": "ReplicatedJob",
         "global-job": "GlobalJob"}
RESTART = {"always": "any", "unless-stopped": "any", "on-failure": "on-failure", "no": "none"}


class Stack:
    """What ``deploy`` creates: ``networks`` (name → ``POST /networks/create`` body, or
    None for an external one that must exist), ``secrets``/``configs`` (name → spec, with
    the file's bytes base64'd, or None when external), ``services`` (name → spec, secret and
    config references carrying names only: the IDs are filled in at deploy time)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.networks: dict[str, Any] = {}
        self.secrets: dict[str, Any] = {}
        self.configs: dict[str, Any] = {}
        self.services: dict[str, Any] = {}
        self.warnings: list[str] = []


def labelled(stack: str, labels: dict[str, str] | None) -> dict[str, str]:
    return {**(labels or {}), NAMESPACE: stack}


def convert(project: Project) -> Stack:
    stack = Stack(project.name)
    ignored: set[str] = set()
    used_networks: set[str] = set()
    for name, svc in sorted(project.services.items()):
        ignored |= {key for key in UNSUPPORTED if svc.get(key)}
        used_networks |= set(svc.get("networks") or {"default": None})
        stack.services[f"{project.name}_{name}"] = service_spec(project, name, svc)
    if ignored:
        stack.warnings.append("Ignoring unsupported options: " + ", ".join(sorted(ignored)))
    for key, net in sorted(project.section("networks").items()):
        if key not in used_networks:
            continue
        stack.networks[net["name"]] = None if net.get("external") else network_body(
            project.name, net)
    for section, out in (("secrets", stack.secrets), ("configs", stack.configs)):
        for key, item in sorted(project.section(section).items()):
            out[item["name"]] = None if item.get("external") else file_spec(
                project, section, key, item)
    return stack


def network_body(stack: str, net: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"Name": net["name"], "Driver": net.get("driver") or "overlay",
                            "Labels": labelled(stack, net.get("labels")),
                            "Attachable": bool(net.get("attachable")),
                            "Internal": bool(net.get("internal")),
                            "Options": net.get("driver_opts") or {}}
    ipam = net.get("ipam") or {}
    if ipam:
        body["IPAM"] = {"Driver": ipam.get("driver") or "default",
                        "Config": [{k.capitalize() if k != "ip_range" else "IPRange": v
                                    for k, v in c.items()} for c in ipam.get("config") or []]}
    return body


def file_spec(project: Project, section: str, key: str, item: dict[str, Any]
              ) -> dict[str, Any]:
    import base64

    where = f"{section}.{key}"
    if item.get("file"):
        path = os.path.join(project.working_dir, item["file"])
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as exc:
            raise ComposeFileError(f"{where}: cannot read {path}: {exc.strerror}") from None
    elif item.get("content") is not None:
        data = str(item["content"]).encode()
    elif item.get("environment"):
        data = os.environ.get(item["environment"], "").encode()
    else:
        raise ComposeFileError(f"{where}: a file, content or environment is required "
                               "(or external: true)")
    return {"Name": item["name"], "Labels": labelled(project.name, item.get("labels")),
            "Data": base64.b64encode(data).decode()}


def service_spec(project: Project, name: str, svc: dict[str, Any]) -> dict[str, Any]:
    where = f"services.{name}"
    stack = project.name
    if not svc.get("image"):
        raise ComposeFileError(f"{where}: image is required: a stack service cannot be "
                               "built (build an image, push or load it, and name it)")
    deploy = svc.get("deploy") or {}
    container: dict[str, Any] = {
        "Image": svc["image"], "Labels": labelled(stack, svc.get("labels")),
    }
    if svc.get("entrypoint") is not None:
        container["Command"] = list(svc["entrypoint"])
    if svc.get("command") is not None:
        container["Args"] = list(svc["command"])
    env = svc.get("environment") or {}
    if env:
        container["Env"] = sorted(k if v is None else f"{k}={v}" for k, v in env.items())
    for key, api in (("hostname", "Hostname"), ("user", "User"), ("working_dir", "Dir"),
                     ("stop_signal", "StopSignal")):
        if svc.get(key):
            container[api] = svc[key]
    for key, api in (("tty", "TTY"), ("stdin_open", "OpenStdin"), ("read_only", "ReadOnly"),
                     ("init", "Init")):
        if svc.get(key):
            container[api] = True
    if svc.get("stop_grace_period"):
        container["StopGracePeriod"] = duration_ns(svc["stop_grace_period"],
                                                   f"{where}.stop_grace_period")
    if svc.get("healthcheck"):
        container["Healthcheck"] = healthcheck(svc["healthcheck"], where)
    if svc.get("extra_hosts"):
        hosts = svc["extra_hosts"]
        pairs = hosts.items() if isinstance(hosts, dict) else (
            h.replace("=", ":", 1).split(":", 1) for h in hosts)
        container["Hosts"] = [f"{ip} {host}" for host, ip in pairs]
    if svc.get("cap_add"):
        container["CapabilityAdd"] = list(svc["cap_add"])
    if svc.get("cap_drop"):
        container["CapabilityDrop"] = list(svc["cap_drop"])
    if svc.get("sysctls"):
        container["Sysctls"] = {k: str(v) for k, v in svc["sysctls"].items()}
    mounts = [mount(project, v, where) for v in svc.get("volumes") or []]
    if mounts:
        container["Mounts"] = mounts
    for section, api in (("secrets", "Secrets"), ("configs", "Configs")):
        refs = [file_reference(project, section, ref, where) for ref in svc.get(section) or []]
        if refs:
            container[api] = refs
    template: dict[str, Any] = {"ContainerSpec": container, "ForceUpdate": 0}
    template["Networks"] = sorted(
        ({"Target": project.section("networks")[key]["name"] if key in
          project.section("networks") else f"{stack}_{key}",
          "Aliases": [name, *((opts or {}).get("aliases") or [])]}
         for key, opts in (svc.get("networks") or {"default": None}).items()),
        key=lambda n: n["Target"])
    restart = restart_policy(deploy.get("restart_policy"), svc.get("restart"), where)
    if restart:
        template["RestartPolicy"] = restart
    resources = deploy.get("resources") or {}
    if resources:
        template["Resources"] = {
            "Limits": resource(resources.get("limits") or {}, f"{where}.deploy.resources"),
            "Reservations": resource(resources.get("reservations") or {},
                                     f"{where}.deploy.resources")}
    placement = deploy.get("placement") or {}
    if placement:
        template["Placement"] = {
            "Constraints": list(placement.get("constraints") or []),
            "Preferences": [{"Spread": {"SpreadDescriptor": p["spread"]}}
                            for p in placement.get("preferences") or []],
            "MaxReplicas": int(placement.get("max_replicas_per_node") or 0)}
    spec: dict[str, Any] = {
        "Name": f"{stack}_{name}",
        "Labels": {**labelled(stack, deploy.get("labels")), IMAGE: svc["image"]},
        "TaskTemplate": template, "Mode": mode(deploy, svc, where),
    }
    for key, api in (("update_config", "UpdateConfig"), ("rollback_config", "RollbackConfig")):
        if deploy.get(key):
            spec[api] = update_config(deploy[key], f"{where}.deploy.{key}")
    spec["EndpointSpec"] = {"Mode": deploy.get("endpoint_mode") or "vip",
                            "Ports": [port(p, where) for p in svc.get("ports") or []]}
    return spec


def mode(deploy: dict[str, Any], svc: dict[str, Any], where: str) -> dict[str, Any]:
    kind = deploy.get("mode") or "replicated"
    if kind not in MODES:
        raise ComposeFileError(f"{where}.deploy.mode: unknown mode {kind!r} (replicated, "
                               "global, replicated-job or global-job)")
    replicas = deploy.get("replicas")
    if replicas is None and svc.get("scale") is not None:
        replicas = svc["scale"]
    if kind in ("global", "global-job"):
        if replicas is not None:
            raise ComposeFileError(f"{where}.deploy.replicas: replicas can only be used with "
                                   "replicated or replicated-job mode")
        return {MODES[kind]: {}}
    count = 1 if replicas is None else int(replicas)
    if kind == "replicated-job":
        return {"ReplicatedJob": {"MaxConcurrent": count, "TotalCompletions": count}}
    return {"Replicated": {"Replicas": count}}


def restart_policy(policy: dict[str, Any] | None, restart: str | None, where: str
                   ) -> dict[str, Any]:
    if policy:
        out: dict[str, Any] = {}
        if policy.get("condition"):
            out["Condition"] = policy["condition"]
        for key, api in (("delay", "Delay"), ("window", "Window")):
            if policy.get(key) is not None:
                out[api] = duration_ns(policy[key], f"{where}.deploy.restart_policy.{key}")
        if policy.get("max_attempts") is not None:
            out["MaxAttempts"] = int(policy["max_attempts"])
        return out
    if restart:  # the docker CLI falls back on ``restart`` (and warns it is ignored)
        name = restart.partition(":")[0]
        condition = RESTART.get(name)
        if condition is None:
            raise ComposeFileError(f"{where}.restart: unknown restart policy {restart!r}")
        return {"Condition": condition}
    return {}


def resource(values: dict[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if values.get("cpus") is not None:
        try:
            out["NanoCPUs"] = int(round(float(values["cpus"]) * SECOND))
        except ValueError:
            raise ComposeFileError(f"{where}: invalid cpus {values['cpus']!r}") from None
    if values.get("memory") is not None:
        out["MemoryBytes"] = size_bytes(values["memory"], f"{where}.memory")
    if values.get("pids") is not None:
        out["Pids"] = int(values["pids"])
    return out


def update_config(values: dict[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {"Parallelism": int(values.get("parallelism", 1))}
    for key, api in (("delay", "Delay"), ("monitor", "Monitor")):
        if values.get(key) is not None:
            out[api] = duration_ns(values[key], f"{where}.{key}")
    if values.get("failure_action"):
        out["FailureAction"] = values["failure_action"]
    if values.get("max_failure_ratio") is not None:
        out["MaxFailureRatio"] = float(values["max_failure_ratio"])
    if values.get("order"):
        out["Order"] = values["order"]
    return out


def port(value: dict[str, Any], where: str) -> dict[str, Any]:
    published = str(value.get("published") or "")
    if "-" in published:
        raise ComposeFileError(f"{where}.ports: a range of published ports ({published}) "
                               "cannot be given to a swarm service")
    out: dict[str, Any] = {"Protocol": value.get("protocol") or "tcp",
                           "TargetPort": int(value["target"]),
                           "PublishMode": value.get("mode") or "ingress"}
    if published:
        out["PublishedPort"] = int(published)
    return out


def mount(project: Project, volume: dict[str, Any], where: str) -> dict[str, Any]:
    kind = volume.get("type") or "volume"
    out: dict[str, Any] = {"Type": kind, "Target": volume["target"]}
    if volume.get("read_only"):
        out["ReadOnly"] = True
    if kind == "volume":
        source = volume.get("source") or ""
        if source:
            declared = project.section("volumes").get(source)
            if declared is None:
                raise ComposeFileError(f'{where}.volumes: undefined volume "{source}"')
            source = declared["name"]
            options: dict[str, Any] = {"Labels": labelled(project.name, declared.get("labels"))}
            if declared.get("driver"):
                options["DriverConfig"] = {"Name": declared["driver"],
                                           "Options": declared.get("driver_opts") or {}}
            if (volume.get("volume") or {}).get("nocopy"):
                options["NoCopy"] = True
            out["VolumeOptions"] = options
        out["Source"] = source
    elif kind == "bind":
        out["Source"] = os.path.join(project.working_dir, volume["source"])
        propagation = (volume.get("bind") or {}).get("propagation")
        if propagation:
            out["BindOptions"] = {"Propagation": propagation}
    elif kind == "tmpfs":
        size = (volume.get("tmpfs") or {}).get("size")
        if size is not None:
            out["TmpfsOptions"] = {"SizeBytes": size_bytes(size, f"{where}.volumes")}
    else:
        raise ComposeFileError(f"{where}.volumes: a swarm service cannot mount a {kind}")
    return out


def file_reference(project: Project, section: str, ref: dict[str, Any], where: str
                   ) -> dict[str, Any]:
    source = ref["source"]
    declared = project.section(section).get(source)
    if declared is None:
        raise ComposeFileError(f'{where}.{section}: undefined {section[:-1]} "{source}"')
    target = ref.get("target") or (source if section == "secrets" else f"/{source}")
    mode = ref.get("mode")
    api = "SecretName" if section == "secrets" else "ConfigName"
    return {api: declared["name"],
            "File": {"Name": target, "UID": str(ref.get("uid") or "0"),
                     "GID": str(ref.get("gid") or "0"),
                     "Mode": 0o444 if mode is None else int(str(mode), 8)
                     if isinstance(mode, str) else int(mode)}}
