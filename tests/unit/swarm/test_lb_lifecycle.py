"""The node's balancer loop stops when asked, also when woken at the same moment (a service
change as the swarm is left): ``swarm leave`` waited on it forever before."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from minke.swarm.lb.controller import Balancer


async def test_the_balancer_stops_when_woken_as_it_is_cancelled() -> None:
    firewall = SimpleNamespace(table="minke_unit_lb", observe_group=0,
                               forget_weights=lambda ids: None)
    balancer = Balancer(SimpleNamespace(firewall=firewall), containers=None,
                        publish=lambda *args: None)
    await balancer.start()
    await asyncio.sleep(0.01)  # the loop waits for its wake-up
    balancer.update({})  # wakes it, as a removed service does
    async with asyncio.timeout(5):
        await balancer.stop()
