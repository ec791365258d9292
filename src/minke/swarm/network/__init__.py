"""The swarm's data plane across nodes: what the manager allocates for overlay networks
(``allocation``) and what each node programs from the cluster state (``mesh``)."""

from minke.swarm.network.allocation import (
    allocate_vni,
    assign_node_addresses,
    check_options,
    vni_of,
)
from minke.swarm.network.mesh import OverlayState, plan

__all__ = [
    "OverlayState",
    "allocate_vni",
    "assign_node_addresses",
    "check_options",
    "plan",
    "vni_of",
]
