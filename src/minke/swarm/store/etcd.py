"""The cluster store on etcd (several managers): the ``Store`` interface over etcd's
multi-version key space, with the etcd revision as the store index.

Keys under the configured prefix ``P``:

- ``P o/<kind>/<id>``: an object, JSON ``{"s": seq, "o": doc}``; ``Version.Index`` is the
  key's mod revision (set on read, never stored), creation order is (create revision,
  ``seq``: the write's position in its transaction).
- ``P n/<kind>/<lower-case name>``: the ID owning a name of a named kind (unique names).
- ``P g/<kind>``: touched by every transaction writing the kind, so that a transaction
  that *listed* the kind fails if any object of it changed since (no phantom reads).
- ``P meta/schema``, ``P meta/cluster``: the layout version and the ID of the cluster whose
  data the prefix holds; both are checked before anything is written.
- ``P leader``, ``P managers/<node-id>``: the leader key and the live managers' keys, under
  their leases (``manager/election.py``).

A view reads everything at one revision R (etcd keeps old revisions: a true snapshot).
A transaction runs the caller's function on the snapshot at R, remembering the mod
revision of every key it read, then commits all its writes in one etcd ``Txn`` that
compares those revisions (optimistic concurrency, as SwarmKit's store on Raft and
Kubernetes' on etcd). If another writer got there first the function runs again on a
fresh snapshot, as SQLite's single writer would have run it after the other one, so
callers see the same semantics on both stores; their functions must therefore have no
effect outside ``tx``. A ``Fence`` adds one more comparison: the leader key is still the
one this leader created, so a deposed leader's late write is refused (``NotLeader``).

All writes of one transaction share one etcd revision, so two objects written together
carry the same ``Version.Index`` (SQLite numbers them one by one); the index still grows
with every transaction. It is known only once etcd commits: objects a transaction returns
carry a predicted index and their ``Version`` dicts are corrected in place after commit.

Watches are etcd watches from ``since + 1`` with the previous value, so no event is lost
or repeated across reconnects; a revision etcd has compacted raises ``Compacted``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import random
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any

import grpc
from aetcd import exceptions as etcd_errors
from aetcd import rpc

from minke import errors
from minke.swarm.store.etcdconn import HAS_LEADER, Client, EtcdConfig, unavailable
from minke.swarm.store.sqlite import _now, _with_meta
from minke.swarm.store.store import (
    CREATE,
    DELETE,
    KINDS,
    NAMED_KINDS,
    UPDATE,
    Compacted,
    Event,
    NameConflict,
    NotLeader,
    Obj,
    ReadTx,
    SequenceConflict,
    Store,
    T,
    Tx,
    check_kind,
    check_write,
    require_writable,
    spec_name,
)

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
MAX_ATTEMPTS = 64  # runs of a transaction's function before contention is an error
WATCH_RETRY = 0.5  # seconds before a broken watch stream is opened again
# etcd answers "no leader" at once, instead of waiting for a timeout, to a request with this
# (clientv3's WithRequireLeader): a cluster without quorum is a fast, clear 503.
LEADER = HAS_LEADER


class StoreMismatch(errors.Conflict):
    """The prefix holds data this node must not use or overwrite."""


@dataclass(frozen=True)
class Fence:
    """The leadership a write depends on: the leader key and the revision that created
    it for this leader (a new leader's key has another create revision)."""

    key: bytes
    revision: int


def prefix_end(prefix: bytes) -> bytes:
    """The end of the key range holding every key that starts with ``prefix``."""
    return prefix[:-1] + bytes([prefix[-1] + 1])


class _Keys:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix.encode()
        self.objects = self.prefix + b"o/"
        self.schema = self.prefix + b"meta/schema"
        self.cluster = self.prefix + b"meta/cluster"
        self.leader = self.prefix + b"leader"
        self.managers = self.prefix + b"managers/"  # one key per live manager session

    def kind(self, kind: str) -> bytes:
        return self.objects + kind.encode() + b"/"

    def object(self, kind: str, id: str) -> bytes:
        return self.kind(kind) + id.encode()

    def name(self, kind: str, name: str) -> bytes:
        return self.prefix + b"n/" + kind.encode() + b"/" + name.encode()

    def gen(self, kind: str) -> bytes:
        return self.prefix + b"g/" + kind.encode()

    def parse(self, key: bytes) -> tuple[str, str]:
        kind, _, id = key[len(self.objects):].decode().partition("/")
        return kind, id


def _decode(kv: Any) -> tuple[Obj, tuple[int, int]]:
    """An object from its key-value, and its creation order."""
    envelope = json.loads(kv.value)
    doc = envelope["o"]
    return (_with_meta(doc, kv.mod_revision, doc["CreatedAt"], doc["UpdatedAt"]),
            (kv.create_revision, envelope["s"]))


def _encode(obj: Obj, seq: int) -> bytes:
    doc = {k: v for k, v in obj.items() if k != "Version"}
    return json.dumps({"s": seq, "o": doc}, separators=(",", ":")).encode()


# A range at a revision (0: the latest), and the revision it was read at.
Reader = Callable[[bytes, bytes | None, int], tuple[list[Any], int]]


class _EtcdTx(Tx):
    """A view (``writable=False``) or transaction on one snapshot: the revision of its
    first read (one round trip saved), then every read at that revision.

    ``check_creates`` False: ``create`` does not read whether the ID exists, it makes the
    commit require the key to be absent; if that fails the function runs again with
    checks (and gets ``Conflict`` if the ID is taken). Fresh IDs, the common case, cost
    no round trip."""

    def __init__(self, keys: _Keys, reader: Reader, *, writable: bool,
                 check_creates: bool = True) -> None:
        self._keys = keys
        self._reader = reader
        self._revision: int | None = None
        self._writable = writable
        self._check_creates = check_creates
        self.reads: dict[bytes, int] = {}  # key → mod revision seen (0: absent)
        self.writes: dict[bytes, bytes | None] = {}  # key → value, None to delete
        self.versions: list[dict[str, int]] = []  # Version dicts handed out (predicted)
        self._cache: dict[bytes, Any] = {}  # key → kv (None: absent) read at the snapshot
        self._objects: dict[tuple[str, str], tuple[Obj, tuple[int, int]] | None] = {}
        self._seq = 0

    @property
    def index(self) -> int:
        if self._revision is None:
            self._read(self._keys.schema, None)
        assert self._revision is not None
        return self._revision

    @property
    def predicted(self) -> int:
        """The revision the commit will most likely get."""
        return self.index + 1

    def _read(self, key: bytes, end: bytes | None) -> list[Any]:
        kvs, revision = self._reader(key, end, self._revision or 0)
        if self._revision is None:
            self._revision = revision
        return kvs

    # -- reads ---------------------------------------------------------------------------

    def _kv(self, key: bytes) -> Any:
        if key not in self._cache:
            found = self._read(key, None)
            self._cache[key] = found[0] if found else None
        kv = self._cache[key]
        self.reads[key] = kv.mod_revision if kv is not None else 0
        return kv

    def _load(self, kind: str, id: str) -> tuple[Obj, tuple[int, int]] | None:
        if (kind, id) in self._objects:
            return self._objects[(kind, id)]
        kv = self._kv(self._keys.object(kind, id))
        return _decode(kv) if kv is not None else None

    def _out(self, obj: Obj) -> Obj:
        out = copy.deepcopy(obj)
        if self._writable and out["Version"]["Index"] == self.predicted:
            self.versions.append(out["Version"])
        return out

    def get(self, kind: str, id: str) -> Obj | None:
        check_kind(kind)
        found = self._load(kind, id)
        return self._out(found[0]) if found else None

    def list(self, kind: str) -> list[Obj]:
        check_kind(kind)
        self._kv(self._keys.gen(kind))  # any later write of the kind fails our commit
        prefix = self._keys.kind(kind)
        found: dict[str, tuple[Obj, tuple[int, int]] | None] = {}
        for kv in self._read(prefix, prefix_end(prefix)):
            self._cache[kv.key] = kv
            found[self._keys.parse(kv.key)[1]] = _decode(kv)
        for (k, id), entry in self._objects.items():
            if k == kind:
                found[id] = entry
        present = [entry for entry in found.values() if entry is not None]
        return [self._out(obj) for obj, _ in sorted(present, key=lambda e: e[1])]

    def find(self, kind: str, *, name: str | None = None, service_id: str | None = None,
             node_id: str | None = None) -> list[Obj]:
        check_kind(kind)
        if name is not None and kind in NAMED_KINDS:
            owner = self._name_owner(kind, name.lower())
            found = self._load(kind, owner) if owner else None
            candidates = [self._out(found[0])] if found else []
        else:
            candidates = self.list(kind)
        return [o for o in candidates
                if (name is None or spec_name(o) == name.lower())
                and (service_id is None or o.get("ServiceID") == service_id)
                and (node_id is None or o.get("NodeID") == node_id)]

    def _name_owner(self, kind: str, name: str) -> str | None:
        key = self._keys.name(kind, name)
        if key in self.writes:
            value = self.writes[key]
            return value.decode() if value is not None else None
        kv = self._kv(key)
        return kv.value.decode() if kv is not None else None

    # -- writes --------------------------------------------------------------------------

    def create(self, kind: str, obj: Obj) -> Obj:
        self._check_write(kind, obj)
        key = self._keys.object(kind, obj["ID"])
        if self._check_creates or (kind, obj["ID"]) in self._objects or key in self._cache:
            if self._load(kind, obj["ID"]) is not None:
                raise errors.Conflict(f"{kind} {obj['ID']} already exists")
        else:
            self.reads.setdefault(key, 0)  # the commit requires it absent
        name = spec_name(obj) if kind in NAMED_KINDS else None
        if name and self._name_owner(kind, name) is not None:
            raise NameConflict(kind, obj["Spec"]["Name"])
        if kind == "cluster":
            self._claim_prefix(obj["ID"])
        now = _now()
        stored = _with_meta(obj, self.predicted, now, now)
        self._seq += 1
        self._put(kind, stored, self._seq)
        self._objects[(kind, obj["ID"])] = (stored, (self.predicted, self._seq))
        if name:
            self.writes[self._keys.name(kind, name)] = obj["ID"].encode()
        return self._out(stored)

    def update(self, kind: str, obj: Obj) -> Obj:
        self._check_write(kind, obj)
        found = self._load(kind, obj["ID"])
        if found is None:
            raise errors.NotFound(f"{kind} {obj['ID']} not found")
        old, order = found
        if (obj.get("Version") or {}).get("Index") != old["Version"]["Index"]:
            raise SequenceConflict()
        if kind in NAMED_KINDS:
            before, after = spec_name(old), spec_name(obj)
            if after and after != before:
                if self._name_owner(kind, after) not in (None, obj["ID"]):
                    raise NameConflict(kind, obj["Spec"]["Name"])
                self.writes[self._keys.name(kind, after)] = obj["ID"].encode()
            if before and before != after:
                self.writes[self._keys.name(kind, before)] = None
        stored = _with_meta(obj, self.predicted, old["CreatedAt"], _now())
        self._put(kind, stored, order[1])
        self._objects[(kind, obj["ID"])] = (stored, order)
        return self._out(stored)

    def delete(self, kind: str, id: str) -> Obj:
        check_kind(kind)
        self._require_writable()
        found = self._load(kind, id)
        if found is None:
            raise errors.NotFound(f"{kind} {id} not found")
        old = found[0]
        self.writes[self._keys.object(kind, id)] = None
        self.writes[self._keys.gen(kind)] = b""
        name = spec_name(old) if kind in NAMED_KINDS else None
        if name:
            self.writes[self._keys.name(kind, name)] = None
        self._objects[(kind, id)] = None
        return copy.deepcopy(old)

    def _put(self, kind: str, stored: Obj, seq: int) -> None:
        self.writes[self._keys.object(kind, stored["ID"])] = _encode(stored, seq)
        self.writes[self._keys.gen(kind)] = b""

    def _claim_prefix(self, cluster_id: str) -> None:
        """The first cluster object marks the prefix as this cluster's."""
        kv = self._kv(self._keys.cluster)
        if kv is not None and kv.value.decode() != cluster_id:
            raise StoreMismatch(
                f"the cluster store prefix {self._keys.prefix.decode()} holds the data of "
                f"another cluster ({kv.value.decode()}); use another prefix")
        self.writes[self._keys.cluster] = cluster_id.encode()

    def _check_write(self, kind: str, obj: Obj) -> None:
        check_write(kind, obj, self._writable)

    def _require_writable(self) -> None:
        require_writable(self._writable)


class EtcdStore(Store):
    """The ``Store`` on an etcd cluster, under ``config.prefix``.

    Nothing is read or written before the first call; that call checks the prefix
    (schema version, and the cluster ID when ``cluster_id`` is given) and fails with a
    clear error, writing nothing, when the prefix is not this cluster's."""

    def __init__(self, config: EtcdConfig, *, cluster_id: str | None = None,
                 fence: Fence | None = None, client: Client | None = None,
                 timeout: float = 5.0) -> None:
        self.config = config
        self.keys = _Keys(config.prefix)
        self._cluster_id = cluster_id
        self._fence = fence
        self._own_client = client is None
        self.client = client or Client(config, timeout=timeout)
        self._timeout = timeout
        self._ready: asyncio.Future[None] | None = None
        self._born = 0  # the revision that created the prefix: no event of ours is older
        self._closed = False
        self._watches: set[Any] = set()
        # One transaction of this manager at a time, as on SQLite: its own writers never
        # conflict with each other; retries are left for other managers' writes.
        self._writing = asyncio.Lock()

    def fenced(self, fence: Fence) -> EtcdStore:
        """The same store whose writes also require ``fence`` (the leader's reconcilers)."""
        store = EtcdStore(self.config, cluster_id=self._cluster_id, fence=fence,
                          client=self.client, timeout=self._timeout)
        store._writing = self._writing
        return store

    # -- calls ---------------------------------------------------------------------------

    async def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await an etcd call, its failures as minke's errors."""
        try:
            return await coro
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.OUT_OF_RANGE:  # a compacted snapshot revision
                raise _Retry() from exc
            if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
                raise errors.InvalidParameter(
                    f"cluster store {self.config.url}: etcd refused the request: "
                    f"{exc.details()} (for large transactions start etcd with a higher "
                    "--max-txn-ops and --max-request-bytes)") from exc
            raise unavailable(self.config, exc) from exc
        except etcd_errors.ClientError as exc:
            raise unavailable(self.config, exc) from exc

    async def _range(self, key: bytes, end: bytes | None, revision: int = 0,
                     serializable: bool = False) -> Any:
        self._check_open()
        request = rpc.RangeRequest(key=key, range_end=end or b"", revision=revision,
                                   serializable=serializable)
        await self.client.connect()
        for attempt in range(len(self.config.endpoints)):
            try:
                return await self.call(self.client.kvstub.Range(
                    request, timeout=self._timeout, metadata=None if serializable else LEADER))
            except errors.Unavailable as exc:
                # The member we talked to went away: a read is safe to send again, and
                # the channel reconnects to the next endpoint. (A Txn is not: whether it
                # was applied is unknown, and the caller decides.)
                cause = exc.__cause__
                if not (isinstance(cause, grpc.aio.AioRpcError)
                        and cause.code() == grpc.StatusCode.UNAVAILABLE) \
                        or attempt == len(self.config.endpoints) - 1:
                    raise
                await asyncio.sleep(0.1)
        raise AssertionError("unreachable")

    async def txn(self, compare: list[Any], success: list[Any],
                  failure: list[Any] | None = None) -> Any:
        self._check_open()
        await self.client.connect()
        request = rpc.TxnRequest(compare=compare, success=success, failure=failure or [])
        return await self.call(self.client.kvstub.Txn(request, timeout=self._timeout,
                                                      metadata=LEADER))

    def _check_open(self) -> None:
        # A closed store must not reconnect (aetcd's calls would open a new channel).
        if self._closed:
            raise errors.Unavailable("the cluster store is closed")

    # -- start-up checks -----------------------------------------------------------------

    async def ready(self) -> None:
        """Check the prefix once (see the class docstring)."""
        self._check_open()
        if self._ready is None:
            self._ready = asyncio.ensure_future(self._check_prefix())
        try:
            await asyncio.shield(self._ready)
        except BaseException:
            self._ready = None  # a later call tries again (etcd may come back)
            raise

    async def _check_prefix(self) -> None:
        """Both reads at one revision, the schema written only if still absent: managers
        starting together on an empty prefix all pass (one writes the schema)."""
        for _ in range(MAX_ATTEMPTS):
            meta = self.keys.prefix + b"meta/"
            response = await self._range(meta, prefix_end(meta))
            found = {kv.key: kv for kv in response.kvs}
            schema, cluster = found.get(self.keys.schema), found.get(self.keys.cluster)
            where = f"cluster store {self.config.url}"
            if schema is not None and schema.value.decode() != str(SCHEMA_VERSION):
                raise StoreMismatch(f"{where} holds data of schema version "
                                    f"{schema.value.decode()}; this minke reads version "
                                    f"{SCHEMA_VERSION}")
            if self._cluster_id and cluster and cluster.value.decode() != self._cluster_id:
                raise StoreMismatch(f"{where} holds the data of cluster "
                                    f"{cluster.value.decode()}, not of this node's cluster "
                                    f"{self._cluster_id}")
            if schema is not None:
                self._born = schema.create_revision
                return
            prefix = self.keys.prefix
            if (await self._range(prefix, prefix_end(prefix),
                                  revision=response.header.revision)).count:
                raise StoreMismatch(f"{where}: the prefix holds keys minke did not write "
                                    "(no schema version); use another prefix")
            created = rpc.Compare(key=self.keys.schema, target=rpc.Compare.CREATE,
                                  result=rpc.Compare.EQUAL, create_revision=0)
            put = rpc.RequestOp(request_put=rpc.PutRequest(
                key=self.keys.schema, value=str(SCHEMA_VERSION).encode()))
            written = await self.txn([created], [put])
            if written.succeeded:
                self._born = written.header.revision
                return
            # another manager wrote the schema meanwhile: check what it wrote
        raise errors.Unavailable(f"cluster store {self.config.url}: the prefix keeps changing")

    # -- the Store interface -------------------------------------------------------------

    async def _snapshot(self, serializable: bool = False) -> int:
        await self.ready()
        return int((await self._range(self.keys.schema, None,
                                      serializable=serializable)).header.revision)

    def _reader(self, serializable: bool = False) -> Reader:
        loop = asyncio.get_running_loop()

        def read(key: bytes, end: bytes | None, revision: int) -> tuple[list[Any], int]:
            future = asyncio.run_coroutine_threadsafe(
                self._range(key, end, revision, serializable), loop)
            response = future.result()
            return list(response.kvs), int(response.header.revision)
        return read

    async def view(self, fn: Callable[[ReadTx], T]) -> T:
        await self.ready()
        try:
            return await self._view(fn, serializable=False)
        except errors.Unavailable:
            # No quorum, or the member we reach is cut off: the last state that member
            # holds still answers reads (Docker's managers read their Raft copy alike);
            # writes fail with the 503.
            return await self._view(fn, serializable=True)

    async def _view(self, fn: Callable[[ReadTx], T], serializable: bool) -> T:
        for _ in range(MAX_ATTEMPTS):
            tx = _EtcdTx(self.keys, self._reader(serializable), writable=False)
            try:
                return await asyncio.to_thread(fn, tx)
            except _Retry:
                continue
        raise errors.Unavailable(f"cluster store {self.config.url}: no stable snapshot")

    async def update(self, fn: Callable[[Tx], T]) -> T:
        async with self._writing:
            return await self._update(fn)

    async def _update(self, fn: Callable[[Tx], T]) -> T:
        await self.ready()
        for attempt in range(MAX_ATTEMPTS):
            tx = _EtcdTx(self.keys, self._reader(), writable=True, check_creates=attempt > 0)
            try:
                result = await asyncio.to_thread(fn, tx)
                if await self._commit(tx):
                    return result
            except _Retry:
                pass
            # Someone wrote what we read: run again on a fresh snapshot, after a short,
            # growing, random pause so that contending managers do not collide again.
            await asyncio.sleep(random.uniform(0, min(0.2, 0.002 * 2 ** attempt)))
        raise errors.Unavailable(f"cluster store {self.config.url}: too many conflicting "
                                 "writes, try again")

    async def _commit(self, tx: _EtcdTx) -> bool:
        """Write ``tx``'s writes if nothing it read changed; False to run it again."""
        if not tx.writes:
            return True
        mod = rpc.Compare.MOD
        compare = [rpc.Compare(key=key, target=mod, result=rpc.Compare.EQUAL, mod_revision=rev)
                   for key, rev in tx.reads.items()]
        failure = []
        if self._fence is not None:
            compare.append(rpc.Compare(key=self._fence.key, target=rpc.Compare.CREATE,
                                       result=rpc.Compare.EQUAL,
                                       create_revision=self._fence.revision))
            failure.append(rpc.RequestOp(request_range=rpc.RangeRequest(key=self._fence.key)))
        success = [rpc.RequestOp(request_put=rpc.PutRequest(key=key, value=value))
                   if value is not None else
                   rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=key))
                   for key, value in tx.writes.items()]
        response = await self.txn(compare, success, failure)
        if response.succeeded:
            for version in tx.versions:
                version["Index"] = response.header.revision
            return True
        if self._fence is not None:
            kvs = response.responses[0].response_range.kvs
            if not kvs or kvs[0].create_revision != self._fence.revision:
                raise NotLeader()
        return False

    async def load(self, objects: dict[str, list[Obj]]) -> int:
        """Write another store's objects as they are (IDs, times, creation order kept;
        ``Version.Index`` becomes this store's revision) into this prefix, which must
        never have held a swarm object: one etcd transaction, so all or nothing. The
        revision of the write."""
        await self.ready()
        compare = [rpc.Compare(key=self.keys.gen(kind), target=rpc.Compare.CREATE,
                               result=rpc.Compare.EQUAL, create_revision=0)
                   for kind in KINDS]
        puts: dict[bytes, bytes] = {self.keys.gen(kind): b"" for kind in objects}
        for kind, objs in objects.items():
            check_kind(kind)
            for seq, obj in enumerate(objs, 1):
                puts[self.keys.object(kind, obj["ID"])] = _encode(obj, seq)
                name = spec_name(obj) if kind in NAMED_KINDS else None
                if name:
                    puts[self.keys.name(kind, name)] = obj["ID"].encode()
                if kind == "cluster":
                    puts[self.keys.cluster] = obj["ID"].encode()
        success = [rpc.RequestOp(request_put=rpc.PutRequest(key=k, value=v))
                   for k, v in puts.items()]
        response = await self.txn(compare, success)
        if not response.succeeded:
            raise StoreMismatch(f"cluster store {self.config.url} already holds swarm "
                                "objects; migrate into an empty prefix")
        return int(response.header.revision)

    async def erase_if_last_manager(self, node_id: str) -> bool:
        """The last manager leaves: the swarm's state goes, as Docker's last manager's
        Raft log does, so the prefix can hold a new swarm. Nothing happens (False) while
        another manager node exists, or if the nodes change meanwhile."""
        def managers(tx: ReadTx) -> tuple[list[str], int]:
            ids = [n["ID"] for n in tx.list("node")
                   if n.get("ManagerStatus") or (n.get("Spec") or {}).get("Role") == "manager"]
            return ids, tx.index
        ids, revision = await self.view(managers)
        if ids != [node_id]:
            return False
        unchanged = rpc.Compare(key=self.keys.gen("node"), target=rpc.Compare.MOD,
                                result=rpc.Compare.LESS, mod_revision=revision + 1)
        prefix = self.keys.prefix
        wipe = rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(
            key=prefix, range_end=prefix_end(prefix)))
        return bool((await self.txn([unchanged], [wipe])).succeeded)

    async def watch(self, kinds: Iterable[str], since: int | None = None
                    ) -> AsyncIterator[Event]:
        wanted = tuple(kinds)
        for kind in wanted:
            check_kind(kind)
        try:
            await self.ready()
            last = await self._snapshot() if since is None else since
        except errors.Unavailable:
            if self._closed:
                return  # closed while starting: the watch ends, as it would have
            raise
        last = max(last, self._born - 1)  # older revisions are other prefixes' history
        start = self.keys.kind(wanted[0]) if len(wanted) == 1 else self.keys.objects
        while not self._closed:
            try:
                stream = await self.client.watch(start, range_end=prefix_end(start),
                                                 start_revision=last + 1, prev_kv=True)
            except etcd_errors.RevisionCompactedError as exc:
                raise Compacted(last, exc.compacted_revision) from exc
            except etcd_errors.ClientError as exc:
                if self._closed:
                    return
                log.warning("%s; watching again", unavailable(self.config, exc))
                await asyncio.sleep(WATCH_RETRY)
                continue
            if self._closed:  # closed while the watch was being created
                with contextlib.suppress(Exception):
                    await stream.cancel()
                return
            self._watches.add(stream)
            try:
                async for change in stream:
                    kind, id = self.keys.parse(change.kv.key)
                    revision = change.kv.mod_revision
                    if kind in wanted:
                        yield self._event(kind, id, change)
                    last = revision
                # the stream ended: the store closed (the loop ends), or etcd ended it
            except etcd_errors.RevisionCompactedError as exc:
                raise Compacted(last, exc.compacted_revision) from exc
            except etcd_errors.ClientError as exc:
                # the member went away or lost its leader: on again from the last revision
                log.warning("%s; watching again from %d", unavailable(self.config, exc), last)
                await asyncio.sleep(WATCH_RETRY)
            finally:
                self._watches.discard(stream)
                if not self._closed:
                    with contextlib.suppress(Exception):
                        await stream.cancel()

    @staticmethod
    def _event(kind: str, id: str, change: Any) -> Event:
        prev = change.prev_kv  # an empty message when there was none (a creation)
        old = _decode(prev)[0] if prev is not None and prev.key else None
        revision = change.kv.mod_revision
        if change.kind == "DELETE":
            return Event(revision, kind, DELETE, id, old or {"ID": id}, old)
        obj = _decode(change.kv)[0]
        action = CREATE if change.kv.create_revision == revision else UPDATE
        return Event(revision, kind, action, id, obj, old if action == UPDATE else None)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for stream in list(self._watches):
            with contextlib.suppress(Exception):
                await stream.cancel()
        if self._own_client:
            with contextlib.suppress(Exception):
                await self.client.close()


class _Retry(Exception):
    """The snapshot's revision was compacted while a function read it: run it again."""


__all__ = ["EtcdStore", "Fence", "NotLeader", "StoreMismatch", "SCHEMA_VERSION"]
