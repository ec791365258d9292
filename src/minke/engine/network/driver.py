"""The network driver interface, and the records drivers and the service share.

A driver owns the data path of its networks: what exists on the host for a network
(a Linux bridge, later a VXLAN device or a CNI plugin's state) and how one container's
network namespace is joined to it. IP addresses, names, DNS, published ports and the
firewall are not a driver's business: the ``NetworkService`` decides them and hands a
driver finished ``Endpoint``s. Adding the orchestrator's overlay driver or a CNI driver
means one new module under ``drivers/`` and one line in ``service.DRIVERS``.

Lifecycle::

    create(net) ─▶ join(net, ep, netns) ... leave(net, ep) ─▶ delete(net)
    restore(net)   after a daemon restart: make sure what ``create`` made is there

Every method is blocking (netlink, subprocesses): the service calls it in a thread. A
failing method raises a ``minke.errors`` class and leaves nothing of its own behind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

# Drivers whose networks are a bridge of minke's on this host: addresses from the IPAM, the
# firewall's rules and the embedded DNS apply to them alike.
BRIDGED = ("bridge", "overlay")


@dataclass
class NetworkInfo:
    """What a driver needs of a network: its id, name, options, interface and subnets."""

    id: str
    name: str
    driver: str
    interface: str  # the host device the driver made for it ("" if none)
    subnets: list[tuple[str, str]]  # (subnet CIDR, gateway) per IPAM.Config entry
    internal: bool = False
    options: dict[str, str] = field(default_factory=dict)
    mtu: int = 1500


@dataclass
class Endpoint:
    """One container's attachment to one network."""

    id: str
    network_id: str
    container_id: str
    ifname: str  # inside the container: eth0, eth1, ...
    host_ifname: str  # the host's end of the link ("" for drivers without one)
    mac: str
    ipv4: str = ""  # address/prefix
    ipv6: str = ""
    gateway4: str = ""
    gateway6: str = ""
    default_route: bool = False  # this endpoint carries the container's default route
    aliases: list[str] = field(default_factory=list)

    def to_doc(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Endpoint:
        return cls(**doc)


class NetworkDriver(Protocol):
    """One kind of network (``bridge``, ``host``, ``null``, later ``overlay``)."""

    name: str
    # Whether containers get a namespace of their own on this driver's networks ("host"
    # keeps the host's) and whether users may create networks of it.
    own_namespace: bool
    user_defined: bool

    def create(self, network: NetworkInfo) -> None:
        """Make the host side of ``network``; idempotent for what already exists."""

    def restore(self, network: NetworkInfo) -> None:
        """After a daemon restart: recreate what is missing, keep what is there."""

    def delete(self, network: NetworkInfo) -> None:
        """Remove what ``create`` made; a no-op for what is already gone."""

    def join(self, network: NetworkInfo, endpoint: Endpoint, netns: Path) -> None:
        """Plumb ``endpoint`` into the network namespace at ``netns`` with its addresses,
        MAC and (if ``default_route``) the default route. Undoes itself on failure."""

    def leave(self, network: NetworkInfo, endpoint: Endpoint) -> None:
        """Take ``endpoint`` out; a no-op when its interface is gone already."""


class PassiveDriver(NetworkDriver):
    """A driver with no host side (``host``, ``null``): nothing to make, join or leave; the
    service alone decides whether the container's namespace is its own."""

    def create(self, network: NetworkInfo) -> None:
        pass

    def restore(self, network: NetworkInfo) -> None:
        pass

    def delete(self, network: NetworkInfo) -> None:
        pass

    def join(self, network: NetworkInfo, endpoint: Endpoint, netns: Path) -> None:
        pass

    def leave(self, network: NetworkInfo, endpoint: Endpoint) -> None:
        pass
