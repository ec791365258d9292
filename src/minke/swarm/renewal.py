"""Renewing a node's certificate before it expires (SwarmKit's ``ca.RenewTLSConfig``): at
a random point between 50 % and 80 % of its validity, so nodes that joined together do
not all ask at once, and at once when the node's role in the cluster no longer matches
its certificate (after ``node promote``/``demote``). A renewal that fails is retried
after ``RETRY`` seconds; the old certificate stays in use meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import random
from collections.abc import Awaitable, Callable

from minke.aio import cancel
from minke.swarm.rpc.tls import validity

log = logging.getLogger(__name__)

RENEW_FROM, RENEW_TO = 0.5, 0.8  # share of the validity at which a certificate is renewed
RETRY = 30.0  # seconds


def renewal_delay(cert_pem: bytes, *, now: datetime.datetime | None = None,
                  rng: random.Random | None = None) -> float:
    """Seconds from ``now`` until ``cert_pem`` should be renewed (0 if that is past)."""
    not_before, not_after = validity(cert_pem)
    share = (rng or random).uniform(RENEW_FROM, RENEW_TO)
    due = not_before + (not_after - not_before) * share
    now = now or datetime.datetime.now(datetime.UTC)
    return max(0.0, (due - now).total_seconds())


class CertificateRenewer:
    """Calls ``renew`` (which gets, saves and installs a new certificate and returns its
    PEM) when the current one (``cert_pem``) is due, or on ``renew_now``."""

    def __init__(self, cert_pem: bytes, renew: Callable[[], Awaitable[bytes]]) -> None:
        self.cert_pem = cert_pem
        self.renew = renew
        self._now = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="swarm-cert-renewal")

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None

    def renew_now(self) -> None:
        self._now.set()

    async def _run(self) -> None:
        delay = renewal_delay(self.cert_pem)
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._now.wait()
            self._now.clear()
            try:
                self.cert_pem = await self.renew()
                delay = renewal_delay(self.cert_pem)
                log.info("swarm: node certificate renewed; next renewal in %.0f s", delay)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("swarm: renewing the node certificate failed: %s", exc)
                delay = RETRY
