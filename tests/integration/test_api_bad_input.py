"""The requests the swagger fuzzing found answered with a 500, against a real minked: each is
now a 400 that names the problem (the field, the parameter, the bad byte)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import docker
import pytest
from tests.conftest import Daemon, unique
from tests.integration.test_api_containers import raw

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def running(minke_daemon: Daemon, busybox_image: str) -> Iterator[str]:
    """A running container: exec and archive requests reach their real handlers."""
    client = docker.APIClient(base_url=minke_daemon.host, version="1.41")
    name = unique("badinput")
    client.create_container(busybox_image, ["sleep", "300"], name=name)
    client.start(name)
    yield name
    client.remove_container(name, force=True)
    client.close()


def request(daemon: Daemon, method: str, path: str, body: bytes = b"") -> tuple[int, str]:
    head = (f"{method} {path} HTTP/1.0\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    reply = raw(daemon, head + body)
    status = int(reply.split(b" ", 2)[1])
    payload = reply.split(b"\r\n\r\n", 1)[1]
    return status, json.loads(payload)["message"] if payload else ""


@pytest.mark.parametrize("path", [
    "/v1.41/containers/create", "/v1.41/containers/{c}/exec", "/v1.41/networks/create",
    "/v1.41/volumes/create",
])
def test_body_not_utf8(minke_daemon: Daemon, running: str, path: str) -> None:
    status, message = request(minke_daemon, "POST", path.format(c=running), b'{"Name": "\xe9"}')
    assert (status, message) == (
        400, "invalid JSON in request body: it is not UTF-8 (byte 0xe9 at offset 10)")


@pytest.mark.parametrize(("path", "body", "message"), [
    ("/v1.41/containers/create", {"Image": [None]}, "Image: expected string, got array"),
    ("/v1.41/networks/create", {"Name": unique("n"), "IPAM": {"Config": [""]}},
     "IPAM.Config[0]: expected object, got string"),
    ("/v1.41/networks/create", {"Name": unique("n"), "IPAM": {"Config": [{"Subnet": True}]}},
     "IPAM.Config[0].Subnet: expected string, got boolean"),
    ("/v1.41/containers/{c}/exec", {"Cmd": [{}]}, "Cmd[0]: expected string, got object"),
])
def test_field_of_the_wrong_type(minke_daemon: Daemon, running: str, path: str,
                                 body: dict, message: str) -> None:
    status, text = request(minke_daemon, "POST", path.format(c=running), json.dumps(body).encode())
    assert (status, text) == (400, message)


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_nul_in_archive_path(minke_daemon: Daemon, running: str, method: str) -> None:
    status, message = request(minke_daemon, method,
                              f"/v1.41/containers/{running}/archive?path=/etc%00passwd")
    assert status == 400
    if method == "GET":
        assert message == "invalid value for query parameter 'path': it contains a NUL byte"


@pytest.mark.parametrize("since", ["inf", "1e400"])
def test_logs_since_not_finite(minke_daemon: Daemon, running: str, since: str) -> None:
    status, message = request(minke_daemon, "GET",
                              f"/v1.41/containers/{running}/logs?stdout=1&since={since}")
    assert (status, message) == (400, f"invalid value for since: '{since}'")
