from __future__ import annotations

import asyncio
import time

from minke.engine.events import EventBus, matches


def test_filters() -> None:
    bus = EventBus()
    e = bus.publish("container", "start", "abc123", {"name": "web", "image": "busybox", "a": "1"})
    assert e["status"] == "start" and e["from"] == "busybox"
    assert matches(e, {"type": ["container"], "event": ["start", "die"]})
    assert matches(e, {"container": ["web"]}) and matches(e, {"container": ["abc"]})
    assert matches(e, {"label": ["a=1"]}) and not matches(e, {"label": ["a=2"]})
    assert not matches(e, {"type": ["image"]})
    assert matches(bus.publish("container", "exec_start: sh", "x"), {"event": ["exec_start"]})


def test_replay_and_until() -> None:
    async def main() -> list[str]:
        bus = EventBus()
        since = time.time_ns()
        bus.publish("container", "create", "a")
        bus.publish("image", "tag", "b")
        until = time.time_ns()
        out = []
        async for e in bus.stream(since_ns=since, until_ns=until, filters={"type": ["container"]}):
            out.append(e["Action"])
        return out

    assert asyncio.run(main()) == ["create"]


def test_live_subscription() -> None:
    async def main() -> list[str]:
        bus = EventBus()
        got: list[str] = []

        async def reader() -> None:
            async for e in bus.stream():
                got.append(e["Action"])
                if len(got) == 2:
                    return

        task = asyncio.create_task(reader())
        await asyncio.sleep(0)
        bus.publish("container", "start", "a")
        bus.publish("container", "die", "a")
        await asyncio.wait_for(task, 2)
        return got

    assert asyncio.run(main()) == ["start", "die"]
