"""Bridge ownership: the mark minke puts on bridges it makes, the claim a live daemon holds
on its default bridge, and spotting another program's firewall rules on a bridge."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from minke.engine.network import ownership
from minke.engine.network.firewall import chains_naming
from minke.engine.network.ownership import BridgeClaim, holder, mark, marked_root
from minke.errors import Conflict


@pytest.fixture(autouse=True)
def claim_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(ownership, "CLAIM_DIR", tmp_path / "bridges")
    return tmp_path / "bridges"


def test_mark_names_the_data_root_and_fits_an_ifalias() -> None:
    assert marked_root(mark("/var/lib/minke")) == "/var/lib/minke"
    assert marked_root("set by an administrator") is None and marked_root(None) is None
    long_root = "/srv/" + "x" * 300
    assert len(mark(long_root).encode()) <= ownership.IFALIAS_MAX
    assert mark(long_root) == mark(long_root) != mark(long_root + "y")


def test_a_live_claim_refuses_a_second_daemon_and_names_the_first(claim_dir: Path) -> None:
    first = BridgeClaim("minke0", Path("/srv/a"))
    first.acquire()
    first.record()
    second = BridgeClaim("minke0", Path("/srv/b"))
    with pytest.raises(Conflict, match=f"/srv/a \\(running, pid {os.getpid()}\\)"):
        second.acquire()
    assert holder("minke0") == ownership.Holder("/srv/a", os.getpid(), live=True)
    first.release()
    # Gone, it is still named as the last user (its containers may live on) ...
    assert holder("minke0") == ownership.Holder("/srv/a", os.getpid(), live=False)
    second.acquire()
    assert second.previous is not None and second.previous.data_root == "/srv/a"
    # ... until a cleanup forgets it.
    second.release(forget=True)
    assert holder("minke0") is None and not (claim_dir / "minke0").exists()


def test_firewall_rules_of_other_programs_on_a_bridge() -> None:
    ruleset = """
table ip nat {
\tchain DOCKER {
\t\tiifname "docker0" counter packets 0 bytes 0 return
\t}
}
table ip filter {
\tchain FORWARD {
\t\tiifname "minke0" counter accept comment "minke:minke0"
\t\toifname "docker0" counter accept
\t}
}
table inet minke_minke0 {
\tchain postrouting {
\t\toifname "minke0" ip saddr 127.0.0.0/8 ct status dnat masquerade
\t}
}
"""
    assert chains_naming(ruleset, "docker0", "minke_minke0") == ["ip nat DOCKER",
                                                                 "ip filter FORWARD"]
    assert chains_naming(ruleset, "minke0", "minke_minke0") == []
    assert chains_naming(ruleset, "docker", "minke_minke0") == []  # whole names only
