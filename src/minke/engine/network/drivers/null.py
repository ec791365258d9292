"""The ``null`` driver behind the ``none`` network: a namespace of the container's own with
only loopback (which the service brings up for every namespace it makes)."""

from __future__ import annotations

from minke.engine.network.driver import PassiveDriver


class NullDriver(PassiveDriver):
    name = "null"
    own_namespace = True
    user_defined = False
