"""The ``host`` driver: containers on the ``host`` network share the host's namespace, so
there is nothing to make, join or leave; the service leaves the spec's network namespace
out for them."""

from __future__ import annotations

from minke.engine.network.driver import PassiveDriver


class HostDriver(PassiveDriver):
    name = "host"
    own_namespace = False
    user_defined = False
