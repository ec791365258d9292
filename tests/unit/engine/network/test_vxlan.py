"""The pure parts of the overlay data path: device names, endpoint MACs derived from the
address (what lets a node program a remote task knowing only its IP), and the firewall's
source NAT to a node's load-balancer address on an overlay bridge."""

from __future__ import annotations

from minke.engine.network.firewall import BridgeRules, render
from minke.engine.network.vxlan import Peer, device_name, endpoint_mac


def test_names_and_macs() -> None:
    assert device_name(4097) == "vx-001001"
    assert len(device_name((1 << 24) - 1)) <= 15
    assert endpoint_mac("10.0.1.7/24") == "02:42:0a:00:01:07"
    assert Peer("10.0.1.7", "198.18.0.2").lladdr == "02:42:0a:00:01:07"
    assert Peer("10.0.1.7", "198.18.0.2", mac="02:00:00:00:00:01").lladdr == \
        "02:00:00:00:00:01"


def test_balanced_traffic_leaving_an_overlay_bridge_is_sourced_from_the_node() -> None:
    script = render("t", [BridgeRules("ov0", ("10.0.1.0/24",), snat_to="10.0.1.254"),
                          BridgeRules("br0", ("172.18.0.0/16",))], [])
    post = script[script.index("chain postrouting"):]
    lines = [line.strip() for line in post.splitlines()]
    snat = 'oifname "ov0" meta nfproto ipv4 ct status dnat snat ip to 10.0.1.254'
    assert snat in lines
    # before the bridge's hairpin masquerade, which would pick the gateway (the same on
    # every node, so a remote backend's reply would stay on its own node)
    assert lines.index(snat) < lines.index(
        'oifname "ov0" ip saddr 10.0.1.0/24 ct status dnat masquerade')
    assert "snat" not in "\n".join(line for line in lines if '"br0"' in line)
