"""Published ports: parsing the bindings, choosing host ports, Docker's Ports view."""

from __future__ import annotations

import socket

import pytest

from minke.engine.network import portmap
from minke.errors import InternalError, InvalidParameter


def record(bindings: dict, exposed: dict | None = None, publish_all: bool = False) -> dict:
    return {"HostConfig": {"PortBindings": bindings, "PublishAllPorts": publish_all},
            "Config": {"ExposedPorts": exposed}}


def test_requested_with_publish_all() -> None:
    wanted = portmap.requested(record(
        {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]},
        exposed={"80/tcp": {}, "53/udp": {}}, publish_all=True))
    assert wanted == [("udp", 53, "", None), ("tcp", 80, "127.0.0.1", (8080, 8080))]


@pytest.mark.parametrize("bindings", [
    {"80/sctp": [{}]}, {"x/tcp": [{}]}, {"80/tcp": [{"HostIp": "nope"}]},
    {"80/tcp": [{"HostPort": "70000"}]},
])
def test_bad_bindings(bindings: dict) -> None:
    with pytest.raises(InvalidParameter):
        portmap.requested(record(bindings))


def test_allocation_refuses_ports_in_use_and_releases_on_failure() -> None:
    allocator = portmap.PortAllocator()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = holder.getsockname()[1]
        free = allocator.allocate("c1", "c1 (ep)", [("tcp", 80, "127.0.0.1", None)])
        assert free[0].host_port != busy
        with pytest.raises(InternalError, match="address already in use"):
            allocator.allocate("c2", "c2 (ep)", [("tcp", 81, "", None),
                                                 ("tcp", 80, "127.0.0.1", (busy, busy))])
    # c2's first, successful binding was released with the failure.
    again = allocator.allocate("c3", "c3 (ep)", [("tcp", 80, "127.0.0.1", None)])
    assert again[0].host_port != free[0].host_port
    with pytest.raises(InternalError, match="port is already allocated"):
        port = free[0].host_port
        allocator.allocate("c4", "c4 (ep)", [("tcp", 80, "", (port, port))])


def test_ports_view_round_trip() -> None:
    rec = record({}, exposed={"80/tcp": {}, "443/tcp": {}})
    bindings = [portmap.Binding("tcp", 80, "0.0.0.0", 49200)]
    view = portmap.ports_view(rec, bindings)
    assert view == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "49200"}], "443/tcp": None}
    assert portmap.from_view(view) == bindings
