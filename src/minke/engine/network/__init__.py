"""Virtual networks: drivers (bridge, host, null), IPAM, namespaces, nftables, published
ports and the embedded DNS server, behind ``NetworkService``."""

from minke.engine.network.driver import Endpoint, NetworkDriver, NetworkInfo
from minke.engine.network.netns import interface_counters
from minke.engine.network.service import NetworkService

__all__ = ["Endpoint", "NetworkDriver", "NetworkInfo", "NetworkService", "interface_counters"]
