"""What a container's embedded DNS answers: names on the user-defined networks it shares.

Owns Docker's service-discovery rules: on each user-defined network a container is known
by its name, its network aliases (``--network-alias``, and its short id) and those with
``.<network>`` appended; ``--link`` aliases are known to the linking container only; a
name resolves only for containers that share a network with the target (network-scoped
answers); several containers with one alias all answer (the server shuffles them). The
default ``bridge`` network has no discovery, as in Docker. Other names are forwarded to
``--dns`` servers or the host's, except for containers only on ``--internal`` networks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from minke.engine.network.dns import Answer, upstream_servers

if TYPE_CHECKING:
    from minke.engine.network.driver import Endpoint
    from minke.engine.network.service import NetworkService

NO_DISCOVERY = ("bridge", "host", "none")


class NameResolver:
    def __init__(self, service: NetworkService) -> None:
        self._service = service

    def networks_of(self, container_id: str) -> dict[str, Any]:
        """network id → record, for the user-defined networks the container is on."""
        out = {}
        for endpoint in self._service.endpoints_of(container_id=container_id):
            doc = self._service.get(endpoint.network_id)
            if doc["Name"] not in NO_DISCOVERY:
                out[doc["Id"]] = doc
        return out

    def _record(self, container_id: str) -> dict[str, Any] | None:
        containers = self._service.containers
        return containers.find(container_id) if containers is not None else None

    def _names(self, endpoint: Endpoint, network_name: str) -> set[str]:
        record = self._record(endpoint.container_id)
        names = {a.lower() for a in endpoint.aliases}
        if record is not None:
            names.add(record["Name"].lstrip("/").lower())
        return names | {f"{n}.{network_name.lower()}" for n in names}

    def _add(self, answer: Answer, endpoint: Endpoint) -> None:
        if endpoint.ipv4:
            answer.ipv4.append(endpoint.ipv4.split("/")[0])
        if endpoint.ipv6:
            answer.ipv6.append(endpoint.ipv6.split("/")[0])

    def lookup(self, container_id: str, name: str) -> Answer | None:
        networks = self.networks_of(container_id)
        if not networks:
            return None
        answer = Answer([], [])
        found = False
        for network_id, doc in networks.items():
            for endpoint in self._service.endpoints_of(network_id=network_id):
                if name in self._names(endpoint, doc["Name"]):
                    found = True
                    self._add(answer, endpoint)
        target = self._link_target(container_id, name)
        if target is not None:
            for endpoint in self._service.endpoints_of(container_id=target):
                if endpoint.network_id in networks:
                    found = True
                    self._add(answer, endpoint)
        return answer if found else None

    def _link_target(self, container_id: str, name: str) -> str | None:
        record = self._record(container_id)
        if record is None:
            return None
        for link in record["HostConfig"].get("Links") or []:
            target, _, alias = link.partition(":")
            alias = (alias or target).rsplit("/", 1)[-1].lower()
            if alias == name:
                try:
                    return self._service.containers.get(target.lstrip("/"))["Id"]
                except Exception:  # the linked container is gone: the name is unknown
                    return None
        return None

    def reverse(self, container_id: str, address: str) -> str | None:
        for network_id, doc in self.networks_of(container_id).items():
            for endpoint in self._service.endpoints_of(network_id=network_id):
                ips = {endpoint.ipv4.split("/")[0], endpoint.ipv6.split("/")[0]} - {""}
                record = self._record(endpoint.container_id)
                if address in ips and record is not None:
                    return f"{record['Name'].lstrip('/')}.{doc['Name']}"
        return None

    def upstreams(self, container_id: str) -> tuple[list[str], bool]:
        record = self._record(container_id)
        servers = list((record or {}).get("HostConfig", {}).get("Dns") or []) \
            or upstream_servers()
        internal_only = all(doc.get("Internal") for doc in self.networks_of(container_id)
                            .values())
        return servers, not internal_only
