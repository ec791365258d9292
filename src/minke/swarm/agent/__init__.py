"""The node agent: the local Engine seen from the swarm (describing the node, and later
running its tasks as containers)."""

from minke.swarm.agent.local import LocalAgent

__all__ = ["LocalAgent"]
