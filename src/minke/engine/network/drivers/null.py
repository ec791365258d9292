"""The ``null`` driver behind the ``none`` network: a namespace of the container's own with
only loopback (which the service brings up for every namespace it makes)."""

from __future__ import annotations

from pathlib import Path

from minke.engine.network.driver import Endpoint, NetworkDriver, NetworkInfo


class NullDriver(NetworkDriver):
    name = "null"
    own_namespace = True
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
