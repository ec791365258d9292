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


def test_an_exposed_range_key_stands_for_each_of_its_ports() -> None:
    # Compose v2 (< 2.41) sends `expose: ["9091-9092"]` as one key, without a protocol.
    rec = record({"9092/tcp": [{"HostIp": "", "HostPort": "8092"}]},
                 exposed={"9091-9092": {}, "7000-7001/udp": {}}, publish_all=True)
    assert portmap.requested(rec) == [
        ("udp", 7000, "", None), ("udp", 7001, "", None),
        ("tcp", 9091, "", None), ("tcp", 9092, "", (8092, 8092))]
    view = portmap.ports_view(rec, [portmap.Binding("tcp", 9091, "0.0.0.0", 49200)])
    assert view == {"9091/tcp": [{"HostIp": "0.0.0.0", "HostPort": "49200"}],
                    "9092/tcp": None, "7000/udp": None, "7001/udp": None}


@pytest.mark.parametrize("exposed", [
    {"9092-9091/tcp": {}}, {"abc/tcp": {}}, {"9091-/tcp": {}}, {"0-2/tcp": {}},
    {"9091-70000": {}},
])
def test_bad_exposed_ports_are_refused_naming_the_key(exposed: dict) -> None:
    key = next(iter(exposed))
    with pytest.raises(InvalidParameter, match=f"invalid port specification: '{key}'"):
        portmap.requested(record({}, exposed=exposed))


def test_a_published_port_is_one_port() -> None:
    # As dockerd: a PortBindings key is a single port (the docker CLI expands -p ranges).
    with pytest.raises(InvalidParameter, match="invalid port specification"):
        portmap.requested(record({"9091-9092/tcp": [{}]}))
