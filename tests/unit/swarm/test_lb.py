"""The load balancer's pure parts (no kernel): label policy, strategies, damping, the circuit
breaker's state machine, the weight map's slots and its in-place update commands."""

from __future__ import annotations

from pathlib import Path

import pytest

from minke import errors
from minke.engine.network.firewall import (
    ServiceRules,
    map_elements,
    render,
    slot_backends,
    slot_count,
    slot_order,
)
from minke.swarm.lb import damping, policy, strategies
from minke.swarm.lb.breaker import ACTIVE, EJECTED, PROBING, CircuitBreaker
from minke.swarm.lb.policy import Breaker

# -- policy ------------------------------------------------------------------------------

def test_default_policy_is_round_robin_with_the_breaker_on() -> None:
    p = policy.parse({})
    assert p.strategy == "round-robin" and p.pick == "inc" and p.period == 1.0
    assert p.breaker == Breaker(enabled=True, failures=5, ejection=30.0, max_ejection=300.0,
                                max_ejected_percent=50, connect_timeout=2.0, probes=3)


def test_labels_tune_the_policy() -> None:
    p = policy.parse({"com.minke.lb.strategy": "source-hash",
                      "com.minke.lb.affinity-timeout": "90s", "com.minke.lb.period": "250ms",
                      "com.minke.lb.breaker.failures": "2",
                      "com.minke.lb.breaker.ejection": "10", "other.label": "x"})
    assert (p.strategy, p.pick, p.affinity, p.period) == ("source-hash", "hash", 90, 0.25)
    assert p.breaker.failures == 2 and p.breaker.ejection == 10.0
    assert p.breaker.max_ejection == 300.0
    assert not policy.parse({"com.minke.lb.breaker": "off"}).breaker.enabled


@pytest.mark.parametrize(("labels", "mode", "message"), [
    ({"com.minke.lb.strategy": "least-conn"}, "vip", "unknown strategy 'least-conn'"),
    ({"com.minke.lb.period": "50ms"}, "vip", "out of range"),
    ({"com.minke.lb.period": "soon"}, "vip", "is not a duration"),
    ({"com.minke.lb.smoothing": "1"}, "vip", "below 1"),
    ({"com.minke.lb.breaker.failures": "0"}, "vip", "at least 1"),
    ({"com.minke.lb.breaker.failures": "2.5"}, "vip", "not an integer"),
    ({"com.minke.lb.breaker.ejection": "60s", "com.minke.lb.breaker.max-ejection": "30s"},
     "vip", "shorter than the base ejection"),
    ({"com.minke.lb.breaker": "maybe"}, "vip", "on or off"),
    ({"com.minke.lb.breaker": "off", "com.minke.lb.breaker.failures": "3"}, "vip",
     "the circuit breaker is off"),
    ({"com.minke.lb.affinity-timeout": "1m"}, "vip", "source-hash only"),
    ({"com.minke.lb.strategy": "source-hash"}, "dnsrr", "endpoint mode dnsrr"),
    ({"com.minke.lb.period": "2s"}, "dnsrr", "endpoint mode dnsrr"),
    ({"com.minke.lb.typo": "1"}, "vip", "unknown load-balancing label"),
])
def test_bad_labels_name_the_label(labels: dict[str, str], mode: str, message: str) -> None:
    with pytest.raises(errors.InvalidParameter) as raised:
        policy.parse(labels, endpoint_mode=mode)
    assert message in str(raised.value)
    assert str(raised.value).startswith("label com.minke.lb.")


def test_dnsrr_accepts_round_robin_and_breaker_off() -> None:
    assert policy.parse({"com.minke.lb.strategy": "round-robin",
                         "com.minke.lb.breaker": "off"}, endpoint_mode="dnsrr")


# -- strategies --------------------------------------------------------------------------

def M(**kw: float) -> strategies.Measure:  # noqa: N802 - a short constructor for tables
    return strategies.Measure(**kw)


def test_equal_strategies_and_least_connections() -> None:
    assert strategies.target("round-robin", [M(), M()]) == [0.5, 0.5]
    shares = strategies.target("least-connections",
                               [M(connections=10)] + [M(connections=1)] * 10)
    assert shares[0] < 0.01 and abs(sum(shares) - 1) < 1e-9  # the slow holder fades
    # Avoided already, the slow backend holds few connections because it gets few; scaled
    # to the mean rate (Little's law) it is still judged by how long it keeps each one.
    avoided = [M(connections=1.4, rate=1.2)] + [M(connections=0.65, rate=5.4)] * 10
    assert strategies.target("least-connections", avoided)[0] < 0.01
    unscaled = [M(connections=1.4)] + [M(connections=0.65)] * 10
    assert strategies.target("least-connections", unscaled)[0] > 0.03


def test_cpu_strategy_is_capacity_proportional_at_equal_utilisation() -> None:
    shares = strategies.target("cpu", [M(capacity=1, cpu=0.5)] * 3
                               + [M(capacity=0.25, cpu=0.125)])
    assert shares[3] == pytest.approx(0.25 / 3.25)
    # a backend saturated relative to its capacity loses weight
    hot = strategies.target("cpu", [M(capacity=1, cpu=0.2)] * 3
                            + [M(capacity=0.25, cpu=0.25)])
    assert hot[3] < shares[3]


def test_network_strategy_prefers_the_quiet_backend() -> None:
    shares = strategies.target("network", [M(bytes_rate=9e6), M(bytes_rate=1e6)])
    assert shares[1] > shares[0]
    assert strategies.target("network", [M(), M()]) == [0.5, 0.5]


# -- damping -----------------------------------------------------------------------------

def test_damping_falls_at_once_and_rises_slowly() -> None:
    assert damping.smooth(None, 4, 0.5) == 4 and damping.smooth(4, 0, 0.5) == 2
    out = damping.damp([0.5, 0.5], [0.9, 0.1])
    assert out[1] == pytest.approx(0.1 / (0.1 + 0.5 + 0.4 / 3))  # a fall to ≤ half: at once
    assert out[0] > 0.5
    part = damping.damp([0.6, 0.4], [0.45, 0.55])  # no fall to half: a third of the way
    assert part == pytest.approx([0.55, 0.45])
    rising = damping.damp([0.02, 0.98], [0.5, 0.5])
    assert rising[0] < 0.1  # at most ×2 (+0.02) per period, then renormalised
    assert not damping.worth_programming([0.5, 0.5], [0.51, 0.49])
    assert damping.worth_programming([0.5, 0.5], [0.6, 0.4])
    assert damping.worth_programming([0.0, 1.0], [0.001, 0.999])


def test_steady_noise_does_not_swing_weights() -> None:
    """Connections flickering between 0 and 1 every period (the worst steady noise): a
    programmed share moves by less than 6 points per period (it would swing by 27 points
    undamped)."""
    applied: list[float] | None = None
    base: list[float] | None = None
    measures: list[float | None] = [None, None, None]
    moves: list[float] = []
    for step in range(60):
        noisy = [step % 2, (step + 1) % 2, 1]
        measures = [damping.smooth(m, n, 0.5) for m, n in zip(measures, noisy, strict=True)]
        target = strategies.target("least-connections", [M(connections=m or 0)
                                                         for m in measures])
        base = damping.damp(base, target) if base else target
        if damping.worth_programming(applied, base):
            if applied is not None and step > 10:
                moves.append(max(abs(a - b) for a, b in zip(applied, base, strict=True)))
            applied = base
    assert moves and max(moves) < 0.06


# -- breaker -----------------------------------------------------------------------------

def test_breaker_ejects_after_consecutive_failures_and_readmits_half_open() -> None:
    b = CircuitBreaker(Breaker(failures=3, ejection=30, max_ejection=300, probes=2))
    b.track(["a", "b", "c"], now=0)
    assert b.failure("a", 1, "refused") is None and b.failure("a", 1, "refused") is None
    assert b.success("a", 1) is None  # a success resets the count
    assert b.failure("a", 2, "refused") is None and b.failure("a", 2, "refused") is None
    ejected = b.failure("a", 2, "refused")
    assert ejected and ejected.new == EJECTED and ejected.until == 32
    assert b.state("a") == EJECTED and b.failure("a", 3, "refused") is None
    assert b.tick(31) == [] and b.tick(32)[0].new == PROBING
    assert b.success("a", 33) is None
    assert b.success("a", 33).new == ACTIVE  # type: ignore[union-attr]
    # ejected again: 2 × 30 s; a failure while probing ejects at once, 3 × 30 s
    for _ in range(3):
        b.failure("a", 40, "refused")
    assert b.backends["a"].until == 40 + 60
    b.tick(100)
    again = b.failure("a", 100, "reset")
    assert again and again.new == EJECTED and again.until == 100 + 90


def test_breaker_ejection_time_is_capped_and_decays() -> None:
    b = CircuitBreaker(Breaker(failures=1, ejection=100, max_ejection=150))
    b.track(["a", "b"], now=0)
    b.failure("a", 0, "x")
    b.tick(100)
    b.failure("a", 100, "x")  # probing fails: second ejection, 200 s capped to 150
    assert b.backends["a"].until == 250
    b.tick(250)
    for _ in range(3):
        b.success("a", 251)
    assert b.state("a") == ACTIVE
    b.tick(351)  # one healthy ejection period: the multiplier drops
    assert b.backends["a"].ejections == 1


def test_breaker_never_ejects_beyond_its_share_nor_the_last_backend() -> None:
    b = CircuitBreaker(Breaker(failures=1, max_ejected_percent=50))
    b.track(["a", "b", "c", "d"], now=0)
    assert b.failure("a", 0, "x") and b.failure("b", 0, "x")
    assert b.failure("c", 0, "x") is None  # 50 % of 4
    one = CircuitBreaker(Breaker(failures=1, max_ejected_percent=100))
    one.track(["a"], now=0)
    assert one.failure("a", 0, "x") is None
    two = CircuitBreaker(Breaker(failures=1, max_ejected_percent=100))
    two.track(["a", "b"], now=0)
    assert two.failure("a", 0, "x") and two.failure("b", 0, "x") is None
    off = CircuitBreaker(Breaker(enabled=False, failures=1))
    off.track(["a", "b"], now=0)
    assert off.failure("a", 0, "x") is None


# -- the weight map ----------------------------------------------------------------------

def test_slots_are_exact_for_equal_weights_and_interleaved() -> None:
    assert slot_count(3) == 66 and slot_count(1) == 64 and slot_count(100) == 100
    order = slot_order((1.0, 1.0, 1.0), 66)
    assert order[:6] == [0, 1, 2, 0, 1, 2] and order.count(0) == 22
    weighted = slot_order((0.5, 0.25, 0.25), 64)
    assert weighted.count(0) == 32 and weighted[:4].count(0) == 2  # smooth, not in blocks
    assert slot_order((0.0, 1.0), 64).count(0) == 0
    assert slot_order((0.0, 0.0), 4) == [0, 1, 0, 1]  # all 0 counts as equal


def test_weights_render_as_data_maps() -> None:
    svc = ServiceRules("abcdefabcdef99", vips=(("10.0.0.250", ("10.0.0.2", "10.0.0.3")),),
                       ports=(("tcp", 8080, 80),), port_backends=("10.0.1.2", "10.0.1.3"),
                       backend_ids=("t1", "t2"), pick="hash", affinity=60)
    text = render("minke_t", [], [], [svc], weights={svc.id: {"t1": 0.0, "t2": 1.0}},
                  observe_group=42)
    assert ("ip daddr 10.0.0.250 dnat ip to jhash ip saddr mod 64 seed 0x6d696e6b map "
            "@svca_abcdefabcdef_0") in text
    assert "elements = { 0 : 10.0.0.3, 1 : 10.0.0.3," in text  # t1 ejected: weight 0
    assert "elements = { 0 : 10.0.1.3 . 80, 1 : 10.0.1.3 . 80," in text
    assert ("meta l4proto tcp dnat ip to ip saddr . ip daddr . tcp dport map "
            "@aff_abcdefabcdef") in text and "timeout 60s" in text
    assert "update @aff_abcdefabcdef { ip saddr . ct original ip daddr" in text
    assert 'log prefix "f" group 42' in text and "elements = { 10.0.0.2, 10.0.0.3 }" in text
    maps = map_elements(svc, {"t1": 1.0, "t2": 1.0})
    assert maps["svca_abcdefabcdef_0"][:3] == [(0, "10.0.0.2", 0), (1, "10.0.0.3", 0),
                                              (2, "10.0.0.2", 0)]
    assert maps["svcp_abcdefabcdef_0"][1] == (1, "10.0.1.3", 80)


def test_source_hash_moves_only_the_slots_of_an_ejected_backend() -> None:
    svc = ServiceRules("h", vips=(("10.0.0.250", ("a", "b", "c")),),
                       backend_ids=("t1", "t2", "t3"), pick="hash")
    before = slot_backends(svc, {"t1": 1.0, "t2": 1.0, "t3": 1.0})
    after = slot_backends(svc, {"t1": 1.0, "t2": 0.0, "t3": 1.0})
    assert 1 not in after
    assert all(a == b for a, b in zip(before, after, strict=True) if a != 1)


def test_a_new_backend_gets_the_mean_weight() -> None:
    svc = ServiceRules("n", vips=(("10.0.0.250", ("a", "b")),), backend_ids=("t1", "t2"))
    order = slot_backends(svc, {"t1": 0.25})
    assert order.count(0) == order.count(1) == 32


def test_a_stack_files_deploy_labels_choose_the_strategy(tmp_path: Path) -> None:
    from minke.compose.loader import ProjectOptions, load
    from minke.compose.model import Project
    from minke.compose.stack import convert
    from minke.swarm.manager.services import validate_spec

    (tmp_path / "compose.yaml").write_text(
        "services:\n  web:\n    image: busybox\n    deploy:\n      labels:\n"
        "        com.minke.lb.strategy: least-connections\n"
        "        com.minke.lb.breaker.failures: '3'\n")
    loaded = load(ProjectOptions(cwd=str(tmp_path), project_name="st", environ={}))
    spec = convert(Project("st", loaded.model, loaded.working_dir)).services["st_web"]
    chosen = policy.of_service(validate_spec(spec))
    assert chosen.strategy == "least-connections" and chosen.breaker.failures == 3
    spec["Labels"]["com.minke.lb.strategy"] = "fastest"
    with pytest.raises(errors.InvalidParameter):
        validate_spec(spec)
