"""The test session's host check (tests/support/hostnet.py): what it reports, and that a
daemon of another session running meanwhile is left out."""

from __future__ import annotations

from tests.support.hostnet import HostNet, difference


def test_reports_what_appeared_and_what_went() -> None:
    before = HostNet({"link dev=eth0", "link dev=docker0 bridge", "table ip nat"})
    after = HostNet({"link dev=eth0", "link dev=mkb1 bridge", "addr dev=mkb1 10.1.0.1/24",
                     "table inet minke_mkb1", "table ip nat"})
    assert difference(before, after) == [
        "+ addr dev=mkb1 10.1.0.1/24", "+ link dev=mkb1 bridge", "+ table inet minke_mkb1",
        "- link dev=docker0 bridge"]
    assert difference(after, after) == []


def test_leaves_out_what_other_live_daemons_hold_at_either_end() -> None:
    before = HostNet({"link dev=eth0", "link dev=other0 bridge", "table inet minke_other0"},
                     foreign={"dev=other0"}, foreign_tables={"inet minke_other0"})
    after = HostNet({"link dev=eth0", "link dev=late0 bridge", "link dev=veth1 veth",
                     "route main unicast 10.9.0.0/24 dev=late0"},
                    foreign={"dev=late0", "dev=veth1"})
    assert difference(before, after) == []


def test_leaves_out_ports_of_a_bridge_that_was_there_before() -> None:
    before = HostNet({"link dev=br0 bridge", "link dev=veth1 veth"}, masters={"veth1": "br0"})
    after = HostNet({"link dev=br0 bridge", "link dev=veth2 veth", "link dev=veth3 veth"},
                    masters={"veth2": "br0"})
    assert difference(before, after) == ["+ link dev=veth3 veth"]
