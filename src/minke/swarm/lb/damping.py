"""Damping: what keeps weights from swinging in steady state while still reacting within
one control period to a backend that goes bad.

Three parts (docs/load-balancing.md, "Damping"):
- measurements are smoothed by an exponential moving average (``smooth``: the label
  ``com.minke.lb.smoothing`` is the weight of the past, 0.5 by default);
- shares move a third of the way to their target each period (``damp``), except that a
  share that should fall to half or less falls at once (a backend going bad is drained
  within one period), and a rise is capped at ``MAX_RISE`` × (a backend that looks idle
  after being drained is not flooded at once);
- a new set of shares is programmed only when one share moves by at least ``DEADBAND``
  or a backend goes to or from zero (``worth_programming``): noise costs no transaction.
"""

from __future__ import annotations

STEP = 1 / 3  # the part of the way to its target a share moves in one period
FALL_AT_ONCE = 0.5  # a target at or below this part of the current share is taken at once
MAX_RISE = 2.0
MIN_RISE = 0.02  # a share near 0 can still climb back: at least this much per period
DEADBAND = 0.02


def smooth(previous: float | None, value: float, past_weight: float) -> float:
    """EWMA: ``past_weight`` of ``previous`` plus the rest of ``value``."""
    if previous is None:
        return value
    return past_weight * previous + (1 - past_weight) * value


def damp(current: list[float], target: list[float]) -> list[float]:
    """Shares one period closer to ``target`` from ``current`` (see above), renormalised to
    sum 1."""
    if len(current) != len(target):
        return list(target)

    def step(c: float, t: float) -> float:
        if t <= c * FALL_AT_ONCE:
            return t
        part = c + STEP * (t - c)
        return min(part, max(c * MAX_RISE, c + MIN_RISE)) if t > c else part
    out = [step(c, t) for c, t in zip(current, target, strict=True)]
    total = sum(out)
    return [x / total for x in out] if total > 0 else list(target)


def worth_programming(applied: list[float] | None, wanted: list[float]) -> bool:
    if applied is None or len(applied) != len(wanted):
        return True
    return any(abs(a - w) >= DEADBAND or (a == 0) != (w == 0)
               for a, w in zip(applied, wanted, strict=True))
