from __future__ import annotations

import pytest

from minke.cli.context import CLIError
from minke.cli.parser import VerbParser
from minke.cli.runopts import (
    add_create_options,
    build_create_request,
    parse_ports,
    parse_restart,
    parse_volumes,
    ram_in_bytes,
)


def request(*argv: str, detach: bool = False, environ: dict[str, str] | None = None):
    parser = VerbParser("minke run", "[OPTIONS] IMAGE", "")
    add_create_options(parser)
    return build_create_request(parser.parse_args(list(argv)), detach=detach,
                                environ=environ or {})


def test_common_flags_map_to_config_and_host_config() -> None:
    req = request("-e", "A=1", "-w", "/x", "-u", "1:2", "--rm", "-t", "busybox", "sh", "-c",
                  "echo hi")
    body = req.body
    assert body["Env"] == ["A=1"]
    assert body["WorkingDir"] == "/x"
    assert body["User"] == "1:2"
    assert body["Tty"] is True
    assert body["Image"] == "busybox"
    assert body["Cmd"] == ["sh", "-c", "echo hi"]
    assert body["HostConfig"]["AutoRemove"] is True
    assert body["HostConfig"]["RestartPolicy"] == {"Name": "no", "MaximumRetryCount": 0}
    assert (body["AttachStdin"], body["AttachStdout"], body["AttachStderr"]) == \
        (False, True, True)
    assert body["OpenStdin"] is False and body["StdinOnce"] is False


def test_interactive_attaches_stdin_once() -> None:
    body = request("-i", "busybox").body
    assert body["AttachStdin"] and body["OpenStdin"] and body["StdinOnce"]
    assert body["Cmd"] is None


def test_detach_attaches_nothing() -> None:
    body = request("-i", "busybox", detach=True).body
    assert not (body["AttachStdin"] or body["AttachStdout"] or body["AttachStderr"])
    assert body["OpenStdin"] is True and body["StdinOnce"] is False


def test_name_entrypoint_labels_env_file(tmp_path) -> None:
    env_file = tmp_path / "env"
    env_file.write_text("# comment\nX=1\n\nFROM_HOST\nUNSET\n")
    labels = tmp_path / "labels"
    labels.write_text("a=1\n")
    req = request("--name", "web", "--entrypoint", "", "--env-file", str(env_file),
                  "-e", "Y=2", "--label-file", str(labels), "-l", "b=2", "-l", "c",
                  "-h", "box", "--stop-signal", "SIGINT", "--stop-timeout", "5", "--init",
                  "busybox", environ={"FROM_HOST": "h"})
    assert req.params == {"name": "web"}
    body = req.body
    assert body["Entrypoint"] == [""]
    assert body["Env"] == ["X=1", "FROM_HOST=h", "UNSET", "Y=2"]
    assert body["Labels"] == {"a": "1", "b": "2", "c": ""}
    assert body["Hostname"] == "box"
    assert body["StopSignal"] == "SIGINT" and body["StopTimeout"] == 5
    assert body["HostConfig"]["Init"] is True


def test_host_config_passthrough() -> None:
    host = request("-v", "/data", "-v", "/src:/dst:ro", "-p", "8080:80", "-p", "127.0.0.1::53/udp",
                   "--restart", "on-failure:3", "--privileged", "--cap-add", "NET_ADMIN",
                   "-m", "512m", "--cpus", "1.5", "--network", "none", "--add-host", "h:1.2.3.4",
                   "--tmpfs", "/run:size=1m", "--ulimit", "nofile=10:20", "--read-only",
                   "--mount", "type=bind,source=/a,target=/b,readonly",
                   "busybox").body
    hc = host["HostConfig"]
    assert host["Volumes"] == {"/data": {}}
    assert hc["Binds"] == ["/src:/dst:ro"]
    assert hc["PortBindings"] == {"80/tcp": [{"HostIp": "", "HostPort": "8080"}],
                                  "53/udp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}
    assert host["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert hc["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert hc["Privileged"] is True and hc["CapAdd"] == ["NET_ADMIN"]
    assert hc["Memory"] == 512 * 1024 * 1024
    assert hc["NanoCpus"] == 1_500_000_000
    assert hc["NetworkMode"] == "none"
    assert hc["ExtraHosts"] == ["h:1.2.3.4"]
    assert hc["Tmpfs"] == {"/run": "size=1m"}
    assert hc["Ulimits"] == [{"Name": "nofile", "Soft": 10, "Hard": 20}]
    assert hc["ReadonlyRootfs"] is True
    assert hc["Mounts"] == [{"Type": "bind", "Source": "/a", "Target": "/b", "ReadOnly": True}]


def test_conflicts_and_bad_values() -> None:
    with pytest.raises(CLIError) as info:
        request("--rm", "--restart", "always", "busybox")
    assert info.value.status == 125
    with pytest.raises(CLIError):
        request("-d", "-a", "stdout", "busybox", detach=True)
    with pytest.raises(CLIError):
        parse_restart("sometimes")
    with pytest.raises(CLIError):
        ram_in_bytes("lots")


def test_command_options_are_not_parsed_as_run_flags() -> None:
    assert request("busybox", "ls", "-e", "-d").body["Cmd"] == ["ls", "-e", "-d"]


def test_port_ranges_and_volumes() -> None:
    exposed, bindings = parse_ports(["8000-8001:80-81"], ["9000/udp"])
    assert bindings["81/tcp"] == [{"HostIp": "", "HostPort": "8001"}]
    assert "9000/udp" in exposed
    binds, volumes = parse_volumes(["named:/data", "/anon"])
    assert binds == ["named:/data"] and volumes == {"/anon": {}}
