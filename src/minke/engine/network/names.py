"""What a container's embedded DNS answers: an in-memory view of the names on the
user-defined networks it shares, kept current as endpoints come and go.

Owns Docker's service-discovery rules: on each user-defined network a container is known
by its name, its network aliases (``--network-alias``, and its short id) and those with
``.<network>`` appended; ``--link`` aliases are known to the linking container only; a
name resolves only for containers that share a network with the target (network-scoped
answers); several containers with one alias all answer (the server shuffles them). The
default ``bridge`` network has no discovery, as in Docker. On swarm networks, services are
known by their name and ``tasks.<name>`` (``NetworkService.service_names``). Other names
are forwarded to ``--dns`` servers or the host's, except for containers only on
``--internal`` networks.

The view is built on the daemon's event loop, as the network service saves or drops an
endpoint and as the event bus reports a rename, and read by the DNS server's own thread: a
change builds new tables and puts each in place with one assignment (atomic for the reader),
then bumps ``generation``, which tells the server to drop the answers it cached before.
A lookup is then a few dictionary reads, with no query of the stores.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from minke.engine.network.dns import Answer, upstream_servers
from minke.errors import MinkeError

if TYPE_CHECKING:
    from minke.engine.network.driver import Endpoint
    from minke.engine.network.service import NetworkService

NO_DISCOVERY = ("bridge", "host", "none")


@dataclass(frozen=True)
class NetworkNames:
    """One user-defined network's names. Its ``Answer`` objects are shared: never amended."""

    by_name: dict[str, Answer]  # name, alias, and each with ".<network>" → addresses
    by_container: dict[str, Answer]  # container id → its addresses (the targets of links)
    ptr: dict[str, str]  # address → "<container>.<network>"


@dataclass(frozen=True)
class ContainerNames:
    """What one container asks through: its user-defined networks, links and upstreams."""

    networks: tuple[str, ...]
    links: dict[str, str]  # alias (lowercase) → id of the linked container
    servers: tuple[str, ...]
    forward: bool


def _merge(answers: Iterable[Answer]) -> Answer:
    ipv4: dict[str, None] = {}
    ipv6: dict[str, None] = {}
    for answer in answers:
        ipv4.update(dict.fromkeys(answer.ipv4))
        ipv6.update(dict.fromkeys(answer.ipv6))
    return Answer(list(ipv4), list(ipv6))


class NameView:
    """The names every container may resolve, for ``dns.DNSServer``."""

    def __init__(self, service: NetworkService) -> None:
        self._service = service
        self._networks: dict[str, NetworkNames] = {}
        self._containers: dict[str, ContainerNames] = {}
        self._linkers: set[str] = set()  # containers with links, re-resolved on changes
        self.generation = 0

    # -- changes (on the daemon's event loop) ---------------------------------------------

    def rebuild(self) -> None:
        """Everything from the service's endpoints (at daemon start)."""
        endpoints = list(self._service.endpoints.values())
        for network_id in {e.network_id for e in endpoints} | set(self._networks):
            self._build_network(network_id)
        for container_id in {e.container_id for e in endpoints} | set(self._containers):
            self._build_container(container_id)
        self.generation += 1

    def endpoint_changed(self, endpoint: Endpoint) -> None:
        """An endpoint was saved or dropped: its network's names and its container's."""
        self._build_network(endpoint.network_id)
        for container_id in {endpoint.container_id} | self._linkers:
            self._build_container(container_id)
        self.generation += 1

    def on_event(self, event: dict[str, Any]) -> None:
        """Event bus listener: a renamed container is known by its new name at once."""
        if event["Type"] != "container" or event["Action"] != "rename":
            return
        container_id = event["Actor"]["ID"]
        for endpoint in self._service.endpoints_of(container_id=container_id):
            self._build_network(endpoint.network_id)
        for linker in self._linkers:
            self._build_container(linker)
        self.generation += 1

    def networks_of(self, container_id: str) -> dict[str, Any]:
        """network id → record, for the user-defined networks the container is on."""
        out = {}
        for endpoint in self._service.endpoints_of(container_id=container_id):
            try:
                doc = self._service.get(endpoint.network_id)
            except MinkeError:  # removed while the endpoint was being dropped
                continue
            if doc["Name"] not in NO_DISCOVERY:
                out[doc["Id"]] = doc
        return out

    def _record(self, container_id: str) -> dict[str, Any] | None:
        containers = self._service.containers
        return containers.find(container_id) if containers is not None else None

    def _build_network(self, network_id: str) -> None:
        try:
            doc = self._service.get(network_id)
        except MinkeError:
            doc = None
        endpoints = self._service.endpoints_of(network_id=network_id)
        if doc is None or doc["Name"] in NO_DISCOVERY or not endpoints:
            self._networks.pop(network_id, None)
            return
        suffix = "." + doc["Name"].lower()
        by_name: dict[str, Answer] = {}
        by_container: dict[str, Answer] = {}
        ptr: dict[str, str] = {}
        for endpoint in endpoints:
            ipv4 = [endpoint.ipv4.split("/")[0]] if endpoint.ipv4 else []
            ipv6 = [endpoint.ipv6.split("/")[0]] if endpoint.ipv6 else []
            record = self._record(endpoint.container_id)
            names = {a.lower() for a in endpoint.aliases}
            if record is not None:
                name = record["Name"].lstrip("/")
                names.add(name.lower())
                for address in ipv4 + ipv6:
                    ptr.setdefault(address, f"{name}.{doc['Name']}")
            for name in names | {n + suffix for n in names}:
                answer = by_name.setdefault(name, Answer([], []))
                answer.ipv4.extend(ipv4)
                answer.ipv6.extend(ipv6)
            by_container[endpoint.container_id] = Answer(ipv4, ipv6)
        # Swarm services on the network: ``<service>`` (its VIP, or the tasks in dnsrr mode)
        # and ``tasks.<service>`` (its ready tasks), kept by minke.swarm.agent.networks.
        for name, service_answer in self._service.service_names.get(network_id, {}).items():
            for key in (name, name + suffix):
                by_name[key] = _merge([by_name[key], service_answer]) if key in by_name \
                    else service_answer
        self._networks[network_id] = NetworkNames(by_name, by_container, ptr)

    def _build_container(self, container_id: str) -> None:
        networks = self.networks_of(container_id)
        record = self._record(container_id)
        if not networks or record is None:
            self._containers.pop(container_id, None)
            self._linkers.discard(container_id)
            return
        links = {}
        for link in record["HostConfig"].get("Links") or []:
            target, _, alias = link.partition(":")
            alias = (alias or target).rsplit("/", 1)[-1].lower()
            try:
                links.setdefault(alias, self._service.containers.get(target.lstrip("/"))["Id"])
            except MinkeError:  # the linked container is gone: the name is unknown
                continue
        (self._linkers.add if record["HostConfig"].get("Links") else self._linkers.discard)(
            container_id)
        self._containers[container_id] = ContainerNames(
            networks=tuple(networks), links=links,
            servers=tuple(record["HostConfig"].get("Dns") or upstream_servers()),
            forward=not all(doc.get("Internal") for doc in networks.values()))

    # -- answers (on the DNS server's thread: reads only) -------------------------------

    def lookup(self, container_id: str, name: str) -> Answer | None:
        entry = self._containers.get(container_id)
        if entry is None:
            return None
        tables = [t for t in map(self._networks.get, entry.networks) if t is not None]
        found = [a for a in (t.by_name.get(name) for t in tables) if a is not None]
        target = entry.links.get(name)
        if target is not None:
            found += [a for a in (t.by_container.get(target) for t in tables) if a is not None]
        if len(found) < 2:
            return found[0] if found else None
        return _merge(found)

    def reverse(self, container_id: str, address: str) -> str | None:
        entry = self._containers.get(container_id)
        for network_id in entry.networks if entry is not None else ():
            table = self._networks.get(network_id)
            if table is not None and address in table.ptr:
                return table.ptr[address]
        return None

    def upstreams(self, container_id: str) -> tuple[list[str], bool]:
        entry = self._containers.get(container_id)
        if entry is None:
            return list(upstream_servers()), False
        return list(entry.servers), entry.forward
