"""The node agent: the local Engine seen from the swarm (describing the node, and running
its tasks as containers: ``executor.py``)."""

from minke.swarm.agent.local import LocalAgent

__all__ = ["LocalAgent"]
