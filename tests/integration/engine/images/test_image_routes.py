"""The image endpoints through aiohttp's test client, over a real ImageService."""

from __future__ import annotations

import asyncio
import io
import json
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from minke import errors, httperrors
from minke.api.keys import ENGINE
from minke.api.routes.images import routes
from minke.api.routing import Handler, install
from minke.engine.images import ImageService

pytestmark = pytest.mark.integration

Build = dict[str, Callable[..., Any]]


@dataclass
class TinyEngine:
    """The one attribute of the Engine facade these routes use."""

    images: ImageService


@web.middleware
async def errors_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except errors.MinkeError as exc:
        return web.json_response({"message": exc.message}, status=httperrors.to_status(exc))


def _run(service: ImageService, body: Callable[[TestClient], Any]) -> None:
    async def main() -> None:
        app = web.Application(middlewares=[errors_as_json], client_max_size=0)
        app[ENGINE] = TinyEngine(service)  # type: ignore[arg-type]
        install(app, routes)
        async with TestClient(TestServer(app)) as client:
            await body(client)

    asyncio.run(main())


def test_import_inspect_tag_list_history_delete(service: ImageService, build: Build) -> None:
    layer = build["layer"]([("bin", "dir", None), ("bin/x", "file", "x")])

    async def body(client: TestClient) -> None:
        resp = await client.post(
            "/v1.41/images/create",
            params=[
                ("fromSrc", "-"),
                ("repo", "localhost:5000/a/b"),
                ("tag", "t"),
                ("changes", 'CMD ["x"]'),
                ("changes", "ENV K=V"),
            ],
            data=layer,
        )
        assert resp.status == 200
        status = [json.loads(line) for line in (await resp.text()).splitlines()]
        image_id = status[-1]["status"]
        assert image_id.startswith("sha256:")

        resp = await client.get("/images/localhost:5000/a/b:t/json")
        doc = await resp.json()
        assert doc["Id"] == image_id and doc["Config"]["Env"] == ["K=V"]
        assert doc["GraphDriver"]["Name"] == "overlay2"

        resp = await client.post(
            "/images/localhost:5000/a/b:t/tag", params={"repo": "plain", "tag": "v1"}
        )
        assert resp.status == 201
        resp = await client.get("/images/json", params={"filters": '{"reference":{"plain":true}}'})
        assert [i["RepoTags"] for i in await resp.json()] == [["plain:v1"]]
        resp = await client.get(f"/images/{image_id[7:19]}/history")
        assert (await resp.json())[0]["Comment"] == "Imported from -"

        resp = await client.get("/images/nope/json")
        assert resp.status == 404
        assert (await resp.json())["message"] == "No such image: nope:latest"
        resp = await client.post(f"/images/{image_id}/tag", params={"repo": "Bad"})
        assert resp.status == 400
        assert "invalid reference format" in (await resp.json())["message"]

        resp = await client.delete(f"/images/{image_id[7:19]}")
        assert resp.status == 409
        assert "referenced in multiple repositories" in (await resp.json())["message"]
        resp = await client.delete("/images/plain:v1")
        assert await resp.json() == [{"Untagged": "plain:v1"}]
        resp = await client.delete("/images/localhost:5000/a/b:t", params={"force": "1"})
        records = await resp.json()
        assert records[0] == {"Untagged": "localhost:5000/a/b:t"}
        assert records[1] == {"Deleted": image_id}

    _run(service, body)


def test_save_load_prune_and_pull(service: ImageService, build: Build) -> None:
    layer = build["layer"]([("f", "file", "data")])
    archive = build["legacy"]([layer], ["busybox:latest"])

    async def body(client: TestClient) -> None:
        resp = await client.post("/images/load", params={"quiet": "1"}, data=archive)
        lines = [json.loads(x) for x in (await resp.text()).splitlines()]
        assert lines == [{"stream": "Loaded image: busybox:latest\n"}]

        resp = await client.get("/images/busybox/get")
        assert resp.headers["Content-Type"] == "application/x-tar"
        saved = await resp.read()
        with tarfile.open(fileobj=io.BytesIO(saved)) as tar:
            manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        assert manifest[0]["RepoTags"] == ["busybox:latest"]
        resp = await client.get("/images/get", params=[("names", "busybox:latest")])
        assert len(await resp.read()) == len(saved)
        resp = await client.get("/images/get", params=[("names", "missing")])
        assert resp.status == 404

        # Pulls reach Docker Hub, which this machine cannot: a clear network error (503).
        resp = await client.post("/images/create", params={"fromImage": "alpine", "tag": "3"})
        assert resp.status == 503
        assert 'Get "https://registry-1.docker.io/v2/"' in (await resp.json())["message"]

        resp = await client.post("/images/prune", params={"filters": '{"dangling":["false"]}'})
        report = await resp.json()
        assert {"Untagged": "busybox:latest"} in report["ImagesDeleted"]
        resp = await client.get("/images/json", params={"all": "1"})
        assert await resp.json() == []

    _run(service, body)
