from __future__ import annotations

import pytest

from minke.engine.containers import config as cfg
from minke.errors import InvalidParameter

IMAGE = {
    "Env": ["PATH=/usr/bin:/bin", "A=image"],
    "Cmd": ["sh"],
    "Entrypoint": None,
    "WorkingDir": "/srv",
    "User": "daemon",
    "Labels": {"from": "image", "keep": "yes"},
    "ExposedPorts": {"80/tcp": {}},
}


def record(request: dict, image: dict | None = None) -> dict:
    return cfg.new_record(
        container_id="a" * 64, name="n", image_id="sha256:" + "b" * 64,
        image_config=IMAGE if image is None else image, request={"Image": "x", **request},
        paths={"resolv.conf": "/r", "hostname": "/h", "hosts": "/hs", "log": "/l"},
    )


def test_image_cmd_used_when_request_has_none() -> None:
    r = record({})
    assert (r["Path"], r["Args"]) == ("sh", [])


def test_request_cmd_replaces_image_cmd() -> None:
    r = record({"Cmd": ["echo", "hi"]})
    assert (r["Path"], r["Args"]) == ("echo", ["hi"])


def test_request_entrypoint_drops_image_cmd() -> None:
    r = record({"Entrypoint": ["/bin/true"]}, {**IMAGE, "Entrypoint": ["/old"], "Cmd": ["x"]})
    assert (r["Path"], r["Args"]) == ("/bin/true", [])


def test_empty_entrypoint_clears_image_entrypoint() -> None:
    r = record({"Entrypoint": [""], "Cmd": ["ls"]}, {**IMAGE, "Entrypoint": ["/old"]})
    assert (r["Path"], r["Args"]) == ("ls", [])
    assert r["Config"]["Entrypoint"] is None


def test_string_cmd_is_one_argument() -> None:
    assert record({"Cmd": "echo"})["Path"] == "echo"


def test_no_command_is_an_error() -> None:
    with pytest.raises(InvalidParameter, match="No command specified"):
        record({}, {**IMAGE, "Cmd": None})


def test_env_merges_as_moby() -> None:
    # The request's entries first, as sent; then the image's whose name it does not use.
    env = record({"Env": ["A=req", "B=1", "B=2", "MAYBE"]})["Config"]["Env"]
    assert env == ["A=req", "B=1", "B=2", "MAYBE", "PATH=/usr/bin:/bin"]
    assert record({})["Config"]["Env"] == IMAGE["Env"]
    with pytest.raises(InvalidParameter, match="invalid environment variable: =x"):
        record({"Env": ["=x"]})


def test_labels_and_ports_merge_with_image() -> None:
    c = record({"Labels": {"from": "req"}, "ExposedPorts": {"53/udp": {}}})["Config"]
    assert c["Labels"] == {"from": "req", "keep": "yes"}
    assert set(c["ExposedPorts"]) == {"80/tcp", "53/udp"}


def test_defaults_user_workdir_hostname() -> None:
    r = record({})
    assert r["Config"]["User"] == "daemon"
    assert r["Config"]["WorkingDir"] == "/srv"
    assert r["Config"]["Hostname"] == "a" * 12
    assert r["Name"] == "/n"
    assert r["State"]["Status"] == "created"


def test_relative_workdir_refused() -> None:
    with pytest.raises(InvalidParameter, match="absolute path"):
        record({"WorkingDir": "rel"})


def test_host_config_defaults_and_validation() -> None:
    host = cfg.build_host_config(None)
    assert host["RestartPolicy"] == {"Name": "no", "MaximumRetryCount": 0}
    assert host["NetworkMode"] == "default"
    assert host["ShmSize"] == 64 * 1024 * 1024
    with pytest.raises(InvalidParameter, match="restart policy"):
        cfg.build_host_config({"RestartPolicy": {"Name": "sometimes"}})
    with pytest.raises(InvalidParameter, match="AutoRemove"):
        cfg.build_host_config({"AutoRemove": True, "RestartPolicy": {"Name": "always"}})
    # User-defined networks are accepted here; whether one exists is the network service's
    # to say at start (tests/integration/network: "network no-such-net not found").
    assert cfg.build_host_config({"NetworkMode": "mynet"})["NetworkMode"] == "mynet"


def test_env_must_be_strings() -> None:
    with pytest.raises(InvalidParameter, match="Env"):
        record({"Env": [1, 2]})


def test_rfc3339_has_nanoseconds() -> None:
    assert cfg.rfc3339(1.5) == "1970-01-01T00:00:01.500000000Z"
