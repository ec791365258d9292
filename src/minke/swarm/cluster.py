"""A node's membership in a swarm, as dockerd's ``daemon/cluster`` owns it: the local state
(inactive, locked, active, error), ``swarm init``/``leave``/``unlock``, the manager's control API
while active, the ``Swarm`` section of ``/info``, and cluster events.

``init`` makes this node the cluster's root CA, leader and first manager; it serves the
other nodes on its listen address (``manager/remote.py``). ``join`` makes this node a
worker of another's cluster (``join.py``, ``agent/worker.py``), or, with the manager token
on an etcd store, one more manager (it opens the same store and campaigns, ``leader.py``);
``node promote``/``demote`` switch a node between the two. Operations that need a
manager answer as dockerd does on a node that is not one, or is locked.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

from minke import errors
from minke.aio import cancel
from minke.swarm.agent.worker import WorkerNode
from minke.swarm.ca import (
    DataKey,
    RootCA,
    human_readable_key,
    issue_node_certificate,
    new_unlock_key,
    parse_human_readable_key,
    tls_info,
)
from minke.swarm.events import EventPublisher, Publish
from minke.swarm.ids import new_id
from minke.swarm.initrequest import InitRequest
from minke.swarm.join import JoinRequest, join_cluster, manager_data_key
from minke.swarm.localstate import LocalState, LocalStore
from minke.swarm.manager import spec as specs
from minke.swarm.manager.caserver import NO_STORE
from minke.swarm.manager.controlapi import ControlAPI
from minke.swarm.manager.leader import Leader, reconcilers
from minke.swarm.manager.logrelay import LogRelay
from minke.swarm.manager.remote import ManagerEndpoint
from minke.swarm.manager.services import ServiceControl
from minke.swarm.renewal import CertificateRenewer
from minke.swarm.rpc import NodeCredentials
from minke.swarm.store import DELETE, Obj, SQLiteStore, Store, Tx

log = logging.getLogger(__name__)

INACTIVE, LOCKED, ACTIVE, ERROR = "inactive", "locked", "active", "error"

NOT_IN_SWARM = "This node is not part of a swarm"
ALREADY_IN_SWARM = ('This node is already part of a swarm. Use "docker swarm leave" to leave '
                    "this swarm and join another one.")
NOT_A_MANAGER = ('This node is not a swarm manager. Use "docker swarm init" or "docker swarm '
                 'join" to connect this node to swarm and try again.')
SWARM_LOCKED = ('Swarm is encrypted and needs to be unlocked before it can be used. Please use '
                '"docker swarm unlock" to unlock it.')
LEAVE_LOCKED = ("Swarm is encrypted and locked. Please unlock it first or use `--force` to "
                "ignore this message.")
LEAVE_LAST_MANAGER = ("You are attempting to leave the swarm on a node that is participating "
                      "as a manager. Removing the last manager erases all current state of the "
                      "swarm. Use `--force` to ignore this message. ")


class Agent(Protocol):
    """What the cluster needs of the local engine (``swarm.agent.LocalAgent``)."""

    async def describe(self) -> Obj:
        """The node's ``Description`` without ``TLSInfo``: hostname, platform, resources,
        engine."""

    async def remove_task_containers(self, node_id: str) -> None:
        """Force-remove the containers of this node's tasks (on leave)."""


class NotLocked(errors.Conflict):
    def __init__(self) -> None:
        super().__init__("swarm is not locked")


class SwarmCluster:
    """This node's swarm membership; ``start`` reads it back from ``root`` after a restart."""

    def __init__(self, root: Path, *, agent: Agent, publish: Publish,
                 open_store: Callable[[Path], Store] = SQLiteStore,
                 leader_lease: float | None = None, store_url: str = "") -> None:
        self.local = LocalStore(root)
        self.agent = agent
        self.publish = publish
        self.open_store = open_store
        self.leader_lease = leader_lease  # seconds, managers on etcd (election.DEFAULT_TTL)
        self.store_url = store_url  # the etcd store --cluster-store names ("": SQLite)
        self._role_watch: asyncio.Task[None] | None = None  # a manager's own role
        self.status = INACTIVE
        self.state: LocalState | None = None
        self.control: ControlAPI | None = None
        self.services: ServiceControl | None = None
        self._leader: Leader | None = None
        self._executor: Any = None  # the agent's task executor while active
        self._store: Store | None = None
        self._events: EventPublisher | None = None
        self._endpoint: ManagerEndpoint | None = None  # serves the other nodes
        self._renewer: CertificateRenewer | None = None
        self._worker: WorkerNode | None = None  # while this node is a worker
        self._lock = asyncio.Lock()  # init, join, leave, unlock and updates of the keys
        self.error = ""  # why the node is in ERROR

    # -- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        """Resume after a (re)start: inactive, locked (autolock), or active. State that
        cannot be read leaves the node in ``error`` (dockerd's LocalNodeState), reported by
        ``/info`` and the swarm endpoints; the daemon itself still starts, and
        ``swarm leave --force`` clears it."""
        try:
            self.state = self.local.load()
            if self.state is None:
                self.status = INACTIVE
            elif self.state.locked_at_rest:
                self.status = LOCKED
            else:
                await self._activate(self.state.plain_key())
        except (errors.MinkeError, OSError, sqlite3.Error, ValueError) as exc:
            log.error("swarm state in %s cannot be used: %s", self.local.root, exc)
            await self._deactivate()
            self.status, self.error = ERROR, f"swarm state cannot be used: {exc}"

    async def close(self) -> None:
        await self._deactivate()

    async def _activate(self, data_key: DataKey) -> None:
        assert self.state is not None
        if self.state.role == "worker":
            self._worker = WorkerNode(self.agent, self.local, self.state, data_key,
                                      on_removed=self._removed, on_promoted=self._promoted)
            await self._worker.start()
            self.status = ACTIVE
            return
        store = self.open_store(self.local.store_path())
        self._store = store
        self.control = ControlAPI(store, data_key)
        index = await store.view(lambda tx: tx.index)
        self._events = EventPublisher(store, self.publish, since=index)
        self._events.start()
        self.status = ACTIVE
        await self._keep_data_key(await self.control.cluster())
        await self._report_ready()
        self.services = ServiceControl(store)
        # Agents that cannot run tasks (the unit tests' stand-ins) have no executor.
        make_executor = getattr(self.agent, "executor", None)
        if make_executor is not None:
            self._executor = make_executor(store, self.state.node_id, data_key)
            await self._executor.start()
        await self._serve_nodes(data_key)
        # Last: the leader's duties include the endpoint's dispatcher.
        self._leader = Leader(store, self.state.node_id, lease_ttl=self.leader_lease,
                              make=self._leader_duties)
        self._leader.start()
        self._role_watch = asyncio.create_task(self._watch_role(store, index),
                                               name="swarm-role")

    def _leader_duties(self, store: Store) -> list[Any]:
        """What the leader runs: the reconcilers, and the dispatcher's sessions and
        node-down decisions."""
        duties: list[Any] = reconcilers(store)
        if self._endpoint is not None:
            duties.append(self._endpoint.dispatcher.duty(store))
        return duties

    async def _watch_role(self, store: Store, since: int) -> None:
        """A manager demoted (``node demote``) stops serving and goes on as a worker."""
        assert self.state is not None
        node_id = self.state.node_id
        async for event in store.watch(("node",), since=since):
            if event.id == node_id and event.action != DELETE and \
                    event.object["Spec"]["Role"] == "worker":
                asyncio.create_task(self._switch_role("worker"), name="swarm-demote")
                return

    async def _promoted(self) -> None:
        """This worker got a manager certificate (``node promote``): serve as one."""
        asyncio.create_task(self._switch_role("manager"), name="swarm-promote")

    async def _switch_role(self, role: str) -> None:
        async with self._lock:
            state = self.state
            if self.status != ACTIVE or state is None or state.role == role:
                return
            try:
                if role == "manager":
                    await self._to_manager(state)
                else:
                    await self._to_worker(state)
            except (errors.MinkeError, OSError) as exc:
                log.error("swarm: this node cannot become a %s: %s", role, exc)
                self.status, self.error = ERROR, f"cannot become a {role}: {exc}"

    async def _to_manager(self, state: LocalState) -> None:
        assert self._worker is not None
        if not self.store_url:
            raise errors.Unavailable(NO_STORE.format(url="etcd://..."))
        credentials = self._worker.credentials  # the renewed manager certificate
        data_key = await manager_data_key(self._worker.session.candidates(), credentials)
        await self._deactivate()
        await asyncio.to_thread(self.local.save_certificates,
                                root_ca=credentials.root_pem, cert=credentials.cert_pem,
                                key=credentials.key_pem, data_key=data_key)
        state.role = "manager"
        state.keep_key(data_key, None)
        await asyncio.to_thread(self.local.save, state)
        await self._activate(data_key)
        log.info("swarm: this node is now a manager")

    async def _to_worker(self, state: LocalState) -> None:
        assert self.control is not None
        data_key = self.control.data_key
        managers = await self.control.store.view(lambda tx: [
            n["ManagerStatus"]["Addr"] for n in tx.list("node")
            if n.get("ManagerStatus") and n["ID"] != state.node_id])
        await self._deactivate()
        state.role, state.managers = "worker", managers
        state.keep_key(data_key, None)  # now only this node's key for its files
        await asyncio.to_thread(self.local.save, state)
        await self._activate(data_key)
        log.info("swarm: this node was demoted: now a worker")

    async def _serve_nodes(self, data_key: DataKey) -> None:
        """The manager's endpoint for the other nodes, and its own certificate's renewal."""
        assert self.state is not None and self.control is not None
        credentials = NodeCredentials(*await asyncio.to_thread(self.local.load_certificates,
                                                               data_key))
        cluster = await self.control.cluster()
        self._endpoint = ManagerEndpoint(
            self.control, node_id=self.state.node_id, cluster_id=cluster["ID"],
            listen_addr=self.state.listen_addr, credentials=credentials,
            containers=getattr(getattr(self.agent, "engine", None), "containers", None))
        await self._endpoint.start()
        control, endpoint, node_id = self.control, self._endpoint, self.state.node_id

        async def renew() -> bytes:  # the manager is its own CA: no call needed
            cluster = await control.cluster()
            expiry = datetime.timedelta(
                microseconds=specs.node_cert_expiry(cluster["Spec"]) // 1000)
            cert, key = await asyncio.to_thread(
                issue_node_certificate, control.root_ca(cluster), node_id=node_id,
                manager=True, cluster_id=cluster["ID"], expiry=expiry)
            await asyncio.to_thread(self.local.save_certificates, root_ca=credentials.root_pem,
                                    cert=cert, key=key, data_key=data_key)
            endpoint.reload(NodeCredentials(credentials.root_pem, cert, key))
            return cert
        self._renewer = CertificateRenewer(credentials.cert_pem, renew)
        self._renewer.start()

    async def _removed(self, why: str) -> None:
        """The manager refused this worker's session: the node was removed (``node rm``).
        dockerd then reports the node in error until it leaves; so does this one."""
        self.status, self.error = ERROR, f"this node was removed from the swarm: {why}"

    async def _deactivate(self) -> None:
        await cancel(self._role_watch)  # left running when it is the caller
        self._role_watch = None
        if self._worker is not None:
            await self._worker.stop()
            self._worker = None
        if self._renewer is not None:
            await self._renewer.stop()
            self._renewer = None
        if self._endpoint is not None:
            await self._endpoint.stop()
            self._endpoint = None
        if self._executor is not None:
            await self._executor.stop()
            self._executor = None
        if self._leader is not None:
            await self._leader.stop()
            self._leader = None
        self.services = None
        if self._events is not None:
            await self._events.stop()
            self._events = None
        if self._store is not None:
            await self._store.close()
            self._store = None
        self.control = None

    async def _keep_data_key(self, cluster: Obj) -> None:
        """Keep the data key on disk as the cluster's autolock setting says: wrapped by the
        current unlock key, or in the clear (SwarmKit re-encrypts its keys the same way)."""
        assert self.state is not None and self.control is not None
        before = (self.state.data_key, self.state.wrapped_data_key)
        unlock_key = self.control.unlock_key(cluster)
        if unlock_key is not None and self.state.wrapped_data_key:
            try:  # already wrapped by this key: keep the file as it is
                DataKey.unwrap(self.state.wrapped_data_key, unlock_key)
                return
            except errors.Unauthorized:
                pass
        self.state.keep_key(self.control.data_key, unlock_key)
        if (self.state.data_key, self.state.wrapped_data_key) != before:
            await asyncio.to_thread(self.local.save, self.state)

    async def _report_ready(self) -> None:
        """The agent's report of this node: its description, and status ready."""
        assert self.control is not None and self.state is not None
        description = await self.agent.describe()
        host = self.state.advertise_addr.rsplit(":", 1)[0].strip("[]")
        control, node_id = self.control, self.state.node_id
        advertise = self.state.advertise_addr

        def report(tx: Tx) -> None:
            node = tx.get("node", node_id)
            if node is None:
                return
            cluster = tx.list("cluster")[0]
            desc = {**description, "TLSInfo": tls_info(
                RootCA(cluster["RootCA"]["CACert"].encode(), b""))}
            status = {"State": "ready", "Addr": host}
            data_path = self.state.data_path_addr if self.state else ""
            manager = {"Leader": False, "Reachability": "reachable",
                       **(node.get("ManagerStatus") or {}), "Addr": advertise}
            if node.get("Description") != desc or node["Status"] != status or \
                    node.get("_DataPathAddr", "") != data_path or \
                    node.get("ManagerStatus") != manager:
                node["Description"], node["Status"] = desc, status
                node["_DataPathAddr"] = data_path  # the underlay address, if not Addr
                node["ManagerStatus"] = manager  # where the other nodes reach it
                tx.update("node", node)
        await control.store.update(report)

    # -- init, leave, unlock ----------------------------------------------------------

    async def init(self, request: Obj) -> str:
        """``POST /swarm/init``: a new cluster with this node its only manager; its ID."""
        async with self._lock:
            if self.status != INACTIVE:
                if request.get("ForceNewCluster") and self.status == ACTIVE:
                    # One manager already is a cluster of itself: nothing to recover.
                    assert self.state is not None
                    return self.state.node_id
                raise errors.Unavailable(ALREADY_IN_SWARM)
            plan = InitRequest.parse(request)
            try:
                return await self._init(plan)
            except BaseException:
                await self._deactivate()
                await asyncio.to_thread(self.local.erase)
                self.status, self.state = INACTIVE, None
                raise

    async def _init(self, plan: InitRequest) -> str:
        node_id, cluster_id = new_id(), new_id()
        data_key = DataKey.generate()
        unlock_key = new_unlock_key() if plan.autolock else None
        root = await asyncio.to_thread(RootCA.create)
        expiry = datetime.timedelta(microseconds=specs.node_cert_expiry(plan.spec) // 1000)
        cert, key = await asyncio.to_thread(
            issue_node_certificate, root, node_id=node_id, manager=True,
            cluster_id=cluster_id, expiry=expiry)
        await asyncio.to_thread(self.local.erase)  # what a crashed init may have left
        await asyncio.to_thread(self.local.save_certificates, root_ca=root.cert_pem,
                                cert=cert, key=key, data_key=data_key)
        cluster = ControlAPI.new_cluster(
            data_key, cluster_id=cluster_id, spec=plan.spec, root=root, unlock_key=unlock_key,
            data_path_port=plan.data_path_port)
        cluster["DefaultAddrPool"] = plan.default_addr_pool
        cluster["SubnetSize"] = plan.subnet_size
        node = {
            "ID": node_id,
            "Spec": {"Labels": {}, "Role": "manager", "Availability": plan.availability},
            "Description": {}, "Status": {"State": "unknown"},
            "ManagerStatus": {"Leader": True, "Reachability": "reachable",
                              "Addr": plan.advertise_addr},
        }

        def create(tx: Tx) -> None:
            tx.create("cluster", cluster)
            tx.create("node", node)
        store = self.open_store(self.local.store_path())
        try:
            await store.update(create)
        finally:
            await store.close()
        state = LocalState(node_id=node_id, listen_addr=plan.listen_addr,
                           advertise_addr=plan.advertise_addr,
                           data_path_addr=plan.data_path_addr)
        state.keep_key(data_key, unlock_key)
        await asyncio.to_thread(self.local.save, state)  # from here on, the node is in
        self.state = state
        await self._activate(data_key)
        return node_id

    async def join(self, request: Obj) -> None:
        """``POST /swarm/join``: become a worker of the cluster a manager in
        ``RemoteAddrs`` leads, with its join token (``join.py``)."""
        async with self._lock:
            if self.status != INACTIVE:
                raise errors.Unavailable(ALREADY_IN_SWARM)
            plan = JoinRequest.parse(request)
            joined = await join_cluster(plan, store=self.store_url)
            manager = joined.role == "manager"
            if manager:  # the cluster's key: a manager opens what the store keeps sealed
                data_key = await manager_data_key(
                    [joined.manager], NodeCredentials(joined.root_pem, joined.cert_pem,
                                                      joined.key_pem))
            else:
                data_key = DataKey.generate()  # this node's own, for its key at rest
            try:
                await asyncio.to_thread(self.local.erase)
                await asyncio.to_thread(self.local.save_certificates, root_ca=joined.root_pem,
                                        cert=joined.cert_pem, key=joined.key_pem,
                                        data_key=data_key)
                state = LocalState(node_id=joined.node_id, listen_addr=plan.listen_addr,
                                   advertise_addr=joined.advertise_addr,
                                   data_path_addr=plan.data_path_addr,
                                   role="manager" if manager else "worker",
                                   managers=[joined.manager])
                state.keep_key(data_key, None)
                await asyncio.to_thread(self.local.save, state)
                self.state = state
                await self._activate(data_key)
            except BaseException:
                await self._deactivate()
                await asyncio.to_thread(self.local.erase)
                self.status, self.state = INACTIVE, None
                raise

    async def switch_store(self, open_store: Callable[[Path], Store],
                           move: Callable[[Store, Store], Awaitable[None]]) -> None:
        """Move the manager's state to another store (``storemigration.py``): the manager
        stops (task containers keep running, as in a daemon restart), ``move`` copies the
        old store into the new one, and the manager resumes on the new store, or on the
        old one if ``move`` failed."""
        async with self._lock:
            if self.status != ACTIVE or self.control is None or self.state is None \
                    or self._worker is not None:
                raise errors.Unavailable(NOT_A_MANAGER)
            data_key = self.control.data_key
            await self._deactivate()
            old = self.open_store(self.local.store_path())
            new = open_store(self.local.store_path())
            try:
                await move(old, new)
                self.open_store = open_store
            finally:
                await old.close()
                await new.close()
                await self._activate(data_key)

    async def leave(self, force: bool) -> None:
        """``POST /swarm/leave``: forget the swarm and remove this node's task containers.
        The last manager leaves only with ``force``, as does a locked node."""
        async with self._lock:
            if self.status == INACTIVE:
                raise errors.Unavailable(NOT_IN_SWARM)
            if self.status == LOCKED and not force:
                raise errors.Unavailable(LEAVE_LOCKED)
            if self.status == ERROR and not force:
                raise errors.Unavailable(f"{self.error}. Use `--force` to leave anyway.")
            if self.status == ACTIVE and not force and self._worker is None:
                raise errors.Unavailable(await self._leave_refusal())
            node_id = self.state.node_id if self.state is not None else ""
            was_manager = self._store is not None
            await self._deactivate()
            if was_manager and node_id:
                await self._forget_store(node_id)
            self.status, self.state, self.error = INACTIVE, None, ""
            if node_id:
                await self.agent.remove_task_containers(node_id)
            await asyncio.to_thread(self.local.erase)

    async def _leave_refusal(self) -> str:
        """dockerd's words for a manager leaving without ``--force``: the last one erases
        the swarm; another leaves the others fewer (demote it first, as Docker advises)."""
        assert self.control is not None
        try:
            nodes = await self.control.store.view(lambda tx: tx.list("node"))
        except errors.MinkeError:
            return LEAVE_LAST_MANAGER
        managers = [n for n in nodes if n["Spec"]["Role"] == "manager"]
        reachable = [n for n in managers
                     if (n.get("ManagerStatus") or {}).get("Reachability") == "reachable"]
        if len(managers) <= 1:
            return LEAVE_LAST_MANAGER
        return ("You are attempting to leave the swarm on a node that is participating as a "
                f"manager. Removing this node leaves {max(len(reachable) - 1, 0)} managers "
                f"out of {len(managers)}. Demote it first (`docker node demote`), or use "
                "`--force` to suppress this message.")

    async def _forget_store(self, node_id: str) -> None:
        """The last manager leaving takes the swarm's state along: the SQLite file goes
        with the swarm directory; an etcd prefix is wiped if no other manager is left."""
        try:
            store = self.open_store(self.local.store_path())
        except errors.MinkeError as exc:
            log.warning("swarm leave: the cluster store keeps this swarm's state: %s", exc)
            return
        erase = getattr(store, "erase_if_last_manager", None)
        try:
            if erase is not None:
                await erase(node_id)
        except errors.MinkeError as exc:
            log.warning("swarm leave: the cluster store keeps this swarm's state: %s", exc)
        finally:
            await store.close()

    async def unlock(self, key_text: str) -> None:
        """``POST /swarm/unlock``: open the data key with the unlock key and start."""
        async with self._lock:
            if self.status == ACTIVE:
                raise NotLocked()
            if self.status != LOCKED or self.state is None:
                raise errors.Unavailable(self.error or NOT_A_MANAGER)
            key = parse_human_readable_key(key_text)
            data_key = DataKey.unwrap(self.state.wrapped_data_key, key)
            try:
                await self._activate(data_key)
            except BaseException:
                await self._deactivate()
                self.status = LOCKED
                raise

    # -- manager operations -----------------------------------------------------------

    def manager(self) -> ControlAPI:
        """The control API, or dockerd's error for a node that cannot serve it now."""
        if self.status == LOCKED:
            raise errors.Unavailable(SWARM_LOCKED)
        if self.status == ERROR:
            raise errors.Unavailable(self.error)
        if self.control is None:
            raise errors.Unavailable(NOT_A_MANAGER)
        return self.control

    def log_relay(self) -> LogRelay | None:
        """While this node is a manager: its way to the logs of tasks on other nodes."""
        return self._endpoint.logs if self._endpoint is not None else None

    async def inspect(self) -> Obj:
        control = self.manager()
        return control.cluster_doc(await control.cluster(), join_tokens=True)

    async def update(self, version: int, spec: Obj, *, rotate_worker: bool,
                     rotate_manager: bool, rotate_unlock: bool) -> None:
        async with self._lock:
            control = self.manager()
            cluster = await control.update_cluster(
                version, spec, rotate_worker=rotate_worker, rotate_manager=rotate_manager,
                rotate_unlock=rotate_unlock)
            await self._keep_data_key(cluster)

    async def unlock_key(self) -> str:
        control = self.manager()
        key = control.unlock_key(await control.cluster())
        return human_readable_key(key) if key else ""

    async def info(self) -> Obj:
        """The ``Swarm`` section of ``/info``."""
        state = self.state
        addr = state.advertise_addr.rsplit(":", 1)[0].strip("[]") if state else ""
        info: Obj = {"NodeID": "", "NodeAddr": addr, "LocalNodeState": self.status,
                     "ControlAvailable": False, "Error": "", "RemoteManagers": None}
        if self.status == LOCKED:
            info["Error"] = SWARM_LOCKED
        elif self.status == ERROR:
            info["Error"] = self.error
        if self.status == ACTIVE and self._worker is not None and state is not None:
            managers = await self._worker.mirror.view(
                lambda tx: [n for n in tx.list("node") if n.get("ManagerStatus")])
            info.update({"NodeID": state.node_id, "RemoteManagers": [
                {"NodeID": n["ID"], "Addr": n["ManagerStatus"]["Addr"]} for n in managers]
                or [{"NodeID": "", "Addr": a} for a in state.managers]})
            return info
        if self.status != ACTIVE or self.control is None or state is None:
            return info
        control = self.control
        cluster, nodes = await control.store.view(
            lambda tx: (tx.list("cluster")[0], tx.list("node")))
        managers = [n for n in nodes if n.get("ManagerStatus")]
        info.update({
            "NodeID": state.node_id, "ControlAvailable": True,
            "RemoteManagers": [{"NodeID": n["ID"], "Addr": n["ManagerStatus"]["Addr"]}
                               for n in managers],
            "Nodes": len(nodes), "Managers": len(managers),
            "Cluster": control.cluster_doc(cluster, join_tokens=False),
        })
        return info

    def ping_status(self) -> str:
        """The ``Swarm`` header of ``/_ping`` (dockerd's ``Cluster.Status``)."""
        if self.status == ACTIVE:
            return f"{ACTIVE}/worker" if self._worker is not None else f"{ACTIVE}/manager"
        return self.status
