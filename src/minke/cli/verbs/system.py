"""System verbs: ``version``, ``info`` and ``events``."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime

from minke import errors

from ..context import CLIError, Context, describe
from ..filters import add_filter_option, filters_param
from ..formatting import render_each
from ..template import Template
from ..units import api_time

# typing is imported only by type checkers: it costs milliseconds of CLI start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def configure_version(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--format", metavar="string", help="Format output using a template")


def client_version() -> dict[str, Any]:
    from minke import __version__
    from minke.client.api import API_VERSION

    return {
        "Platform": {"Name": ""},
        "Version": __version__,
        "ApiVersion": API_VERSION,
        "DefaultAPIVersion": API_VERSION,
        "PythonVersion": ".".join(map(str, sys.version_info[:3])),
        "Os": sys.platform,
        "Arch": os.uname().machine,
        "Context": "default",
    }


def do_version(ctx: Context, args: argparse.Namespace) -> int:
    client = client_version()
    server: dict[str, Any] | None = None
    failure: BaseException | None = None
    try:
        server = ctx.client.get("/version")
        client["ApiVersion"] = ctx.client.version
    except errors.MinkeError as exc:
        failure = exc
    if args.format:
        render_each(ctx.stdout, args.format, [{"Client": client, "Server": server}])
    else:
        ctx.stdout.write(_version_text(client, server))
    if failure is not None:
        raise CLIError(describe(failure))
    return 0


def _version_text(client: dict[str, Any], server: dict[str, Any] | None) -> str:
    lines = [
        "Client:",
        f" Version:           {client['Version']}",
        f" API version:       {client['ApiVersion']}",
        f" Python version:    {client['PythonVersion']}",
        f" OS/Arch:           {client['Os']}/{_arch(client['Arch'])}",
        f" Context:           {client['Context']}",
    ]
    if server is not None:
        lines += [
            "",
            f"Server: {(server.get('Platform') or {}).get('Name') or 'minke'}",
            " Engine:",
            f"  Version:          {server.get('Version', '')}",
            f"  API version:      {server.get('ApiVersion', '')} "
            f"(minimum version {server.get('MinAPIVersion', '')})",
            f"  Go version:       {server.get('GoVersion', '')}",
            f"  Git commit:       {server.get('GitCommit', '')}",
            f"  Built:            {server.get('BuildTime', '')}",
            f"  OS/Arch:          {server.get('Os', '')}/{server.get('Arch', '')}",
            f"  Experimental:     {str(bool(server.get('Experimental'))).lower()}",
        ]
        for component in server.get("Components") or []:
            if component.get("Name") == "Engine":
                continue
            lines += [f" {component.get('Name')}:",
                      f"  Version:          {component.get('Version', '')}"]
            for key, value in (component.get("Details") or {}).items():
                lines.append(f"  {key + ':':<18}{value}")
    return "\n".join(lines) + "\n"


def _arch(machine: str) -> str:
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def configure_info(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--format", metavar="string", help="Format output using a template")


INFO_FIELDS = (
    ("Containers", "Containers"), (" Running", "ContainersRunning"),
    (" Paused", "ContainersPaused"), (" Stopped", "ContainersStopped"),
    ("Images", "Images"), ("Server Version", "ServerVersion"),
    ("Storage Driver", "Driver"), ("Logging Driver", "LoggingDriver"),
    ("Cgroup Driver", "CgroupDriver"), ("Cgroup Version", "CgroupVersion"),
    ("Default Runtime", "DefaultRuntime"), ("Kernel Version", "KernelVersion"),
    ("Operating System", "OperatingSystem"), ("OSType", "OSType"),
    ("Architecture", "Architecture"), ("CPUs", "NCPU"), ("Total Memory", "MemTotal"),
    ("Name", "Name"), ("ID", "ID"), ("Docker Root Dir", "DockerRootDir"),
    ("Debug Mode", "Debug"), ("Experimental", "ExperimentalBuild"),

)


def do_info(ctx: Context, args: argparse.Namespace) -> int:
    info = ctx.client.get("/info")
    if args.format:
        render_each(ctx.stdout, args.format, [info])
        return 0
    lines = ["Client:", f" Version:    {client_version()['Version']}", " Context:    default",
             "", "Server:"]
    for label, key in INFO_FIELDS:
        if key not in info:
            continue
        value = info[key]
        if key == "MemTotal":
            value = _binary_size(int(value))
        elif isinstance(value, bool):
            value = str(value).lower()
        lines.append(f" {label}: {value}")
    from .swarm import info_lines

    lines += info_lines(info.get("Swarm") or {})
    for warning in info.get("Warnings") or []:
        lines.append(warning)
    ctx.stdout.write("\n".join(lines) + "\n")
    return 0


def _binary_size(size: int) -> str:
    # docker info prints memory with go-units BytesSize: binary units, two decimals
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
    value, i = float(size), 0
    while value >= 1024 and i < len(units) - 1:
        value /= 1024
        i += 1
    return f"{value:.4g}{units[i]}"


def configure_events(p: argparse.ArgumentParser) -> None:
    add_filter_option(p)
    p.add_argument("--format", metavar="string", help="Format output using a custom template")
    p.add_argument("--since", metavar="string", help="Show all events created since timestamp")
    p.add_argument("--until", metavar="string", help="Stream events until this timestamp")


def do_events(ctx: Context, args: argparse.Namespace) -> int:
    params = {
        "since": api_time(args.since) if args.since else None,
        "until": api_time(args.until) if args.until else None,
        "filters": filters_param(args.filter),
    }
    fmt = "{{json .}}" if args.format == "json" else args.format
    template = Template(fmt) if fmt else None
    with ctx.client.stream("GET", "/events", params=params) as stream:
        for event in stream.json_messages():
            line = template.render(event) if template else event_line(event)
            ctx.stdout.write(line + "\n")
            ctx.stdout.flush()
    return 0


def event_line(event: dict[str, Any]) -> str:
    """docker's default event line: time, type, action, actor id, (sorted attributes)."""
    nanos = int(event.get("timeNano") or int(event.get("time") or 0) * 10**9)
    stamp = datetime.fromtimestamp(nanos // 10**9, UTC).astimezone()
    offset = stamp.strftime("%z")
    zone = "Z" if offset == "+0000" else f"{offset[:3]}:{offset[3:]}"  # Go's Z07:00
    text = stamp.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos % 10**9:09d}{zone}"
    actor = event.get("Actor") or {}
    line = f"{text} {event.get('Type', '')} {event.get('Action', '')} {actor.get('ID', '')}"
    attrs = actor.get("Attributes") or {}
    if attrs:
        line += " (" + ", ".join(f"{k}={attrs[k]}" for k in sorted(attrs)) + ")"
    return line
