"""The ``host`` driver: containers on the ``host`` network share the host's namespace, so
there is nothing to make, join or leave; the service leaves the spec's network namespace
out for them."""

from __future__ import annotations

from pathlib import Path

from minke.engine.network.driver import Endpoint, NetworkDriver, NetworkInfo


class HostDriver(NetworkDriver):
    name = "host"
    own_namespace = False
    user_defined = False

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
