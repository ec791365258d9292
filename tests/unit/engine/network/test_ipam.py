"""IPAM: default pools, user subnets and their checks, address allocation."""

from __future__ import annotations

import ipaddress

import pytest

from minke.engine.network import ipam
from minke.errors import Forbidden, InvalidParameter, Unavailable


def net(text: str) -> ipam.Network:
    return ipaddress.ip_network(text)


def test_default_pool_skips_dockers_bridge_taken_and_host_routes() -> None:
    chosen = ipam.default_subnet([net("172.18.0.0/16")])
    assert chosen != net("172.17.0.0/16") and chosen != net("172.18.0.0/16")
    assert not any(chosen.overlaps(r) for r in ipam.host_routes() if r.version == 4)


def test_user_subnet_with_gateway_range_and_aux() -> None:
    [subnet] = ipam.build_config(
        [{"Subnet": "10.9.0.0/24", "Gateway": "10.9.0.254", "IPRange": "10.9.0.128/25",
          "AuxiliaryAddresses": {"router": "10.9.0.129"}}],
        taken=[], ipv6=False, network_id="x")
    assert str(subnet.gateway) == "10.9.0.254"
    first = ipam.allocate(subnet, set())
    assert str(first) == "10.9.0.130"  # .128 is the range's network address, .129 is aux
    assert str(ipam.allocate(subnet, {first})) == "10.9.0.131"


def test_default_gateway_is_first_host() -> None:
    [subnet] = ipam.build_config([{"Subnet": "10.9.1.0/24"}], taken=[], ipv6=False,
                                 network_id="x")
    assert str(subnet.gateway) == "10.9.1.1"
    assert str(ipam.allocate(subnet, set())) == "10.9.1.2"


def test_dual_stack_adds_an_ipv6_pool() -> None:
    subnets = ipam.build_config([{"Subnet": "10.9.2.0/24"}], taken=[], ipv6=True,
                                network_id="abc")
    assert [s.version for s in subnets] == [4, 6]
    assert subnets[1].subnet.prefixlen == 64 and str(subnets[1].subnet).startswith("fd")


@pytest.mark.parametrize(("entry", "error", "text"), [
    ({"Subnet": "10.9.3.128/25"}, Forbidden, "Pool overlaps"),
    ({"Subnet": "10.9.4.0/24", "Gateway": "10.9.5.1"}, InvalidParameter, "failed to allocate"),
    ({"Subnet": "10.9.4.0/24", "IPRange": "10.9.6.0/25"}, InvalidParameter, "range"),
    ({"Subnet": "10.9.4.0/24", "AuxiliaryAddresses": {"a": "10.1.1.1"}}, InvalidParameter,
     "aux-address"),
    ({"Subnet": "not-a-subnet"}, InvalidParameter, "invalid CIDR"),
])
def test_bad_subnets(entry: dict, error: type[Exception], text: str) -> None:
    with pytest.raises(error, match=text):
        ipam.build_config([entry], taken=[net("10.9.3.0/24")], ipv6=False, network_id="x")


def test_static_addresses() -> None:
    [subnet] = ipam.build_config([{"Subnet": "10.9.7.0/29"}], taken=[], ipv6=False,
                                 network_id="x")
    with pytest.raises(InvalidParameter, match="does not belong"):
        ipam.check_static([subnet], "10.9.8.1")
    wanted = ipam.check_static([subnet], "10.9.7.5")
    assert ipam.allocate(subnet, set(), wanted) == wanted
    with pytest.raises(Forbidden, match="Address already in use"):
        ipam.allocate(subnet, {wanted}, wanted)
    with pytest.raises(Forbidden):
        ipam.allocate(subnet, set(), subnet.gateway)


def test_exhausted_pool() -> None:
    [subnet] = ipam.build_config([{"Subnet": "10.9.9.0/30"}], taken=[], ipv6=False,
                                 network_id="x")
    used = {ipam.allocate(subnet, set())}
    with pytest.raises(Unavailable, match="no available IPv4 addresses"):
        ipam.allocate(subnet, used)


def test_subnet_round_trips_through_docker_shape() -> None:
    doc = {"Subnet": "10.9.10.0/24", "Gateway": "10.9.10.1", "IPRange": "10.9.10.0/25",
           "AuxiliaryAddresses": {"a": "10.9.10.200"}}
    assert ipam.Subnet.from_docker(doc).to_docker() == doc
