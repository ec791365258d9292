"""Progress as BuildKit's StatusResponse stream: a feed any number of readers follow from the
start, and the classic builder's output events turned into vertexes and logs."""

from __future__ import annotations

import asyncio

import pytest

from minke.buildkit.pb import control_pb2
from minke.buildkit.progress import StatusFeed, StatusOutput


async def _collect(feed: StatusFeed) -> list[control_pb2.StatusResponse]:
    return [item async for item in feed.follow()]


async def test_late_and_early_readers_see_everything_then_end() -> None:
    feed = StatusFeed()
    early = asyncio.ensure_future(_collect(feed))
    await asyncio.sleep(0)
    vertex = feed.start("[internal] load build context")
    feed.log(vertex, b"transferring context: 2B done\n")
    feed.complete(vertex)
    late = asyncio.ensure_future(_collect(feed))
    feed.close()
    for items in (await early, await late):
        assert len(items) == 3
        assert items[0].vertexes[0].name == "[internal] load build context"
        assert not items[0].vertexes[0].HasField("completed")
        assert items[1].logs[0].vertex == vertex.digest
        assert items[2].vertexes[0].HasField("completed")


async def test_builder_output_becomes_vertexes() -> None:
    feed = StatusFeed()
    out = StatusOutput(feed)
    await out.step(1, 3, "FROM busybox")
    await out.step(2, 3, "COPY . /srv")
    await out.using_cache()
    await out.step(3, 3, "RUN make")
    await out.output(b"compiling\n")
    await out.error("process \"/bin/sh -c make\" did not complete successfully: exit code: 2")
    feed.close()
    items = await _collect(feed)
    done = {v.name: v for i in items for v in i.vertexes if v.HasField("completed")}
    assert set(done) == {"[1/3] FROM busybox", "[2/3] COPY . /srv", "[3/3] RUN make"}
    assert done["[2/3] COPY . /srv"].cached and not done["[1/3] FROM busybox"].cached
    assert "exit code: 2" in done["[3/3] RUN make"].error
    logs = [log for i in items for log in i.logs]
    assert [log.msg for log in logs] == [b"compiling\n"]
    assert logs[0].vertex == done["[3/3] RUN make"].digest
    assert out.started


async def test_vertex_context_records_the_error() -> None:
    feed = StatusFeed()
    with pytest.raises(ValueError):
        async with feed.vertex("[internal] load build definition from Dockerfile"):
            raise ValueError("no Dockerfile")
    feed.close()
    items = await _collect(feed)
    assert items[-1].vertexes[0].error == "no Dockerfile"


async def test_named_steps_and_hidden_ones() -> None:
    feed = StatusFeed()
    out = StatusOutput(feed, ["[1/2] FROM busybox", None, "[2/2] RUN true"])
    for number, text in enumerate(["FROM busybox", "ENV A=1", "RUN true", "LABEL x=y"], 1):
        await out.step(number, 4, text)
    await out.finished("sha256:" + "0" * 64, [])
    feed.close()
    names = {v.name for i in await _collect(feed) for v in i.vertexes}
    assert names == {"[1/2] FROM busybox", "[2/2] RUN true"}
