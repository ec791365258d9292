"""Bad input at the API boundary, through the real application and middleware: a body that
is not UTF-8, not JSON, or of the wrong type, and a NUL byte in the URL are a 400 naming the
problem before any engine code runs; an unexpected exception is still a 500.

The engine is a stand-in that fails every call: a request that got past the boundary would
be a 500 here, not a 400."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from minke.api import params
from minke.api.app import error_middleware, make_app, url_middleware
from minke.errors import InvalidParameter


class NoEngine:
    """Every attribute is an error: the boundary must answer before the engine is asked."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"the engine was reached ({name})")


@asynccontextmanager
async def client(app: web.Application | None = None) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(app or make_app(NoEngine()))) as c:  # type: ignore[arg-type]
        yield c


async def answer(method: str, path: str, body: bytes | None = None) -> tuple[int, str]:
    async with client() as c:
        resp = await c.request(method, path, data=body,
                               headers={"Content-Type": "application/json"})
        text = await resp.text()
        if method == "HEAD":
            return resp.status, ""
        return resp.status, json.loads(text)["message"]


NOT_UTF8 = b'{"Image": "\xff\xfe"}'


@pytest.mark.parametrize("path", [
    "/containers/create", "/v1.41/containers/x/exec", "/networks/create", "/volumes/create",
    "/containers/x/update", "/exec/x/start", "/networks/x/connect", "/commit?container=x",
])
async def test_body_not_utf8(path: str) -> None:
    status, message = await answer("POST", path, NOT_UTF8)
    assert status == 400
    assert message == ("invalid JSON in request body: it is not UTF-8 "
                       "(byte 0xff at offset 11)")


@pytest.mark.parametrize(("body", "message"), [
    (b"{not json", "invalid JSON in request body: Expecting property name enclosed in double "
                   "quotes at line 1 column 2"),
    (b"[" * 100_000, "invalid JSON in request body: nested too deeply"),
    (b'{"Image": NaN}', "invalid JSON in request body: NaN is not valid JSON"),
    (b'{"Image": ' + b"9" * 5000 + b"}", "invalid JSON in request body: Exceeds the limit"),
    (b"[1]", "invalid JSON in request body: expected an object"),
    (b"\xef\xbb\xbf{}", "invalid JSON in request body: Unexpected UTF-8 BOM"),
])
async def test_body_not_json(body: bytes, message: str) -> None:
    status, text = await answer("POST", "/containers/create", body)
    assert status == 400 and text.startswith(message)


@pytest.mark.parametrize(("path", "body", "message"), [
    ("/containers/create", {"Image": [None]}, "Image: expected string, got array"),
    ("/v1.41/containers/create", {"Image": "busybox", "HostConfig": {"Binds": "/a:/b"}},
     "HostConfig.Binds: expected array of strings, got string"),
    ("/networks/create", {"Name": "n", "IPAM": {"Config": [""]}},
     "IPAM.Config[0]: expected object, got string"),
    ("/networks/create", {"Name": "n", "IPAM": {"Config": [{"Subnet": True}]}},
     "IPAM.Config[0].Subnet: expected string, got boolean"),
    ("/containers/x/exec", {"Cmd": ["sh", 1]}, "Cmd[1]: expected string, got integer"),
    ("/exec/x/start", {"Detach": "no"}, "Detach: expected boolean, got string"),
    ("/volumes/create", {"Name": 7}, "Name: expected string, got integer"),
    ("/containers/x/update", {"Memory": "1g"}, "Memory: expected integer, got string"),
    ("/networks/x/disconnect", {"Container": "c", "Force": "yes"},
     "Force: expected boolean, got string"),
    ("/commit?container=x", {"Env": {"A": "1"}},
     "Env: expected string or array of strings, got object"),
    ("/auth", {"username": 1}, "username: expected string, got integer"),
])
async def test_body_of_the_wrong_type(path: str, body: Any, message: str) -> None:
    assert await answer("POST", path, json.dumps(body).encode()) == (400, message)


@pytest.mark.parametrize(("method", "path", "message"), [
    ("GET", "/containers/x/archive?path=/etc%00x",
     "invalid value for query parameter 'path': it contains a NUL byte"),
    ("GET", "/v1.41/containers/x/archive?path=%00", "invalid value for query parameter 'path'"),
    ("PUT", "/containers/x/archive?path=/tmp%00", "invalid value for query parameter 'path'"),
    ("GET", "/containers/json?filters=%7B%22na%00me%22%3A%5B%5D%7D",
     "invalid value for query parameter 'filters'"),
    ("GET", "/containers/a%00b/json", "invalid request path: it contains a NUL byte"),
    ("GET", "/volumes/a%00b", "invalid request path: it contains a NUL byte"),
])
async def test_nul_in_url(method: str, path: str, message: str) -> None:
    status, text = await answer(method, path)
    assert status == 400 and text.startswith(message)


async def test_query_integer_out_of_int64() -> None:
    status, text = await answer("GET", "/containers/json?limit=" + "9" * 20)
    assert (status, text) == (400, "invalid value for query parameter 'limit': "
                                   "'99999999999999999999' is out of range")


async def test_nul_in_url_head() -> None:
    assert (await answer("HEAD", "/containers/x/archive?path=/a%00"))[0] == 400


def test_filters_nested_too_deeply() -> None:
    with pytest.raises(InvalidParameter, match="^invalid filter: nested too deeply$"):
        params.parse_filters("[" * 2000)


async def test_unexpected_exceptions_stay_500() -> None:
    async def broken(request: web.Request) -> web.Response:
        raise KeyError("bug")

    app = web.Application(middlewares=[error_middleware, url_middleware])
    app.router.add_get("/broken", broken)
    async with client(app) as c:
        resp = await c.get("/broken")
        assert resp.status == 500 and (await resp.json())["message"] == "KeyError: 'bug'"


def test_lone_surrogates_become_replacement_characters() -> None:
    data = params.decode_json(rb'{"a\ud800": ["x\udfff", "\ud83d\ude00"]}')
    assert data == {"a\ufffd": ["x\ufffd", "\U0001f600"]}
    json.dumps(data, ensure_ascii=False).encode()  # encodable, unlike the raw decode
