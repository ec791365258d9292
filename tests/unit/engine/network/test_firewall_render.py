"""The nftables script of one daemon's table: checked by ``nft -c`` when it is there."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from minke.engine.network.firewall import BridgeRules, PortRule, render


def script() -> str:
    return render("minke_t", [
        BridgeRules("br-a", ("10.1.0.0/24",)),
        BridgeRules("br-b", ("10.2.0.0/24",), ("fd00:1::/64",), internal=True),
        BridgeRules("br-c", ("10.3.0.0/24",), icc=False, masquerade=False),
    ], [
        PortRule("tcp", "", 8080, "10.1.0.2", 80),
        PortRule("udp", "127.0.0.1", 5353, "10.1.0.3", 53),
        PortRule("tcp", "", 8443, "fd00:1::2", 443),
    ])


def test_replaces_the_whole_table_atomically() -> None:
    text = script()
    assert text.startswith("table inet minke_t {}\ndelete table inet minke_t\n")


def test_isolation_internal_and_icc() -> None:
    text = script()
    assert 'iifname "br-a" oifname { "br-b", "br-c" } drop' in text
    assert 'iifname "br-b" oifname != "br-b" drop' in text
    assert 'iifname "br-c" oifname "br-c" drop' in text


def test_masquerade_only_where_wanted() -> None:
    text = script()
    assert 'ip saddr 10.1.0.0/24 oifname != "br-a" masquerade' in text
    assert 'ip saddr 10.2.0.0/24 oifname != "br-b" masquerade' not in text  # internal
    assert 'ip saddr 10.3.0.0/24 oifname != "br-c" masquerade' not in text  # disabled
    assert 'oifname "br-a" ip saddr 127.0.0.0/8 ct status dnat masquerade' in text


def test_port_rules() -> None:
    text = script()
    assert "meta nfproto ipv4 tcp dport 8080 dnat ip to 10.1.0.2:80" in text
    assert "ip daddr 127.0.0.1 udp dport 5353 dnat ip to 10.1.0.3:53" in text
    assert "meta nfproto ipv6 tcp dport 8443 dnat ip6 to [fd00:1::2]:443" in text


@pytest.mark.skipif(shutil.which("nft") is None, reason="nft not installed")
def test_nft_accepts_the_script() -> None:
    # -c checks without applying; the leading "delete table" needs the table to exist in a
    # real run, so check the table body alone.
    body = script().split("\n", 2)[2]
    proc = subprocess.run(["nft", "-c", "-f", "-"], input=body, text=True, capture_output=True)
    if proc.returncode != 0 and "Operation not permitted" in proc.stderr:
        pytest.skip("nft -c needs CAP_NET_ADMIN")
    assert proc.returncode == 0, proc.stderr


def test_service_vips_and_ingress_ports_round_robin() -> None:
    from minke.engine.network.firewall import ServiceRules

    text = render("minke_t", [BridgeRules("br-a", ("10.1.0.0/24",))], [], [
        ServiceRules("svc1svc1svc1svc1", vips=(("10.1.0.254", ("10.1.0.2", "10.1.0.3")),),
                     ports=(("tcp", 8080, 80),), port_backends=("10.1.0.2", "10.1.0.3")),
        ServiceRules("svc2svc2svc2svc2", vips=(("10.1.0.253", ()),)),
        ServiceRules("svc3svc3svc3svc3", vips=(("10.1.0.252", ("10.1.0.9",)),)),
    ])
    assert "ip daddr 10.1.0.254 jump svc_svc1svc1svc1" in text
    assert "meta nfproto ipv4 tcp dport 8080 jump svc_svc1svc1svc1" in text
    # Round robin over 64 slots of data maps, alternating between the two backends.
    assert "ip daddr 10.1.0.254 dnat ip to numgen inc mod 64 map @svca_svc1svc1svc1_0" in text
    assert "elements = { 0 : 10.1.0.2, 1 : 10.1.0.3, 2 : 10.1.0.2," in text
    assert "tcp dport 8080 dnat ip to numgen inc mod 64 map @svcp_svc1svc1svc1_0" in text
    assert "elements = { 0 : 10.1.0.2 . 80, 1 : 10.1.0.3 . 80," in text
    assert "chain svc_svc2svc2svc2 {\n    reject" in text  # no ready task: refused
    assert "0 : 10.1.0.9, 1 : 10.1.0.9" in text
    assert text.count("jump services") == 2  # prerouting (tasks) and output (the host)
    if shutil.which("nft"):
        proc = subprocess.run(["nft", "-c", "-f", "-"], input=text, text=True,
                              capture_output=True)
        assert proc.returncode == 0, proc.stderr


def test_a_later_write_keeps_the_table_and_its_affinity_records() -> None:
    from minke.engine.network.firewall import ServiceRules, objects, table_body, update_script

    def body(backends: tuple[str, ...], affinity: int = 60) -> str:
        svc = ServiceRules("svc1svc1svc1svc1", vips=(("10.1.0.254", backends),),
                           pick="hash", affinity=affinity)
        return table_body("minke_t", [BridgeRules("br-a", ("10.1.0.0/24",))], [], [svc])
    before = objects(body(("10.1.0.2",)))
    assert before["aff_svc1svc1svc1"][0] == "map" and before["svc_svc1svc1svc1"][0] == "chain"

    # A backend joins: every rule and object is written again but the affinity map, whose
    # records (the kernel's) must outlive the change; the table itself is not deleted.
    script, kept = update_script("minke_t", before, body(("10.1.0.2", "10.1.0.3")))
    assert kept == {"aff_svc1svc1svc1"}
    assert script.startswith("flush table inet minke_t\ndelete chain inet minke_t ")
    assert "delete table" not in script and "delete map inet minke_t aff_" not in script
    assert "map aff_svc1svc1svc1 {" not in script
    assert "delete map inet minke_t svca_svc1svc1svc1_0\n" in script
    assert "map svca_svc1svc1svc1_0 {" in script and "update @aff_svc1svc1svc1" in script
    deletes = [line.split()[1] for line in script.splitlines() if line.startswith("delete ")]
    assert deletes == sorted(deletes, key=lambda kind: kind != "chain")  # rules' users first
    assert len(deletes) == len(before) - 1

    # A new affinity timeout is a new map (its declaration changed).
    script, kept = update_script("minke_t", before, body(("10.1.0.2",), affinity=90))
    assert not kept and "delete map inet minke_t aff_svc1svc1svc1\n" in script
    assert "map aff_svc1svc1svc1 {" in script and "timeout 90s" in script
