"""The container API through docker-py's low-level client: status codes, error texts,
attach before start, wait conditions, and logs framing."""

from __future__ import annotations

import json
import socket
import threading
import time

import docker
import pytest
from tests.conftest import Daemon, unique

pytestmark = pytest.mark.integration


@pytest.fixture
def api(minke_daemon: Daemon) -> docker.APIClient:
    client = docker.APIClient(base_url=minke_daemon.host, version="1.41")
    yield client
    client.close()


def raw(daemon: Daemon, request: bytes) -> bytes:
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(daemon.socket))
    s.sendall(request)
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    s.close()
    return data


def test_ping_headers_and_versions(minke_daemon: Daemon) -> None:
    resp = raw(minke_daemon, b"HEAD /_ping HTTP/1.0\r\n\r\n").decode()
    assert resp.startswith("HTTP/1.0 200") and "Api-Version: 1.41" in resp
    resp = raw(minke_daemon, b"GET /v1.99/version HTTP/1.0\r\n\r\n").decode()
    assert " 400 " in resp.split("\r\n")[0]
    assert "client version 1.99 is too new. Maximum supported API version is 1.41" in resp
    resp = raw(minke_daemon, b"GET /v1.30/version HTTP/1.0\r\n\r\n").decode()
    assert resp.startswith("HTTP/1.0 200")
    resp = raw(minke_daemon, b"GET /nosuch HTTP/1.0\r\n\r\n").decode()
    assert " 404 " in resp.split("\r\n")[0] and '"message"' in resp


def test_error_status_codes(api: docker.APIClient, busybox_image: str) -> None:
    with pytest.raises(docker.errors.NotFound, match="No such container: nope"):
        api.inspect_container("nope")
    with pytest.raises(docker.errors.ImageNotFound, match="No such image"):
        api.create_container("nope:latest", "true")
    with pytest.raises(docker.errors.APIError) as info:
        api.create_container(busybox_image, "true", name="bad/name")
    assert info.value.status_code == 400 and "Invalid container name" in str(info.value)
    with pytest.raises(docker.errors.APIError) as info:
        api.containers(filters={"colour": "red"})
    assert info.value.status_code == 400 and "invalid filter 'colour'" in str(info.value)
    name = unique()
    c = api.create_container(busybox_image, ["sleep", "30"], name=name)
    with pytest.raises(docker.errors.APIError) as info:
        api.create_container(busybox_image, "true", name=name)
    assert info.value.status_code == 409
    api.start(c)
    with pytest.raises(docker.errors.APIError) as info:
        api.remove_container(c)
    assert info.value.status_code == 409 and "cannot remove a running container" in str(info.value)
    api.remove_container(c, force=True)


def test_malformed_json_and_bad_query(minke_daemon: Daemon) -> None:
    body = b"{not json"
    resp = raw(minke_daemon, b"POST /containers/create HTTP/1.0\r\nContent-Type: "
               b"application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)).decode()
    assert " 400 " in resp.split("\r\n")[0] and "invalid JSON" in resp
    resp = raw(minke_daemon, b"GET /containers/json?all=maybe HTTP/1.0\r\n\r\n").decode()
    assert " 400 " in resp.split("\r\n")[0] and "all" in resp
    resp = raw(minke_daemon, b"GET /containers/json?limit=x HTTP/1.0\r\n\r\n").decode()
    assert " 400 " in resp.split("\r\n")[0] and "limit" in resp


def test_start_and_stop_not_modified(api: docker.APIClient, busybox_image: str) -> None:
    c = api.create_container(busybox_image, ["sleep", "30"], name=unique())
    api.start(c)
    resp = api._post(api._url("/containers/{0}/start", c["Id"]))
    assert resp.status_code == 304
    api.stop(c, timeout=1)
    resp = api._post(api._url("/containers/{0}/stop", c["Id"]))
    assert resp.status_code == 304
    api.remove_container(c)


def test_attach_before_start_loses_no_output(api: docker.APIClient, busybox_image: str) -> None:
    c = api.create_container(busybox_image, ["sh", "-c", "echo first; echo second >&2"],
                             name=unique())
    sock = api.attach_socket(c, params={"stdout": 1, "stderr": 1, "stream": 1})
    api.start(c)
    frames = b""
    sock._sock.settimeout(10)
    while chunk := sock._sock.recv(4096):
        frames += chunk
    assert frames.startswith(b"\x01\x00\x00\x00\x00\x00\x00\x06first\n") or \
        b"\x02\x00\x00\x00\x00\x00\x00\x07second\n" in frames
    assert b"first\n" in frames and b"second\n" in frames
    assert api.wait(c)["StatusCode"] == 0
    api.remove_container(c)


def test_wait_next_exit_and_removed(api: docker.APIClient, busybox_image: str) -> None:
    c = api.create_container(busybox_image, ["sh", "-c", "exit 9"], name=unique(),
                             host_config=api.create_host_config(auto_remove=True))
    result: dict = {}

    def waiter() -> None:
        result["removed"] = api.wait(c, condition="removed")

    t = threading.Thread(target=waiter)
    t.start()
    time.sleep(0.3)
    api.start(c)
    t.join(20)
    assert result["removed"]["StatusCode"] == 9
    with pytest.raises(docker.errors.NotFound):
        api.inspect_container(c)


def test_logs_since_until(api: docker.APIClient, busybox_image: str) -> None:
    c = api.create_container(busybox_image, ["sh", "-c", "echo a; sleep 1.2; echo b"],
                             name=unique())
    api.start(c)
    api.wait(c)
    all_logs = api.logs(c, timestamps=True).decode().splitlines()
    assert [line.split(" ", 1)[1] for line in all_logs] == ["a", "b"]
    t_b = all_logs[1].split(" ")[0]
    from minke.engine.containers.views import parse_time

    since = parse_time(t_b) - 0.5
    assert api.logs(c, since=since) == b"b\n"
    assert api.logs(c, until=since) == b"a\n"
    assert api.logs(c, tail=1) == b"b\n"
    assert api.logs(c, stdout=True, stderr=False, tail=0) == b""
    api.remove_container(c)


def test_list_filters(api: docker.APIClient, busybox_image: str) -> None:
    tag = unique("lbl")
    a = api.create_container(busybox_image, ["sh", "-c", "exit 3"], labels={tag: "a"})
    b = api.create_container(busybox_image, ["sleep", "30"], labels={tag: "b"})
    api.start(a)
    api.start(b)
    api.wait(a)
    ids = lambda **kw: {c["Id"] for c in api.containers(**kw)}  # noqa: E731
    assert ids(all=True, filters={"label": tag}) == {a["Id"], b["Id"]}
    assert ids(filters={"label": tag}) == {b["Id"]}
    assert ids(all=True, filters={"label": tag, "exited": 3}) == {a["Id"]}
    assert ids(all=True, filters={"label": f"{tag}=b", "status": "running"}) == {b["Id"]}
    assert ids(all=True, filters={"label": tag, "ancestor": busybox_image}) == {a["Id"], b["Id"]}
    # The docker CLI's map-of-bools shape.
    resp = api._get(api._url("/containers/json"), params={
        "all": 1, "filters": json.dumps({"label": {f"{tag}=a": True}})})
    assert {c["Id"] for c in resp.json()} == {a["Id"]}
    for c in (a, b):
        api.remove_container(c, force=True)


def test_events_stream(api: docker.APIClient, busybox_image: str) -> None:
    since = time.time()
    c = api.create_container(busybox_image, ["true"], name=unique())
    api.start(c)
    api.wait(c)
    api.remove_container(c)
    events = api.events(since=since, until=time.time() + 0.5, decode=True,
                        filters={"container": c["Id"]})
    actions = [e["Action"] for e in events]
    assert actions == ["create", "start", "die", "destroy"]
