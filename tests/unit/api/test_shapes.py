"""The typed request shapes: wrong JSON types are refused naming the field's path, and the
bodies real clients send (minke's CLI, Compose, docker-py) pass unchanged."""

from __future__ import annotations

from typing import Any

import pytest

from minke.api import shapes
from minke.cli.parser import VerbParser
from minke.cli.runopts import add_create_options, build_create_request
from minke.errors import InvalidParameter


def refused(shape: shapes.Shape, body: Any) -> str:
    with pytest.raises(InvalidParameter) as info:
        shapes.check(shape, body)
    return info.value.message


@pytest.mark.parametrize(("shape", "body", "message"), [
    # The causes the swagger fuzzing found.
    (shapes.CONTAINER_CREATE, {"Image": [None]}, "Image: expected string, got array"),
    (shapes.NETWORK_CREATE, {"Name": "n", "IPAM": {"Config": [""]}},
     "IPAM.Config[0]: expected object, got string"),
    (shapes.NETWORK_CREATE, {"Name": "n", "IPAM": {"Config": [{"Subnet": True}]}},
     "IPAM.Config[0].Subnet: expected string, got boolean"),
    (shapes.EXEC_CREATE, {"Cmd": [{}]}, "Cmd[0]: expected string, got object"),
    # Nested fields of the create config.
    (shapes.CONTAINER_CREATE, {"HostConfig": "x"}, "HostConfig: expected object, got string"),
    (shapes.CONTAINER_CREATE, {"HostConfig": {"RestartPolicy": {"Name": 1}}},
     "HostConfig.RestartPolicy.Name: expected string, got integer"),
    (shapes.CONTAINER_CREATE, {"HostConfig": {"Memory": "1g"}},
     "HostConfig.Memory: expected integer, got string"),
    (shapes.CONTAINER_CREATE, {"HostConfig": {"Memory": 1.5}},
     "HostConfig.Memory: expected integer, got number 1.5"),
    (shapes.CONTAINER_CREATE, {"HostConfig": {"Privileged": 1}},
     "HostConfig.Privileged: expected boolean, got integer"),
    (shapes.CONTAINER_CREATE, {"HostConfig": {"CpuShares": True}},
     "HostConfig.CpuShares: expected integer, got boolean"),
    (shapes.CONTAINER_CREATE, {"HostConfig": {"BlkioWeight": 70000}},
     "HostConfig.BlkioWeight: 70000 is out of range (expected 0 to 65535)"),
    (shapes.CONTAINER_CREATE, {"HostConfig": {"ShmSize": 1 << 70}},
     "HostConfig.ShmSize: 1180591620717411303424 is out of range"),
    (shapes.CONTAINER_CREATE, {"Labels": {"a.b": 1}}, 'Labels["a.b"]: expected string, got '
                                                      "integer"),
    (shapes.CONTAINER_CREATE, {"HostConfig": {"Mounts": [None]}},
     "HostConfig.Mounts[0]: expected object, got null"),
    (shapes.CONTAINER_CREATE, {"Cmd": 5}, "Cmd: expected string or array of strings, got "
                                          "integer"),
    (shapes.CONTAINER_CREATE, {"ExposedPorts": {"80/tcp": "x"}},
     'ExposedPorts["80/tcp"]: expected object, got string'),
    (shapes.CONTAINER_CREATE, {"HostConfig": {"PortBindings": {"80/tcp": [{"HostPort": 80}]}}},
     'HostConfig.PortBindings["80/tcp"][0].HostPort: expected string, got integer'),
    (shapes.CONTAINER_CREATE, {"HostConfig": {"Mounts": [{"TmpfsOptions": {"Mode": -1}}]}},
     "HostConfig.Mounts[0].TmpfsOptions.Mode: -1 is out of range"),
    (shapes.CONTAINER_CREATE,
     {"NetworkingConfig": {"EndpointsConfig": {"n": {"IPAMConfig": {"IPv4Address": []}}}}},
     'NetworkingConfig.EndpointsConfig["n"].IPAMConfig.IPv4Address: expected string, got '
     "array"),
    (shapes.CONTAINER_CREATE, {"Healthcheck": {"Test": "CMD true"}},
     "Healthcheck.Test: expected array of strings, got string"),
    (shapes.CONTAINER_UPDATE, {"PidsLimit": "x"}, "PidsLimit: expected integer, got string"),
    (shapes.EXEC_START, {"Detach": "yes"}, "Detach: expected boolean, got string"),
    (shapes.VOLUME_CREATE, {"DriverOpts": {"o": []}},
     'DriverOpts["o"]: expected string, got array'),
    (shapes.NETWORK_CONNECT, {"Container": "c", "EndpointConfig": []},
     "EndpointConfig: expected object, got array"),
    (shapes.AUTH, {"username": ["u"]}, "username: expected string, got array"),
])
def test_wrong_types_name_the_field(shape: shapes.Shape, body: Any, message: str) -> None:
    assert refused(shape, body).startswith(message)


@pytest.mark.parametrize(("shape", "body"), [
    # null leaves a field unset; unknown fields are ignored, as in Go.
    (shapes.CONTAINER_CREATE, {"Image": None, "Cmd": None, "HostConfig": None, "Future": [1]}),
    (shapes.CONTAINER_CREATE, {"Cmd": "sh", "Entrypoint": "", "Env": "A=1"}),
    # Go pointers: null is allowed inside these maps.
    (shapes.CONTAINER_CREATE, {"ExposedPorts": {"80/tcp": None}, "Volumes": {"/v": {}},
                               "NetworkingConfig": {"EndpointsConfig": {"n": None}},
                               "HostConfig": {"PortBindings": {"80/tcp": None}}}),
    (shapes.CONTAINER_CREATE, {"HostConfig": {"MemorySwap": -1, "MemorySwappiness": -1,
                                              "IOMaximumBandwidth": (1 << 64) - 1}}),
    (shapes.NETWORK_CREATE, {"Name": "n", "IPAM": {"Driver": "default", "Config": [
        {"Subnet": "10.1.0.0/16", "Gateway": "10.1.0.1", "AuxiliaryAddresses": {"a": "10.1.0.2"}}
    ]}, "Options": {}, "Labels": {"x": "y"}, "CheckDuplicate": True}),
    (shapes.EXEC_CREATE, {"Cmd": ["sh", "-c", "true"], "Env": ["A=1"], "AttachStdout": True,
                          "DetachKeys": "ctrl-p,ctrl-q", "Privileged": False, "User": ""}),
    (shapes.VOLUME_CREATE, {"Name": "v", "Driver": "local", "DriverOpts": {}, "Labels": None}),
])
def test_valid_bodies_pass(shape: shapes.Shape, body: Any) -> None:
    shapes.check(shape, body)


def test_null_items_become_zero_values_as_go_decodes_them() -> None:
    body = {"Env": ["A=1", None], "Labels": {"a": None}, "Cmd": [None],
            "HostConfig": {"ConsoleSize": [None, 80], "Ulimits": [{"Name": "n", "Soft": None}],
                           "Capabilities": None}}
    shapes.check(shapes.CONTAINER_CREATE, body)
    assert body == {"Env": ["A=1", ""], "Labels": {"a": ""}, "Cmd": [""],
                    "HostConfig": {"ConsoleSize": [0, 80],
                                   "Ulimits": [{"Name": "n", "Soft": None}],
                                   "Capabilities": None}}


def test_every_cli_create_option_passes() -> None:
    """What minke's own ``run``/``create`` sends, with every typed flag set."""
    parser = VerbParser("minke run", "[OPTIONS] IMAGE", "")
    add_create_options(parser)
    args = parser.parse_args([
        "-e", "A=1", "-l", "k=v", "-p", "127.0.0.1:8080:80/udp", "--expose", "90",
        "-v", "/tmp:/data:ro", "-v", "named:/n", "--mount", "type=tmpfs,target=/t,"
        "tmpfs-size=1m,tmpfs-mode=1777", "--mount", "type=volume,source=v,target=/v,"
        "volume-label=a=b,volume-opt=o=bind,volume-driver=local,volume-nocopy",
        "--tmpfs", "/run:size=1m", "--restart", "on-failure:3", "--init", "--privileged",
        "--read-only", "--dns", "1.1.1.1", "--add-host", "h:1.2.3.4", "--cap-add", "NET_ADMIN",
        "--security-opt", "no-new-privileges", "--group-add", "10", "--device", "/dev/null",
        "--sysctl", "net.ipv4.ip_forward=1", "--ulimit", "nofile=10:20", "-m", "64m",
        "--memory-swap", "-1", "--shm-size", "1m", "--cpus", "0.5", "--cpu-shares", "512",
        "--pids-limit", "100", "--oom-kill-disable", "--memory-swappiness", "10",
        "--blkio-weight", "500", "--health-cmd", "true", "--health-interval", "5s",
        "--health-retries", "3", "--stop-signal", "SIGUSR1", "--stop-timeout", "5",
        "--log-driver", "json-file", "--log-opt", "max-size=1m", "--network", "n",
        "--network-alias", "a", "--ip", "10.0.0.5", "--entrypoint", "sh", "-t", "-i",
        "busybox", "-c", "true",
    ])
    shapes.check(shapes.CONTAINER_CREATE, build_create_request(args, environ={}).body)
