"""The client against a real HTTP server on a unix socket (see fakedaemon)."""

from __future__ import annotations

import json
import socket
import threading

import pytest
from fakedaemon import FakeDaemon, Request

from minke import errors
from minke.client import APIClient, Host, WaitHandle
from minke.client.api import encode_query, negotiate
from minke.client.framing import STDERR, STDOUT, FrameDecoder, encode_frame


def client_for(daemon: FakeDaemon) -> APIClient:
    return APIClient(Host.parse(daemon.host))


def test_negotiate() -> None:
    assert negotiate("1.41", "1.45") == "1.41"
    assert negotiate("1.41", "1.40") == "1.40"
    assert negotiate("1.41", None) == "1.41"
    assert negotiate("1.41", "garbage") == "1.41"


def test_encode_query() -> None:
    q = encode_query({"all": True, "size": None, "filters": {"name": {"a": True}},
                      "names": ("a", "b"), "t": 3})
    assert q == "?all=1&filters=%7B%22name%22%3A%7B%22a%22%3Atrue%7D%7D&names=a&names=b&t=3"


def test_ping_then_versioned_requests(daemon: FakeDaemon) -> None:
    daemon.api_version = "1.40"
    daemon.json_route("GET", "/containers/json", [{"Id": "abc"}])
    client = client_for(daemon)
    assert client.get("/containers/json", {"all": True}) == [{"Id": "abc"}]
    assert client.get("/containers/json") == [{"Id": "abc"}]
    assert daemon.paths() == ["HEAD /_ping", "GET /v1.40/containers/json?all=1",
                              "GET /v1.40/containers/json"]


@pytest.mark.parametrize(("status", "cls"), [(404, errors.NotFound), (409, errors.Conflict),
                                             (400, errors.InvalidParameter),
                                             (500, errors.InternalError)])
def test_errors_map_to_classes(daemon: FakeDaemon, status: int, cls: type) -> None:
    daemon.json_route("DELETE", "/containers/x", {"message": "boom"}, status)
    client = client_for(daemon)
    with pytest.raises(cls) as info:
        client.call("DELETE", "/containers/x")
    assert str(info.value) == "boom"
    # the shared connection is usable afterwards
    daemon.json_route("GET", "/info", {"ok": 1})
    assert client.get("/info") == {"ok": 1}


def test_304_is_not_an_error(daemon: FakeDaemon) -> None:
    daemon.route("POST", "/containers/x/start", lambda req: req.reply(304))
    assert client_for(daemon).call("POST", "/containers/x/start").status == 304


def test_json_body_and_chunked_upload(daemon: FakeDaemon) -> None:
    seen: list[Request] = []

    def record(req: Request) -> None:
        seen.append(req)
        req.reply(201, {"Id": "new"})

    daemon.route("POST", "/containers/create", record)
    daemon.route("POST", "/images/load", record)
    client = client_for(daemon)
    assert client.post("/containers/create", {"name": "x"}, {"Image": "busybox"}) == \
        {"Id": "new"}
    assert seen[0].json() == {"Image": "busybox"}
    assert seen[0].query == {"name": "x"}
    import io

    with client.stream("POST", "/images/load", data=io.BytesIO(b"tar" * 1000)) as s:
        s.read()
    assert seen[1].body == b"tar" * 1000
    assert "chunked" in seen[1].headers.get("transfer-encoding", "")


def test_stream_of_json_messages(daemon: FakeDaemon) -> None:
    events = [{"Type": "container", "Action": "start"}, {"Type": "image", "Action": "tag"}]
    payload = [json.dumps(e).encode() + b"\n" for e in events]
    daemon.route("GET", "/events", lambda req: req.chunked([payload[0][:5], payload[0][5:],
                                                             payload[1]]))
    with client_for(daemon).stream("GET", "/events") as stream:
        assert list(stream.json_messages()) == events


def _echo_session(req: Request, _cid: str) -> None:
    """Echo stdin back as stdout frames until the client half-closes, then say bye."""
    sock = req.upgrade()
    received = b""
    while data := sock.recv(1024):
        received += data
        sock.sendall(encode_frame(STDOUT, data))
    sock.sendall(encode_frame(STDERR, b"bye " + str(len(received)).encode()))
    sock.shutdown(socket.SHUT_WR)
    sock.close()


def test_hijack_both_ways_with_half_close(daemon: FakeDaemon) -> None:
    daemon.route("POST", r"/containers/(\w+)/attach", _echo_session)
    client = client_for(daemon)
    conn = client.hijack("POST", "/containers/c1/attach",
                         params={"stdin": True, "stdout": True, "stream": True})
    conn.sendall(b"hello")
    conn.close_write()
    decoder = FrameDecoder()
    frames = [f for chunk in conn.chunks() for f in decoder.feed(chunk)]
    conn.close()
    assert b"".join(p for s, p in frames if s == STDOUT) == b"hello"
    assert frames[-1] == (STDERR, b"bye 5")
    req = daemon.requests[-1]
    assert req.headers["upgrade"] == "tcp"
    assert req.headers["connection"] == "Upgrade"
    assert req.query == {"stdin": "1", "stdout": "1", "stream": "1"}


def test_hijack_with_json_body_and_early_bytes(daemon: FakeDaemon) -> None:
    def start(req: Request, _eid: str) -> None:
        assert req.json() == {"Detach": False, "Tty": True}
        sock = req.upgrade()
        sock.sendall(b"raw tty bytes")
        sock.close()

    daemon.route("POST", r"/exec/(\w+)/start", start)
    conn = client_for(daemon).hijack("POST", "/exec/e1/start",
                                     body={"Detach": False, "Tty": True})
    assert b"".join(conn.chunks()) == b"raw tty bytes"
    assert daemon.requests[-1].headers["content-type"] == "application/json"


def test_hijack_refused_raises_mapped_error(daemon: FakeDaemon) -> None:
    daemon.json_route("POST", r"/containers/(\w+)/attach", {"message": "No such container: q"},
                      404)
    with pytest.raises(errors.NotFound, match="No such container: q"):
        client_for(daemon).hijack("POST", "/containers/q/attach")


def test_wait_handle_is_sent_before_and_answered_after(daemon: FakeDaemon) -> None:
    started = threading.Event()

    def wait(req: Request, _cid: str) -> None:
        req.head_now_body_later(started, {"StatusCode": 3, "Error": None})

    daemon.route("POST", r"/containers/(\w+)/wait", wait)
    daemon.route("POST", r"/containers/(\w+)/start",
                 lambda req, _c: (started.set(), req.reply(204)))
    client = client_for(daemon)
    handle = WaitHandle(client, "c1", "next-exit")
    client.call("POST", "/containers/c1/start")
    assert handle.result() == 3
    assert daemon.paths()[1:] == ["POST /v1.41/containers/c1/wait?condition=next-exit",
                                  "POST /v1.41/containers/c1/start"]
