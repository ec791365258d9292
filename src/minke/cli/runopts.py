"""The options of ``run`` and ``create`` and the ``POST /containers/create`` body they make.

Owns the mapping from docker's flags to ``Config``, ``HostConfig`` and ``NetworkingConfig``
(``-e A=1 -w /x -u 1:2 --rm -t`` → ``Env``, ``WorkingDir``, ``User``, ``AutoRemove``,
``Tty``), including docker's parsing of ports, volumes, mounts, sizes, env and label files.
Pure: no I/O except reading ``--env-file``/``--label-file`` and the environment.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Mapping

from minke import units

from .context import CLIError

# typing is imported only by type checkers: it costs milliseconds of CLI start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


_DURATION_FLAGS = ("health_interval", "health_timeout", "health_start_period")


def add_create_options(p: argparse.ArgumentParser) -> None:
    """The flags ``run`` and ``create`` share (``run`` adds -d, --rm handling, --sig-proxy)."""
    multi = {"action": "append", "default": []}
    p.add_argument("-a", "--attach", metavar="list", **multi,
                   choices=["stdin", "stdout", "stderr", "STDIN", "STDOUT", "STDERR"],
                   help="Attach to STDIN, STDOUT or STDERR")
    p.add_argument("-i", "--interactive", action="store_true", help="Keep STDIN open")
    p.add_argument("-t", "--tty", action="store_true", help="Allocate a pseudo-TTY")
    p.add_argument("-e", "--env", metavar="list", **multi, help="Set environment variables")
    p.add_argument("--env-file", metavar="list", **multi, help="Read in a file of env vars")
    p.add_argument("-w", "--workdir", metavar="string", help="Working directory")
    p.add_argument("-u", "--user", metavar="string", help="Username or UID")
    p.add_argument("--entrypoint", metavar="string", help="Overwrite the default ENTRYPOINT")
    p.add_argument("--name", metavar="string", help="Assign a name to the container")
    p.add_argument("-h", "--hostname", metavar="string", help="Container host name")
    p.add_argument("--domainname", metavar="string", help="Container NIS domain name")
    p.add_argument("-l", "--label", metavar="list", **multi, help="Set meta data on a container")
    p.add_argument("--label-file", metavar="list", **multi, help="Read in a file of labels")
    p.add_argument("--detach-keys", metavar="string", help="Key sequence for detaching")
    p.add_argument("--init", action="store_true", help="Run an init inside the container")
    p.add_argument("--restart", metavar="string", default="no", help="Restart policy")
    p.add_argument("--rm", action="store_true", help="Remove the container on exit")
    p.add_argument("-v", "--volume", metavar="list", **multi, help="Bind mount a volume")
    p.add_argument("--mount", metavar="mount", **multi, help="Attach a filesystem mount")
    p.add_argument("--volumes-from", metavar="list", **multi, help="Mount volumes from containers")
    p.add_argument("--tmpfs", metavar="list", **multi, help="Mount a tmpfs directory")
    p.add_argument("--read-only", action="store_true", help="Mount the root filesystem read only")
    p.add_argument("--stop-signal", metavar="string", help="Signal to stop the container")
    p.add_argument("--stop-timeout", metavar="int", type=int, help="Timeout (in seconds) to stop")
    p.add_argument("-p", "--publish", metavar="list", **multi, help="Publish a port to the host")
    p.add_argument("-P", "--publish-all", action="store_true", help="Publish all exposed ports")
    p.add_argument("--expose", metavar="list", **multi, help="Expose a port or a range of ports")
    p.add_argument("--network", "--net", metavar="network", help="Connect to a network")
    p.add_argument("--network-alias", metavar="list", **multi, help="Network-scoped alias")
    p.add_argument("--ip", metavar="string", help="IPv4 address")
    p.add_argument("--dns", metavar="list", **multi, help="Set custom DNS servers")
    p.add_argument("--dns-search", metavar="list", **multi, help="Set custom DNS search domains")
    p.add_argument("--dns-option", metavar="list", **multi, help="Set DNS options")
    p.add_argument("--add-host", metavar="list", **multi, help="Add a custom host-to-IP mapping")
    p.add_argument("--privileged", action="store_true", help="Give extended privileges")
    p.add_argument("--cap-add", metavar="list", **multi, help="Add Linux capabilities")
    p.add_argument("--cap-drop", metavar="list", **multi, help="Drop Linux capabilities")
    p.add_argument("--security-opt", metavar="list", **multi, help="Security Options")
    p.add_argument("--group-add", metavar="list", **multi, help="Add additional groups to join")
    p.add_argument("--device", metavar="list", **multi, help="Add a host device")
    p.add_argument("--sysctl", metavar="map", **multi, help="Sysctl options")
    p.add_argument("--ulimit", metavar="ulimit", **multi, help="Ulimit options")
    p.add_argument("--pid", metavar="string", help="PID namespace to use")
    p.add_argument("--ipc", metavar="string", help="IPC mode to use")
    p.add_argument("--uts", metavar="string", help="UTS namespace to use")
    p.add_argument("--userns", metavar="string", help="User namespace to use")
    p.add_argument("--cgroupns", metavar="string", help="Cgroup namespace to use")
    p.add_argument("--cgroup-parent", metavar="string", help="Parent cgroup")
    p.add_argument("--runtime", metavar="string", help="Runtime to use for this container")
    p.add_argument("-m", "--memory", metavar="bytes", help="Memory limit")
    p.add_argument("--memory-swap", metavar="bytes", help="Swap limit equal to memory plus swap")
    p.add_argument("--memory-reservation", metavar="bytes", help="Memory soft limit")
    p.add_argument("--shm-size", metavar="bytes", help="Size of /dev/shm")
    p.add_argument("--cpus", metavar="decimal", type=float, help="Number of CPUs")
    p.add_argument("-c", "--cpu-shares", metavar="int", type=int, help="CPU shares")
    p.add_argument("--cpuset-cpus", metavar="string", help="CPUs in which to allow execution")
    p.add_argument("--pids-limit", metavar="int", type=int, help="Tune container pids limit")
    p.add_argument("--oom-kill-disable", action="store_true", help="Disable OOM Killer")
    p.add_argument("--memory-swappiness", metavar="int", type=int, help="Tune swappiness")
    p.add_argument("--cpu-period", metavar="int", type=int, help="Limit CPU CFS period")
    p.add_argument("--cpu-quota", metavar="int", type=int, help="Limit CPU CFS quota")
    p.add_argument("--cpuset-mems", metavar="string", help="MEMs in which to allow execution")
    p.add_argument("--blkio-weight", metavar="uint16", type=int, help="Block IO weight")
    p.add_argument("--log-driver", metavar="string", help="Logging driver for the container")
    p.add_argument("--log-opt", metavar="list", **multi, help="Log driver options")
    p.add_argument("--health-cmd", metavar="string", help="Command to run to check health")
    p.add_argument("--health-interval", metavar="duration", help="Time between running the check")
    p.add_argument("--health-timeout", metavar="duration", help="Maximum time to allow one check")
    p.add_argument("--health-start-period", metavar="duration", help="Start period")
    p.add_argument("--health-retries", metavar="int", type=int, help="Failures to report unhealthy")
    p.add_argument("--no-healthcheck", action="store_true", help="Disable any HEALTHCHECK")
    p.add_argument("--platform", metavar="string", help="Set platform if server is multi-platform")
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("command", metavar="COMMAND [ARG...]", nargs=argparse.REMAINDER)


class CreateRequest:
    """What ``POST /containers/create`` needs: query (``name``, ``platform``) and body."""

    def __init__(self, name: str | None, platform: str | None, body: dict[str, Any]) -> None:
        self.name = name
        self.platform = platform
        self.body = body

    @property
    def params(self) -> dict[str, str]:
        return {k: v for k, v in (("name", self.name), ("platform", self.platform)) if v}


def build_create_request(args: argparse.Namespace, *, detach: bool = False,
                         environ: Mapping[str, str] | None = None) -> CreateRequest:
    """The create request for parsed ``run``/``create`` options."""
    env_source = os.environ if environ is None else environ
    if args.rm and args.restart not in ("no", ""):
        raise CLIError("Conflicting options: --restart and --rm", 125)
    attach = {a.lower() for a in args.attach}
    if detach and attach:
        raise CLIError("Conflicting options: -a and -d", 125)
    if not attach and not detach:
        attach = {"stdout", "stderr"} | ({"stdin"} if args.interactive else set())
    exposed, bindings = parse_ports(args.publish, args.expose)
    binds, volumes = parse_volumes(args.volume)
    config: dict[str, Any] = {
        "Hostname": args.hostname or "",
        "Domainname": args.domainname or "",
        "User": args.user or "",
        "AttachStdin": "stdin" in attach,
        "AttachStdout": "stdout" in attach,
        "AttachStderr": "stderr" in attach,
        "Tty": args.tty,
        "OpenStdin": args.interactive,
        "StdinOnce": args.interactive and "stdin" in attach,
        "Env": read_env(args.env_file, args.env, env_source),
        "Cmd": args.command or None,
        "Image": args.image,
        "WorkingDir": args.workdir or "",
        "Entrypoint": None if args.entrypoint is None else [args.entrypoint],
        "Labels": read_labels(args.label_file, args.label),
    }
    if volumes:
        config["Volumes"] = volumes
    if exposed:
        config["ExposedPorts"] = exposed
    if args.stop_signal:
        config["StopSignal"] = args.stop_signal
    if args.stop_timeout is not None:
        config["StopTimeout"] = args.stop_timeout
    health = _healthcheck(args)
    if health is not None:
        config["Healthcheck"] = health
    host = _host_config(args, binds, bindings)
    config["HostConfig"] = host
    if args.network and (args.network_alias or args.ip):
        endpoint: dict[str, Any] = {"Aliases": args.network_alias or None}
        if args.ip:
            endpoint["IPAMConfig"] = {"IPv4Address": args.ip}
        config["NetworkingConfig"] = {"EndpointsConfig": {args.network: endpoint}}
    return CreateRequest(args.name, args.platform, config)


def _host_config(args: argparse.Namespace, binds: list[str],
                 bindings: dict[str, list[dict[str, str]]]) -> dict[str, Any]:
    host: dict[str, Any] = {
        "AutoRemove": args.rm,
        "RestartPolicy": parse_restart(args.restart),
    }
    optional: dict[str, Any] = {
        "Binds": binds,
        "PortBindings": bindings,
        "PublishAllPorts": args.publish_all,
        "Init": True if args.init else None,
        "Privileged": args.privileged,
        "ReadonlyRootfs": args.read_only,
        "Mounts": [parse_mount(m) for m in args.mount],
        "VolumesFrom": args.volumes_from,
        "Tmpfs": dict(_split_once(t, ":") for t in args.tmpfs),
        "NetworkMode": args.network,
        "Dns": args.dns,
        "DnsSearch": args.dns_search,
        "DnsOptions": args.dns_option,
        "ExtraHosts": args.add_host,
        "CapAdd": args.cap_add,
        "CapDrop": args.cap_drop,
        "SecurityOpt": security_opts(args.security_opt),
        "GroupAdd": args.group_add,
        "Devices": [parse_device(d) for d in args.device],
        "Sysctls": dict(_split_once(s, "=") for s in args.sysctl),
        "Ulimits": [parse_ulimit(u) for u in args.ulimit],
        "PidMode": args.pid,
        "IpcMode": args.ipc,
        "UTSMode": args.uts,
        "UsernsMode": args.userns,
        "CgroupnsMode": args.cgroupns,
        "CgroupParent": args.cgroup_parent,
        "Runtime": args.runtime,
        "Memory": ram_in_bytes(args.memory, "-m, --memory"),
        "MemorySwap": ram_in_bytes(args.memory_swap, "--memory-swap"),
        "MemoryReservation": ram_in_bytes(args.memory_reservation,
                                          "--memory-reservation"),
        "ShmSize": ram_in_bytes(args.shm_size, "--shm-size"),
        "NanoCpus": int(round(args.cpus * 1e9)) if args.cpus else None,
        "CpuShares": args.cpu_shares,
        "CpusetCpus": args.cpuset_cpus,
        "PidsLimit": args.pids_limit,
        "OomKillDisable": args.oom_kill_disable,
        "MemorySwappiness": args.memory_swappiness,
        "CpuPeriod": args.cpu_period,
        "CpuQuota": args.cpu_quota,
        "CpusetMems": args.cpuset_mems,
        "BlkioWeight": args.blkio_weight,
    }
    host.update({k: v for k, v in optional.items() if v not in (None, False, [], {})})
    if args.log_driver or args.log_opt:
        host["LogConfig"] = {"Type": args.log_driver or "",
                             "Config": dict(_split_once(o, "=") for o in args.log_opt)}
    return host


def _healthcheck(args: argparse.Namespace) -> dict[str, Any] | None:
    if args.no_healthcheck:
        return {"Test": ["NONE"]}
    check: dict[str, Any] = {}
    if args.health_cmd:
        check["Test"] = ["CMD-SHELL", args.health_cmd]
    for flag, key in zip(_DURATION_FLAGS, ("Interval", "Timeout", "StartPeriod"), strict=True):
        value = getattr(args, flag)
        if value:
            from .units import parse_go_duration

            seconds = parse_go_duration(value)
            if seconds is None:
                raise CLIError(f'invalid argument "{value}" for "--{flag.replace("_", "-")}"',
                               125)
            check[key] = int(seconds * 1e9)
    if args.health_retries is not None:
        check["Retries"] = args.health_retries
    return check or None


def _split_once(text: str, sep: str) -> tuple[str, str]:
    key, _, value = text.partition(sep)
    return key, value


def read_env(files: list[str], values: list[str], environ: Mapping[str, str]) -> list[str]:
    """``--env-file`` lines, then ``-e`` values; a bare ``NAME`` takes the local value."""
    out = [line for path in files for line in _read_lines(path)] + list(values)
    return [_with_local_value(item, environ) for item in out]


def _with_local_value(item: str, environ: Mapping[str, str]) -> str:
    if "=" in item:
        return item
    return f"{item}={environ[item]}" if item in environ else item


def read_labels(files: list[str], values: list[str]) -> dict[str, str]:
    """``--label-file`` lines, then ``-l`` values; ``-l k`` means an empty value."""
    out = {}
    for item in [line for path in files for line in _read_lines(path)] + list(values):
        key, value = _split_once(item, "=")
        out[key] = value
    return out


def _read_lines(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as exc:
        raise CLIError(f"open {path}: {exc.strerror.lower() if exc.strerror else exc}",
                       125) from exc
    return [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]


def parse_restart(value: str) -> dict[str, Any]:
    """``no``, ``always``, ``unless-stopped``, ``on-failure[:max-retries]``."""
    name, _, count = value.partition(":")
    if name not in ("", "no", "always", "unless-stopped", "on-failure"):
        raise CLIError(f"invalid restart policy {value}", 125)
    if count and name != "on-failure":
        raise CLIError(f"invalid restart policy format: maximum retry count "
                       f"cannot be used with restart policy '{name}'", 125)
    return {"Name": name or "no", "MaximumRetryCount": int(count) if count else 0}


def ram_in_bytes(value: str | None, flag: str = "") -> int | None:
    """go-units ``RAMInBytes``: ``512m`` → 536870912 (binary multiples, case-insensitive).
    With ``flag`` (``-m, --memory``) a bad value is docker's flag error; ``-1`` is
    accepted for ``--memory-swap`` (unlimited swap)."""
    if value is None:
        return None
    if flag.endswith("--memory-swap") and value.strip() == "-1":
        return -1
    size = units.ram_in_bytes(value)
    if size is None:
        number = re.match(r"\d+(?:\.\d+)?", value.strip())
        reason = (f"invalid suffix: '{value.strip()[number.end():]}'" if number
                  else f"invalid size: '{value}'")
        if flag:
            raise CLIError(f'invalid argument "{value}" for "{flag}" flag: {reason}\n'
                           "See 'minke run --help'.", 125)
        raise CLIError(reason, 125)
    return size


def security_opts(values: list[str]) -> list[str]:
    """``--security-opt``, with ``seccomp=FILE`` read and sent as its compacted JSON, as
    the docker CLI does (the daemon may run on another machine)."""
    import json

    out = []
    for opt in values:
        key, sep, path = opt.partition("=") if "=" in opt else opt.partition(":")
        if key == "seccomp" and sep and path not in ("unconfined", "builtin"):
            try:
                with open(path, encoding="utf-8") as f:
                    text = f.read()
            except OSError as exc:
                reason = (exc.strerror or str(exc)).lower()
                raise CLIError(f"minke: opening seccomp profile ({path}) failed: "
                               f"open {path}: {reason}", 125) from exc
            try:
                opt = "seccomp=" + json.dumps(json.loads(text), separators=(",", ":"))
            except ValueError as exc:
                raise CLIError(f"minke: compacting json for seccomp profile ({path}) "
                               f"failed: {exc}", 125) from exc
        out.append(opt)
    return out


def _port_range(text: str) -> list[int]:
    if not text:
        return []
    lo, _, hi = text.partition("-")
    try:
        first, last = int(lo), int(hi or lo)
    except ValueError as exc:
        raise CLIError(f"invalid port: {text}", 125) from exc
    return list(range(first, last + 1))


def parse_ports(publish: list[str], expose: list[str]) -> tuple[
        dict[str, dict[str, Any]], dict[str, list[dict[str, str]]]]:
    """``-p [ip:][hostPort:]containerPort[/proto]`` and ``--expose port[/proto]`` →
    (``ExposedPorts``, ``PortBindings``)."""
    exposed: dict[str, dict[str, Any]] = {}
    bindings: dict[str, list[dict[str, str]]] = {}
    for spec in expose:
        ports, _, proto = spec.partition("/")
        for port in _port_range(ports):
            exposed[f"{port}/{proto or 'tcp'}"] = {}
    for spec in publish:
        rest, _, proto = spec.partition("/")
        ip, host_part, container_part = "", "", rest
        if rest.startswith("["):  # [::1]:80:80
            close = rest.index("]")
            ip, rest = rest[1:close], rest[close + 2:]
            host_part, _, container_part = rest.rpartition(":")
        elif rest.count(":") == 1:
            host_part, container_part = rest.split(":")
        elif rest.count(":") == 2:
            ip, host_part, container_part = rest.split(":")
        container_ports = _port_range(container_part)
        host_ports = _port_range(host_part)
        if not container_ports:
            raise CLIError(f"no port specified: {spec}<empty>", 125)
        if host_ports and len(host_ports) != len(container_ports) and len(host_ports) != 1:
            raise CLIError(f"invalid ranges specified for container and host Ports: {spec}", 125)
        for i, port in enumerate(container_ports):
            key = f"{port}/{proto or 'tcp'}"
            exposed[key] = {}
            host_port = ""
            if len(host_ports) == len(container_ports):
                host_port = str(host_ports[i])
            elif host_ports:
                host_port = str(host_ports[0])
            bindings.setdefault(key, []).append({"HostIp": ip, "HostPort": host_port})
    return exposed, bindings


def parse_volumes(specs: list[str]) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """``-v`` specs → (``HostConfig.Binds``, ``Config.Volumes``): a lone path is an
    anonymous volume; ``src:dst[:opts]`` is a bind or a named volume."""
    binds: list[str] = []
    volumes: dict[str, dict[str, Any]] = {}
    for spec in specs:
        parts = spec.split(":")
        if len(parts) == 1:
            volumes[spec] = {}
            continue
        if len(parts) > 3 or not parts[1]:
            raise CLIError(f"invalid spec: {spec}: too many colons"
                           if len(parts) > 3 else f"invalid spec: {spec}", 125)
        if parts[0].startswith("."):  # docker resolves relative host paths itself
            parts[0] = os.path.abspath(parts[0])
        binds.append(":".join(parts))
    return binds, volumes


def parse_mount(spec: str) -> dict[str, Any]:
    """``--mount type=bind,source=/a,target=/b,readonly`` → a ``HostConfig.Mounts`` entry."""
    mount: dict[str, Any] = {"Type": "volume"}
    for field in spec.split(","):
        key, eq, value = field.partition("=")
        key = key.strip().lower()
        if key == "type":
            mount["Type"] = value
        elif key in ("source", "src"):
            mount["Source"] = value
        elif key in ("target", "destination", "dst"):
            mount["Target"] = value
        elif key in ("readonly", "ro"):
            mount["ReadOnly"] = not eq or value.lower() in ("1", "true")
        elif key == "tmpfs-size":
            mount.setdefault("TmpfsOptions", {})["SizeBytes"] = ram_in_bytes(value)
        elif key == "bind-propagation":
            mount.setdefault("BindOptions", {})["Propagation"] = value
        elif key == "tmpfs-mode":
            mount.setdefault("TmpfsOptions", {})["Mode"] = int(value, 8)
        elif key == "volume-nocopy":
            mount.setdefault("VolumeOptions", {})["NoCopy"] = (
                not eq or value.lower() in ("1", "true"))
        elif key == "volume-driver":
            mount.setdefault("VolumeOptions", {}).setdefault("DriverConfig", {})["Name"] = value
        elif key in ("volume-opt", "volume-label"):
            k, _, v = value.partition("=")
            options = mount.setdefault("VolumeOptions", {})
            if key == "volume-label":
                options.setdefault("Labels", {})[k] = v
            else:
                options.setdefault("DriverConfig", {}).setdefault("Options", {})[k] = v
        else:
            raise CLIError(f"invalid argument \"{spec}\" for \"--mount\" flag: "
                           f"unexpected key '{key}' in '{field}'", 125)
    if "Target" not in mount:
        raise CLIError(f"invalid argument \"{spec}\" for \"--mount\" flag: "
                       "target is required", 125)
    return mount


def parse_device(spec: str) -> dict[str, str]:
    """``--device /dev/x[:/dev/y[:rwm]]``."""
    parts = spec.split(":")
    host = parts[0]
    container = parts[1] if len(parts) > 1 and parts[1] else host
    perms = parts[2] if len(parts) > 2 else "rwm"
    return {"PathOnHost": host, "PathInContainer": container, "CgroupPermissions": perms}


def parse_ulimit(spec: str) -> dict[str, Any]:
    """``--ulimit nofile=1024[:2048]``."""
    name, _, limits = spec.partition("=")
    soft, _, hard = limits.partition(":")
    try:
        return {"Name": name, "Soft": int(soft), "Hard": int(hard or soft)}
    except ValueError as exc:
        raise CLIError(f"invalid ulimit argument: {spec}", 125) from exc
