"""Target weights of a service's backends from what this node measured, by strategy.

Pure functions over ``Measure`` (already smoothed by ``damping``); the result is a list of
shares summing to 1, one per backend, before damping and before the circuit breaker takes
ejected backends out. Round robin, random and source-hash keep equal weights (the kernel's
slot picker does the rest).
"""

from __future__ import annotations

from dataclasses import dataclass

# Least-connections: weight 1 / (1 + connections) ** BIAS (Envoy's least-request with an
# active-request bias; 3 makes a backend that holds its connections 10× longer than the
# others get ~0.1 % of the new ones).
LC_BIAS = 3.0
# least-connections: a backend's connections are scaled by at most this factor either way.
RATE_SCALE_MAX = 10.0
# cpu: a backend's weight never drops below this share of its capacity, so that it keeps
# being measured (and recovers) instead of starving.
CPU_FLOOR = 0.05


@dataclass
class Measure:
    """One backend over the last control period, as this node sees it."""

    connections: float = 0.0  # TCP connections it holds (conntrack)
    rate: float = 0.0  # new connections/s it accepted (the breaker's connect successes)
    cpu: float = 0.0  # CPU used, in cores (its cgroup)
    capacity: float = 1.0  # CPU it may use, in cores (its limit, else the node's CPUs)
    bytes_rate: float = 0.0  # bytes/s through its interfaces


def _normalise(weights: list[float]) -> list[float]:
    total = sum(weights)
    if total <= 0:
        return [1 / len(weights)] * len(weights) if weights else []
    return [w / total for w in weights]


def least_connections(measures: list[Measure]) -> list[float]:
    """``1 / (1 + connections) ** LC_BIAS``, with each backend's connections scaled to what
    it would hold at the mean rate of new connections (Little's law: connections = rate ×
    time each lasts). Without the scaling a slow backend that is already being avoided
    holds few connections *because* it gets few, and gets its share back; with it, it is
    judged by how long it keeps each one."""
    mean = sum(m.rate for m in measures) / len(measures) if measures else 0.0
    scaled = [m.connections * min(RATE_SCALE_MAX, max(1 / RATE_SCALE_MAX, mean / m.rate))
              if mean > 0 and m.rate > 0 else
              m.connections * (RATE_SCALE_MAX if mean > 0 and m.connections else 1)
              for m in measures]
    return _normalise([1 / (1 + c) ** LC_BIAS for c in scaled])


def cpu(measures: list[Measure]) -> list[float]:
    """Capacity-proportional, corrected by utilisation: a backend busier (relative to its
    capacity) than the average gets less, one idler more, so that utilisations converge and
    shares end up proportional to capacity."""
    utilisation = [min(m.cpu / m.capacity, 1.5) if m.capacity > 0 else 1.0
                   for m in measures]
    mean = sum(utilisation) / len(utilisation) if utilisation else 0.0
    return _normalise([m.capacity * min(2.0, max(CPU_FLOOR, 1.0 - u + mean))
                       for m, u in zip(measures, utilisation, strict=True)])


def network(measures: list[Measure]) -> list[float]:
    """Fewer bytes/s, more weight: 1 / (1 + rate / mean rate)."""
    mean = sum(m.bytes_rate for m in measures) / len(measures) if measures else 0.0
    if mean <= 0:
        return _normalise([1.0] * len(measures))
    return _normalise([1 / (1 + m.bytes_rate / mean) for m in measures])


def equal(measures: list[Measure]) -> list[float]:
    return _normalise([1.0] * len(measures))


TARGETS = {"least-connections": least_connections, "cpu": cpu, "network": network}


def target(strategy: str, measures: list[Measure]) -> list[float]:
    """The shares ``strategy`` wants for backends measured as ``measures``."""
    return TARGETS.get(strategy, equal)(measures)
