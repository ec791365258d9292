"""A service's load-balancing policy, from its labels (``com.minke.lb.*``): the Docker API
has no field for it, and any Docker client can set a label.

``parse`` is used twice: by the control API when a service is created or updated (a bad
label is a 400 naming it, and nothing is stored) and by each node's balancer (which then
never meets a bad one). See docs/load-balancing.md for the labels and their ranges.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from minke import errors
from minke.units import parse_go_duration

PREFIX = "com.minke.lb."
STRATEGY = PREFIX + "strategy"
STRATEGIES = ("round-robin", "random", "least-connections", "cpu", "network", "source-hash")
# How each strategy picks a slot in the kernel (firewall.ServiceRules.pick).
PICK = {"round-robin": "inc", "random": "random", "least-connections": "inc", "cpu": "inc",
        "network": "inc", "source-hash": "hash"}
# Strategies whose weights follow measurements (the others keep equal weights).
MEASURED = ("least-connections", "cpu", "network")


@dataclass(frozen=True)
class Breaker:
    """Envoy's outlier detection, for TCP connects (docs/load-balancing.md)."""

    enabled: bool = True
    failures: int = 5  # consecutive connect failures that eject
    ejection: float = 30.0  # base ejection time (s); the n-th ejection lasts n × this
    max_ejection: float = 300.0
    max_ejected_percent: int = 50
    connect_timeout: float = 2.0  # a SYN unanswered this long is a failure
    probes: int = 3  # successful connects in half-open before full weight


@dataclass(frozen=True)
class Policy:
    strategy: str = "round-robin"
    period: float = 1.0  # control period (s)
    smoothing: float = 0.5  # EWMA weight of the past in measurements
    affinity: int = 10800  # source-hash: seconds a client stays with its backend
    breaker: Breaker = Breaker()

    @property
    def pick(self) -> str:
        return PICK[self.strategy]


def _bad(label: str, why: str) -> errors.MinkeError:
    return errors.InvalidParameter(f"label {label}: {why}")


def _seconds(labels: dict[str, str], key: str, default: float, low: float,
             high: float) -> float:
    label = PREFIX + key
    if label not in labels:
        return default
    text = labels[label].strip()
    ns = parse_go_duration(text)
    if ns is None:
        try:
            ns = int(float(text) * 1e9)  # plain seconds
        except ValueError:
            raise _bad(label, f"{text!r} is not a duration (e.g. 500ms, 30s, 5m)") from None
    value = ns / 1e9
    if not low <= value <= high:
        raise _bad(label, f"{text} is out of range: between {low:g}s and {high:g}s")
    return value


def _number(labels: dict[str, str], key: str, default: float, low: float, high: float,
            *, integer: bool = False, below_high: bool = False) -> float:
    label = PREFIX + key
    if label not in labels:
        return default
    text = labels[label].strip()
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        raise _bad(label, f"{text!r} is not {'an integer' if integer else 'a number'}") \
            from None
    if not low <= value <= high or (below_high and value == high):
        upper = f"below {high:g}" if below_high else f"at most {high:g}"
        raise _bad(label, f"{text} is out of range: at least {low:g} and {upper}")
    return value


def _switch(labels: dict[str, str], key: str) -> bool:
    label = PREFIX + key
    value = labels.get(label, "on").strip().lower()
    if value in ("on", "true", "1", "yes"):
        return True
    if value in ("off", "false", "0", "no"):
        return False
    raise _bad(label, f"{value!r}: on or off is expected")


KEYS = ("strategy", "period", "smoothing", "affinity-timeout", "breaker",
        "breaker.failures", "breaker.ejection", "breaker.max-ejection",
        "breaker.max-ejected-percent", "breaker.connect-timeout", "breaker.probes")


def parse(labels: dict[str, str] | None, *, endpoint_mode: str = "vip") -> Policy:
    """The policy the labels ask for; InvalidParameter (400) naming the label otherwise."""
    labels = labels or {}
    for label in labels:
        if label.startswith(PREFIX) and label[len(PREFIX):] not in KEYS:
            raise _bad(label, "unknown load-balancing label; known: "
                       + ", ".join(PREFIX + k for k in KEYS))
    strategy = labels.get(STRATEGY, "round-robin").strip()
    if strategy not in STRATEGIES:
        raise _bad(STRATEGY, f"unknown strategy {strategy!r}; one of "
                   + ", ".join(STRATEGIES))
    ours = [k for k in labels if k.startswith(PREFIX)]
    if endpoint_mode == "dnsrr":
        # No VIP: clients pick a task from DNS, so the kernel balances nothing here.
        if strategy != "round-robin":
            raise _bad(STRATEGY, f"strategy {strategy} cannot apply with endpoint mode "
                                 "dnsrr (no VIP to balance); use vip")
        extra = [k for k in ours if k not in (STRATEGY, PREFIX + "breaker")]
        if extra:
            raise _bad(extra[0], "cannot apply with endpoint mode dnsrr (no VIP to "
                                 "balance); use vip")
    if PREFIX + "affinity-timeout" in labels and strategy != "source-hash":
        raise _bad(PREFIX + "affinity-timeout", "applies to strategy source-hash only")
    enabled = _switch(labels, "breaker")
    if not enabled:
        tuned = [k for k in ours if k.startswith(PREFIX + "breaker.")]
        if tuned:
            raise _bad(tuned[0], "the circuit breaker is off (com.minke.lb.breaker=off)")
    ejection = _seconds(labels, "breaker.ejection", 30.0, 1.0, 3600.0)
    max_ejection = _seconds(labels, "breaker.max-ejection", max(300.0, ejection), 1.0,
                            86400.0)
    if max_ejection < ejection:
        raise _bad(PREFIX + "breaker.max-ejection",
                   f"{max_ejection:g}s is shorter than the base ejection {ejection:g}s")
    breaker = Breaker(
        enabled=enabled,
        failures=int(_number(labels, "breaker.failures", 5, 1, 1000, integer=True)),
        ejection=ejection, max_ejection=max_ejection,
        max_ejected_percent=int(_number(labels, "breaker.max-ejected-percent", 50, 0, 100,
                                        integer=True)),
        connect_timeout=_seconds(labels, "breaker.connect-timeout", 2.0, 0.1, 60.0),
        probes=int(_number(labels, "breaker.probes", 3, 1, 100, integer=True)))
    return Policy(
        strategy=strategy,
        period=_seconds(labels, "period", 1.0, 0.1, 10.0),
        smoothing=_number(labels, "smoothing", 0.5, 0.0, 1.0, below_high=True),
        affinity=int(_seconds(labels, "affinity-timeout", 10800.0, 1.0, 86400.0)),
        breaker=breaker)


def of_service(spec: dict[str, Any]) -> Policy:
    """The policy of a (checked) service spec."""
    mode = (spec.get("EndpointSpec") or {}).get("Mode") or "vip"
    return parse(spec.get("Labels") or {}, endpoint_mode=mode)


def of_service_or_default(spec: dict[str, Any]) -> Policy:
    """The policy of a stored spec; the default one for a spec stored before its labels
    were checked (a store written by an older minke), which is logged by no one twice."""
    try:
        return of_service(spec)
    except errors.MinkeError:
        return Policy()
