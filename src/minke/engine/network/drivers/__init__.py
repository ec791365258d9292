"""Network drivers: one module per kind of network, each a ``driver.NetworkDriver``."""

from minke.engine.network.drivers.bridge import BridgeDriver
from minke.engine.network.drivers.host import HostDriver
from minke.engine.network.drivers.null import NullDriver
from minke.engine.network.drivers.overlay import OverlayDriver

__all__ = ["BridgeDriver", "HostDriver", "NullDriver", "OverlayDriver"]
