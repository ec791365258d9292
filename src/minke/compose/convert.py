"""One service replica as a Docker ``POST /containers/create`` body, as Compose v2 builds it.

Config (image, command, environment, labels, health check, stop signal...), HostConfig
(binds and volumes, tmpfs, ports, restart policy, resources, capabilities, ulimits...) and
the first network's endpoint (aliases, static addresses); further networks are connected
by the executor before start, because API 1.41 takes one endpoint at create.
"""

from __future__ import annotations

from collections.abc import Callable

from minke.units import parse_go_duration, ram_in_bytes

from .errors import ComposeFileError
from .model import Project

TYPE_CHECKING = False  # typing costs milliseconds of start-up: for type checkers only
if TYPE_CHECKING:
    from typing import Any


def duration_ns(value: Any, what: str) -> int:
    """A Go duration ("1m30s") in nanoseconds."""
    if isinstance(value, int | float):
        return int(value * 1_000_000_000)
    ns = parse_go_duration(str(value))
    if ns is None:
        raise ComposeFileError(f"{what}: invalid duration {value!r}")
    return ns


def size_bytes(value: Any, what: str) -> int:
    """A size ("512m", "1g", 1048576) in bytes, as Docker's RAMInBytes reads it."""
    if isinstance(value, int | float):
        return int(value)
    size = ram_in_bytes(str(value))
    if size is None:
        raise ComposeFileError(f"{what}: invalid size {value!r}")
    return size


def network_name(project: Project, key: str) -> str:
    return project.section("networks")[key]["name"]


def expose_ports(values: list[Any]) -> list[str]:
    """``expose`` entries as ``port/proto`` keys; a range (``9091-9092``) is one per port,
    as ``docker run --expose`` sends them."""
    out = []
    for value in values:
        ports, _, proto = str(value).partition("/")
        first, _, last = ports.partition("-")
        try:
            low, high = int(first), int(last or first)
        except ValueError:
            raise ComposeFileError(f"invalid expose value {value!r}") from None
        if not 0 < low <= high <= 65535:
            raise ComposeFileError(f"invalid expose range {value!r}")
        out += [f"{p}/{proto or 'tcp'}" for p in range(low, high + 1)]
    return out


def _same(mode: str) -> str:
    return mode


def create_body(project: Project, service: str, number: int, image: str,
                labels: dict[str, str], name: str, *,
                resolve: Callable[[str], str] = _same, socket: str | None = None
                ) -> dict[str, Any]:
    """``resolve`` turns ``service:NAME`` (network_mode, ipc, pid) into ``container:<id>``;
    ``socket`` is the daemon's, bind-mounted for ``use_api_socket``."""
    svc = project.services[service]
    where = f"services.{service}"
    config: dict[str, Any] = {
        "Image": image, "Labels": labels, "Hostname": svc.get("hostname") or "",
        "Domainname": svc.get("domainname") or "", "User": svc.get("user") or "",
        "WorkingDir": svc.get("working_dir") or "", "Tty": bool(svc.get("tty")),
        "OpenStdin": bool(svc.get("stdin_open")), "AttachStdin": False,
        "AttachStdout": True, "AttachStderr": True,
        # A variable left unset on the client is not passed (Compose resolves it there).
        "Env": [f"{k}={v}" for k, v in (svc.get("environment") or {}).items()
                if v is not None],
    }
    if svc.get("command") is not None:
        config["Cmd"] = svc["command"]
    if svc.get("entrypoint") is not None:
        config["Entrypoint"] = svc["entrypoint"]
    if svc.get("stop_signal"):
        config["StopSignal"] = svc["stop_signal"]
    if svc.get("stop_grace_period"):
        config["StopTimeout"] = duration_ns(svc["stop_grace_period"],
                                            f"{where}.stop_grace_period") // 1_000_000_000
    exposed: dict[str, Any] = dict.fromkeys(expose_ports(svc.get("expose") or []), {})
    for port in svc.get("ports") or []:
        exposed[f"{port['target']}/{port.get('protocol', 'tcp')}"] = {}
    if exposed:
        config["ExposedPorts"] = exposed
    if svc.get("healthcheck"):
        config["Healthcheck"] = healthcheck(svc["healthcheck"], where)
    host = host_config(project, service, svc, where, resolve)
    if svc.get("use_api_socket"):
        if socket is None:
            raise ComposeFileError(f"{where}.use_api_socket: the daemon is not on a unix "
                                   "socket that could be mounted")
        host.setdefault("Binds", []).append(f"{socket}:/var/run/docker.sock")
    anonymous = {v["target"]: {} for v in svc.get("volumes") or []
                 if v.get("type") == "volume" and not v.get("source")}
    if anonymous:
        config["Volumes"] = anonymous
    body = {**config, "HostConfig": host}
    networks = list((svc.get("networks") or {}).items())
    if networks and not svc.get("network_mode"):
        key, spec = networks[0]
        body["NetworkingConfig"] = {"EndpointsConfig": {
            network_name(project, key): endpoint(service, name, spec)}}
    return body


def endpoint(service: str, container_name: str, spec: dict[str, Any] | None) -> dict[str, Any]:
    """An endpoint: the service name (and aliases) for DNS, and any static address."""
    spec = spec or {}
    out: dict[str, Any] = {"Aliases": [service, *(spec.get("aliases") or [])]}
    ipam = {}
    if spec.get("ipv4_address"):
        ipam["IPv4Address"] = spec["ipv4_address"]
    if spec.get("ipv6_address"):
        ipam["IPv6Address"] = spec["ipv6_address"]
    if ipam:
        out["IPAMConfig"] = ipam
    if spec.get("mac_address"):
        out["MacAddress"] = spec["mac_address"]
    return out


def healthcheck(hc: dict[str, Any], where: str) -> dict[str, Any]:
    if hc.get("disable"):
        return {"Test": ["NONE"]}
    out: dict[str, Any] = {}
    if hc.get("test"):
        out["Test"] = hc["test"]
    for key, api in (("interval", "Interval"), ("timeout", "Timeout"),
                     ("start_period", "StartPeriod"), ("start_interval", "StartInterval")):
        if hc.get(key):
            out[api] = duration_ns(hc[key], f"{where}.healthcheck.{key}")
    if hc.get("retries") is not None:
        out["Retries"] = int(hc["retries"])
    return out


def restart_policy(value: str | None) -> dict[str, Any]:
    name, _, count = (value or "no").partition(":")
    return {"Name": "" if name == "no" else name,
            "MaximumRetryCount": int(count) if count else 0}


def host_config(project: Project, service: str, svc: dict[str, Any],
                where: str, resolve: Callable[[str], str] = _same) -> dict[str, Any]:
    host: dict[str, Any] = {
        "RestartPolicy": restart_policy(svc.get("restart")),
        "Init": svc.get("init"), "Privileged": bool(svc.get("privileged")),
        "ReadonlyRootfs": bool(svc.get("read_only")),
    }
    networks = list(svc.get("networks") or {})
    if svc.get("network_mode"):
        host["NetworkMode"] = resolve(svc["network_mode"])
    elif networks:
        host["NetworkMode"] = network_name(project, networks[0])
    binds, tmpfs = volumes(project, svc)
    if binds:
        host["Binds"] = binds
    for item in svc.get("tmpfs") or []:
        path, _, opts = item.partition(":")
        tmpfs[path] = opts
    if tmpfs:
        host["Tmpfs"] = tmpfs
    bindings: dict[str, list[dict[str, str]]] = {}
    for port in svc.get("ports") or []:
        key = f"{port['target']}/{port.get('protocol', 'tcp')}"
        bindings.setdefault(key, []).append({"HostIp": port.get("host_ip", ""),
                                             "HostPort": str(port.get("published") or "")})
    if bindings:
        host["PortBindings"] = bindings
    simple = {"cap_add": "CapAdd", "cap_drop": "CapDrop", "security_opt": "SecurityOpt",
              "dns": "Dns", "dns_search": "DnsSearch", "dns_opt": "DnsOptions",
              "group_add": "GroupAdd", "uts": "UTSMode", "cgroup": "CgroupnsMode",
              "cgroup_parent": "CgroupParent", "userns_mode": "UsernsMode",
              "device_cgroup_rules": "DeviceCgroupRules",
              "oom_score_adj": "OomScoreAdj", "cpuset": "CpusetCpus", "runtime": "Runtime"}
    for key, api in simple.items():
        if svc.get(key) is not None:
            host[api] = svc[key]
    for key, api in (("ipc", "IpcMode"), ("pid", "PidMode")):
        if svc.get(key) is not None:
            host[api] = resolve(svc[key])
    blkio(svc.get("blkio_config") or {}, host)
    if svc.get("extra_hosts"):
        host["ExtraHosts"] = [h.replace("=", ":", 1) for h in svc["extra_hosts"]]
    if svc.get("sysctls"):
        host["Sysctls"] = {k: str(v) for k, v in svc["sysctls"].items()}
    if svc.get("ulimits"):
        host["Ulimits"] = [{"Name": name, "Soft": int(v["soft"]), "Hard": int(v["hard"])}
                           if isinstance(v, dict) else
                           {"Name": name, "Soft": int(v), "Hard": int(v)}
                           for name, v in svc["ulimits"].items()]
    if svc.get("shm_size") is not None:
        host["ShmSize"] = size_bytes(svc["shm_size"], f"{where}.shm_size")
    if svc.get("logging"):
        log = svc["logging"]
        host["LogConfig"] = {"Type": log.get("driver", ""),
                             "Config": {k: str(v) for k, v in (log.get("options") or {}).items()}}
    resources(svc, host, where)
    return host


def blkio(config: dict[str, Any], host: dict[str, Any]) -> None:
    if config.get("weight") is not None:
        host["BlkioWeight"] = int(config["weight"])
    if config.get("weight_device"):
        host["BlkioWeightDevice"] = [{"Path": d["path"], "Weight": int(d["weight"])}
                                     for d in config["weight_device"]]
    for key, api in (("device_read_bps", "BlkioDeviceReadBps"),
                     ("device_write_bps", "BlkioDeviceWriteBps"),
                     ("device_read_iops", "BlkioDeviceReadIOps"),
                     ("device_write_iops", "BlkioDeviceWriteIOps")):
        if config.get(key):
            host[api] = [{"Path": d["path"], "Rate": int(size_bytes(d["rate"], key))}
                         for d in config[key]]


def resources(svc: dict[str, Any], host: dict[str, Any], where: str) -> None:
    limits = ((svc.get("deploy") or {}).get("resources") or {}).get("limits") or {}
    memory = limits.get("memory", svc.get("mem_limit"))
    if memory is not None:
        host["Memory"] = size_bytes(memory, f"{where}.deploy.resources.limits.memory")
    if svc.get("memswap_limit") is not None:
        host["MemorySwap"] = size_bytes(svc["memswap_limit"], f"{where}.memswap_limit")
    cpus = limits.get("cpus", svc.get("cpus"))
    if cpus is not None:
        host["NanoCpus"] = int(float(cpus) * 1e9)
    pids = limits.get("pids", svc.get("pids_limit"))
    if pids is not None:
        host["PidsLimit"] = int(pids)
    if svc.get("cpu_shares") is not None:
        host["CpuShares"] = int(svc["cpu_shares"])


def volumes(project: Project, svc: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    """``Binds`` (binds and named volumes, as ``docker run -v`` sends them) and ``Tmpfs``."""
    binds: list[str] = []
    tmpfs: dict[str, str] = {}
    for vol in svc.get("volumes") or []:
        kind, target = vol.get("type"), vol["target"]
        opts = ["ro"] if vol.get("read_only") else []
        if kind == "bind":
            prop = (vol.get("bind") or {}).get("propagation")
            opts += [prop] if prop else []
            binds.append(":".join([vol["source"], target, *([",".join(opts)] if opts else [])]))
        elif kind == "volume" and vol.get("source"):
            source = project.section("volumes")[vol["source"]]["name"]
            if (vol.get("volume") or {}).get("nocopy"):
                opts.append("nocopy")
            binds.append(":".join([source, target, *([",".join(opts)] if opts else [])]))
        elif kind == "tmpfs":
            size = (vol.get("tmpfs") or {}).get("size")
            tmpfs[target] = f"size={size}" if size else ""
    for kind, default_dir in (("secrets", "/run/secrets"), ("configs", "")):
        for ref in svc.get(kind) or []:
            spec = project.section(kind)[ref["source"]]
            target = ref.get("target") or ref["source"]
            if not target.startswith("/"):
                target = f"{default_dir}/{target}"
            if spec.get("file"):
                binds.append(f"{spec['file']}:{target}:ro")
    return binds, tmpfs


def content_files(project: Project, svc: dict[str, Any]) -> list[tuple[str, bytes, int]]:
    """Secrets and configs given as ``content``/``environment``: (path, data, mode), to be
    copied into the container after create (Compose does the same, no host file)."""
    out = []
    for kind, default_dir in (("secrets", "/run/secrets"), ("configs", "")):
        for ref in svc.get(kind) or []:
            spec = project.section(kind)[ref["source"]]
            if spec.get("file") or spec.get("external"):
                continue
            target = ref.get("target") or ref["source"]
            if not target.startswith("/"):
                target = f"{default_dir}/{target}"
            mode = int(str(ref.get("mode", "0444")), 8) if isinstance(ref.get("mode"), str) \
                else int(ref.get("mode", 0o444))
            out.append((target, str(spec.get("content", "")).encode(), mode))
    return out
