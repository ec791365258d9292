from __future__ import annotations

from tests.unit.engine.containers.test_config import record

from minke.engine.containers.hostfiles import hosts_text, resolv_conf_text


def test_loopback_nameservers_dropped_for_own_netns() -> None:
    host = "nameserver 127.0.0.53\nsearch example.org\n"
    text = resolv_conf_text(host, {}, host_network=False)
    assert "127.0.0.53" not in text and "nameserver 8.8.8.8" in text
    assert "search example.org" in text
    assert "127.0.0.53" in resolv_conf_text(host, {}, host_network=True)


def test_dns_flags_replace_host_values() -> None:
    text = resolv_conf_text("nameserver 10.0.0.1\n",
                            {"Dns": ["1.1.1.1"], "DnsSearch": ["a.b"], "DnsOptions": ["ndots:2"]},
                            host_network=False)
    assert text.splitlines() == ["nameserver 1.1.1.1", "search a.b", "options ndots:2"]


def test_hosts_has_localhost_and_extra_hosts() -> None:
    text = hosts_text(record({"HostConfig": {"ExtraHosts": ["db:10.1.2.3"]}}))
    assert text.startswith("127.0.0.1\tlocalhost\n")
    assert "10.1.2.3\tdb\n" in text
