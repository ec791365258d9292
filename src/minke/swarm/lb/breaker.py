"""The circuit breaker: Envoy's outlier detection, for TCP connects, as a pure state
machine (time is passed in; the balancer feeds it what NFLOG and conntrack show).

Per backend: ``active`` → (``failures`` consecutive connect failures: refused, reset before
established, or unanswered for ``connect_timeout``) → ``ejected`` for ejection × n (n: how
many times it has been ejected, less one per healthy ejection period; at most
``max_ejection``) → ``probing`` (half-open: a small weight; ``probes`` successful connects
make it ``active`` again, one failure ejects it again with n + 1). At most
``max_ejected_percent`` of the backends are ejected at once (Envoy ejects at least one when
the percentage is above 0) and never the last one that is not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from minke.swarm.lb.policy import Breaker as Config

ACTIVE, EJECTED, PROBING = "active", "ejected", "probing"


@dataclass
class Outlier:
    state: str = ACTIVE
    consecutive: int = 0  # connect failures since the last success
    ejections: int = 0  # Envoy's ejection multiplier
    until: float = 0.0  # end of the current ejection
    probes: int = 0  # successes while probing
    healthy_since: float = 0.0  # when the multiplier was last lowered (or the backend came)


@dataclass(frozen=True)
class Transition:
    backend: str
    old: str
    new: str
    reason: str
    until: float = 0.0


class CircuitBreaker:
    """The outlier state of one service's backends on this node."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.backends: dict[str, Outlier] = {}

    def track(self, backends: list[str], now: float) -> None:
        """The backends are now these: new ones start active, gone ones are forgotten."""
        self.backends = {b: self.backends.get(b) or Outlier(healthy_since=now)
                         for b in backends}

    def state(self, backend: str) -> str:
        outlier = self.backends.get(backend)
        return outlier.state if outlier else ACTIVE

    def _may_eject(self) -> bool:
        total = len(self.backends)
        ejected = sum(1 for o in self.backends.values() if o.state == EJECTED)
        if self.config.max_ejected_percent <= 0 or ejected >= total - 1:
            return False
        allowed = max(1, math.floor(total * self.config.max_ejected_percent / 100))
        return ejected < allowed

    def success(self, backend: str, now: float) -> Transition | None:
        outlier = self.backends.get(backend)
        if outlier is None:
            return None
        outlier.consecutive = 0
        if outlier.state == PROBING:
            outlier.probes += 1
            if outlier.probes >= self.config.probes:
                outlier.state, outlier.healthy_since = ACTIVE, now
                return Transition(backend, PROBING, ACTIVE,
                                  f"{outlier.probes} probe connections succeeded")
        return None

    def failure(self, backend: str, now: float, why: str) -> Transition | None:
        outlier = self.backends.get(backend)
        if outlier is None or not self.config.enabled or outlier.state == EJECTED:
            return None
        outlier.consecutive += 1
        probing = outlier.state == PROBING
        if not probing and outlier.consecutive < self.config.failures:
            return None
        if not self._may_eject():
            return None
        old = outlier.state
        outlier.ejections += 1
        duration = min(self.config.ejection * outlier.ejections, self.config.max_ejection)
        outlier.state, outlier.until, outlier.probes = EJECTED, now + duration, 0
        reason = (f"probe connection failed ({why})" if probing else
                  f"{outlier.consecutive} consecutive connect failures (last: {why})")
        outlier.consecutive = 0
        return Transition(backend, old, EJECTED, reason, outlier.until)

    def tick(self, now: float) -> list[Transition]:
        """Timers: ejections that end (→ probing) and multipliers that decay."""
        out = []
        for backend, outlier in self.backends.items():
            if outlier.state == EJECTED and now >= outlier.until:
                outlier.state, outlier.probes = PROBING, 0
                out.append(Transition(backend, EJECTED, PROBING, "ejection time elapsed"))
            elif outlier.state == ACTIVE and outlier.ejections and \
                    now - outlier.healthy_since >= self.config.ejection:
                outlier.ejections -= 1
                outlier.healthy_since = now
        return out

    def next_timer(self) -> float | None:
        """When the next ejection ends (monotonic seconds), if one is running."""
        return min((o.until for o in self.backends.values() if o.state == EJECTED),
                   default=None)

    def disabled(self) -> bool:
        return not self.config.enabled or len(self.backends) < 2
