"""The manager's control API for secrets and configs (SwarmKit's ``controlapi/secret.go``
and ``config.go``, with dockerd's lookups by ID, name or ID prefix): create, list, inspect,
update (labels only) and remove, with Docker's rules, words and status codes.

Both kinds carry a payload (``Spec.Data``). It never reaches the store in the clear: the
stored object keeps it sealed with the node's data key under ``SEALED`` (outside ``Spec``),
so the store file, its WAL and its event log hold ciphertext only, and with autolock
nothing can open it until the swarm is unlocked. The API shape is rebuilt from the stored
object: a secret's ``Spec`` never shows ``Data``; a config's does, as Docker's.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from typing import Any

from minke import errors
from minke.swarm.ca import DataKey
from minke.swarm.ids import new_id
from minke.swarm.manager.controlapi import Filters, out_of_sequence, rpc_error
from minke.swarm.store import NameConflict, Obj, ReadTx, Store, Tx

SECRET, CONFIG = "secret", "config"
SEALED = "SealedData"  # the payload, sealed with the data key; never shown by the API
# SwarmKit's MaxSecretSize and MaxConfigSize (Docker 20.10 accepts configs up to 1000 KiB).
MAX_PAYLOAD = {"secret": 500 * 1024, "config": 1000 * 1024}
MAX_NAME = 64
_NAME = re.compile(r"^[a-zA-Z0-9]+(?:[a-zA-Z0-9-_.]*[a-zA-Z0-9])?$")
INVALID_NAME = ("invalid name, only 64 [a-zA-Z0-9-_.] characters allowed, and the start and "
                "end character must be [a-zA-Z0-9]")
LIST_FILTERS = ("names", "name", "id", "label")
_B64 = re.compile(rb"[^A-Za-z0-9+/=]")


_JSON_TYPES = {bool: "bool", int: "number", float: "number", list: "array", dict: "object"}


def decode_data(value: Any, struct: str) -> bytes:
    """``Data`` as Go's JSON decoder reads a ``[]byte`` into ``struct``: standard base64
    (line breaks ignored); anything else is 400 with Go's text, naming the field."""
    if value is None:
        return b""
    if not isinstance(value, str):
        raise errors.InvalidParameter(
            f"json: cannot unmarshal {_JSON_TYPES.get(type(value), 'value')} into Go struct "
            f"field {struct}.Data of type []uint8")
    raw = value.replace("\r", "").replace("\n", "").encode()
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        bad = _B64.search(raw)
        at = bad.start() if bad else len(raw) - len(raw) % 4
        raise errors.InvalidParameter(f"illegal base64 data at input byte {at}") from None


def _labels(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise errors.InvalidParameter("invalid Labels: an object of strings is expected")
    return dict(value)


def _not_supported(kind: str, spec: Obj) -> None:
    """Refuse what minke cannot honour rather than store it and ignore it."""
    if kind == SECRET and spec.get("Driver") is not None:
        raise errors.NotSupported(
            "secret drivers are not supported by minke: omit Driver to keep the secret in "
            "the swarm's encrypted store")
    if spec.get("Templating") is not None:
        raise errors.NotSupported(
            f"{kind} templating is not supported by minke: omit Templating "
            "(--template-driver)")


class PayloadSpec:
    """A validated ``SecretSpec``/``ConfigSpec``: name, labels and the payload."""

    def __init__(self, name: str, labels: dict[str, str], data: bytes) -> None:
        self.name, self.labels, self.data = name, labels, data

    @classmethod
    def parse(cls, kind: str, spec: Any) -> PayloadSpec:
        """As dockerd decodes the body, then SwarmKit validates the spec (name, then
        size), with their messages."""
        if not isinstance(spec, dict):
            raise errors.InvalidParameter(f"invalid {kind} spec: a JSON object is expected")
        data = decode_data(spec.get("Data"), f"{kind.title()}Spec")
        labels = _labels(spec.get("Labels"))
        name = spec.get("Name")
        if name is not None and not isinstance(name, str):
            raise errors.InvalidParameter("invalid Name: a string is expected")
        _not_supported(kind, spec)
        if not name:
            raise rpc_error("InvalidArgument", "name must be provided")
        if len(name) > MAX_NAME or not _NAME.match(name):
            raise rpc_error("InvalidArgument", INVALID_NAME)
        if not 0 < len(data) < MAX_PAYLOAD[kind]:
            raise rpc_error("InvalidArgument", f"{kind} data must be larger than 0 and less "
                                               f"than {MAX_PAYLOAD[kind]} bytes")
        return cls(name, labels, data)


class PayloadAPI:
    """Secrets (``kind`` ``SECRET``) or configs (``CONFIG``) on ``store``; ``data_key``
    seals and opens their payloads."""

    def __init__(self, store: Store, data_key: DataKey, kind: str) -> None:
        if kind not in (SECRET, CONFIG):
            raise ValueError(kind)
        self.store, self.data_key, self.kind = store, data_key, kind

    # -- the API shape ----------------------------------------------------------------

    def doc(self, obj: Obj) -> Obj:
        """Docker's ``Secret``/``Config`` of a stored object (a secret without ``Data``)."""
        spec: Obj = {"Name": obj["Spec"]["Name"], "Labels": dict(obj["Spec"].get("Labels")
                                                                 or {})}
        if self.kind == CONFIG:
            spec["Data"] = base64.b64encode(self.data(obj)).decode()
        return {"ID": obj["ID"], "Version": obj["Version"], "CreatedAt": obj["CreatedAt"],
                "UpdatedAt": obj["UpdatedAt"], "Spec": spec}

    def data(self, obj: Obj) -> bytes:
        """The payload of a stored object, in the clear (for a task's files)."""
        return self.data_key.open(obj[SEALED])

    # -- operations -------------------------------------------------------------------

    async def create(self, body: Any) -> str:
        """``POST /<kind>s/create``: the new object's ID."""
        spec = PayloadSpec.parse(self.kind, body)
        obj: Obj = {"ID": new_id(), "Spec": {"Name": spec.name, "Labels": spec.labels},
                    SEALED: self.data_key.seal(spec.data)}

        def create(tx: Tx) -> str:
            try:
                return tx.create(self.kind, obj)["ID"]
            except NameConflict:
                raise rpc_error("AlreadyExists",
                                f"{self.kind} {spec.name} already exists") from None
        return await self.store.update(create)

    async def list(self, filters: Filters | None = None) -> list[Obj]:
        """``GET /<kind>s`` with dockerd's filters: ``names`` (exact), ``name`` and ``id``
        (prefixes) select when any matches, ``label`` (``k`` or ``k=v``) must all match."""
        match = payload_matcher(filters or {})
        found = await self.store.view(lambda tx: tx.list(self.kind))
        return [self.doc(o) for o in found if match(o)]

    async def get(self, ref: str) -> Obj:
        """``GET /<kind>s/{ref}``: by full ID, then name, then ID prefix."""
        return self.doc(await self.store.view(lambda tx: find_payload(tx, self.kind, ref)))

    async def update(self, ref: str, version: int, body: Any) -> None:
        """``POST /<kind>s/{ref}/update?version=``: only ``Labels`` may change; the name
        and data must be those stored (data may be omitted), as SwarmKit checks."""
        if not isinstance(body, dict):
            raise errors.InvalidParameter(f"invalid {self.kind} spec: a JSON object is "
                                          "expected")
        data = decode_data(body.get("Data"), f"{self.kind.title()}Spec")
        labels = _labels(body.get("Labels"))
        _not_supported(self.kind, body)

        def update(tx: Tx) -> None:
            obj = find_payload(tx, self.kind, ref)
            if body.get("Name") != obj["Spec"]["Name"] or (data and data != self.data(obj)):
                raise rpc_error("InvalidArgument", "only updates to Labels are allowed")
            if obj["Version"]["Index"] != version:
                raise out_of_sequence()
            obj["Spec"]["Labels"] = labels
            tx.update(self.kind, obj)
        await self.store.update(update)

    async def remove(self, ref: str) -> None:
        """``DELETE /<kind>s/{ref}``: refused while a service refers to it."""
        def remove(tx: Tx) -> None:
            obj = find_payload(tx, self.kind, ref)
            users = [s["Spec"].get("Name", s["ID"]) for s in referring_services(
                tx, self.kind, obj["ID"])]
            if users:
                noun = "service" if len(users) == 1 else "services"
                raise rpc_error("InvalidArgument",
                                f"{self.kind} '{obj['Spec']['Name']}' is in use by the "
                                f"following {noun}: {', '.join(users)}")
            tx.delete(self.kind, obj["ID"])
        await self.store.update(remove)


def references(service: Obj, kind: str) -> Iterable[Obj]:
    """The ``SecretReference``s or ``ConfigReference``s of a service's current spec."""
    container = ((service.get("Spec") or {}).get("TaskTemplate") or {}).get(
        "ContainerSpec") or {}
    return container.get("Secrets" if kind == SECRET else "Configs") or []


def referring_services(tx: ReadTx, kind: str, id: str) -> list[Obj]:
    """Services whose spec refers to the secret or config ``id`` (SwarmKit's
    ``ByReferencedSecretID``/``ByReferencedConfigID``)."""
    key = "SecretID" if kind == SECRET else "ConfigID"
    return [s for s in tx.list("service")
            if any(ref.get(key) == id for ref in references(s, kind))]


def find_payload(tx: ReadTx, kind: str, ref: str) -> Obj:
    """dockerd's ``getSecret``/``getConfig``: full ID, then name, then ID prefix; 404
    ``<kind> <ref> not found``, 400 when a prefix is ambiguous."""
    obj = tx.get(kind, ref) if ref else None
    if obj is not None:
        return obj
    matches = tx.find(kind, name=ref) if ref else []
    if not matches:
        matches = [o for o in tx.list(kind) if ref and o["ID"].startswith(ref)]
    if not matches:
        raise errors.NotFound(f"{kind} {ref} not found")
    if len(matches) > 1:
        raise errors.InvalidParameter(f"{kind} {ref} is ambiguous ({len(matches)} matches "
                                      "found)")
    return matches[0]


def payload_matcher(filters: Filters) -> Any:
    """A predicate for ``GET /secrets|configs?filters=`` (dockerd's accepted keys)."""
    for key in filters:
        if key not in LIST_FILTERS:
            raise errors.InvalidParameter(f"Invalid filter '{key}'")
    names = [n.lower() for n in filters.get("names", [])]
    prefixes = [n.lower() for n in filters.get("name", [])]
    ids = filters.get("id", [])
    labels = dict((v.split("=", 1) + [""])[:2] for v in filters.get("label", []))
    selective = bool(names or prefixes or ids)

    def match(obj: Obj) -> bool:
        name = obj["Spec"]["Name"].lower()
        if selective and not (name in names or any(name.startswith(p) for p in prefixes)
                              or any(obj["ID"].startswith(i) for i in ids)):
            return False
        have = obj["Spec"].get("Labels") or {}
        return all(k in have and (not v or have[k] == v) for k, v in labels.items())
    return match


async def task_payloads(store: Store, data_key: DataKey, container_spec: Obj
                        ) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """The payloads, in the clear and by ID, of the secrets and configs a task's
    ``ContainerSpec`` refers to: what the agent hands to ``taskfiles.plan``. A reference
    to an object that is gone is ``NotFound`` naming it (the task is then rejected)."""
    apis = {kind: PayloadAPI(store, data_key, kind) for kind in (SECRET, CONFIG)}
    service = {"Spec": {"TaskTemplate": {"ContainerSpec": container_spec}}}

    def read(tx: ReadTx) -> tuple[dict[str, bytes], dict[str, bytes]]:
        out: list[dict[str, bytes]] = []
        for kind in (SECRET, CONFIG):
            key = "SecretID" if kind == SECRET else "ConfigID"
            found: dict[str, bytes] = {}
            for ref in references(service, kind):
                obj = tx.get(kind, ref.get(key) or "")
                if obj is None:
                    raise errors.NotFound(f"{kind} {ref.get(key)} not found")
                found[obj["ID"]] = apis[kind].data(obj)
            out.append(found)
        return out[0], out[1]
    return await store.view(read)


def check_references(tx: ReadTx, container_spec: Obj) -> None:
    """The checks SwarmKit makes of a service spec's secret and config references when a
    service is created or updated (``validateSecretRefsSpec``, ``checkSecretExistence``
    and their config twins), with its messages: every reference has an ID, a name and a
    target, no two files share a target, and each names an existing object by its current
    name. Called in the service's write transaction, so a removal cannot slip in between."""
    for kind in (SECRET, CONFIG):
        id_key, name_key = ("SecretID", "SecretName") if kind == SECRET else \
            ("ConfigID", "ConfigName")
        targets: dict[str, str] = {}
        missing: list[str] = []
        for ref in references({"Spec": {"TaskTemplate": {"ContainerSpec": container_spec}}},
                              kind):
            if not isinstance(ref, dict) or not ref.get(id_key) or not ref.get(name_key):
                raise rpc_error("InvalidArgument", f"malformed {kind} reference")
            file = ref.get("File")
            if file is None and (kind == SECRET or ref.get("Runtime") is None):
                raise rpc_error("InvalidArgument",
                                f"malformed {kind} reference, no target provided")
            if file is not None:
                target = file.get("Name") if isinstance(file, dict) else None
                if not target:
                    raise rpc_error("InvalidArgument", f"malformed file {kind} reference, "
                                                       "invalid target file name provided")
                if target in targets:
                    raise rpc_error("InvalidArgument",
                                    f"{kind} references '{targets[target]}' and "
                                    f"'{ref[name_key]}' have a conflict on target '{target}'")
                targets[target] = ref[name_key]
            obj = tx.get(kind, ref[id_key])
            if obj is None or obj["Spec"]["Name"] != ref[name_key]:
                missing.append(ref[name_key])
        if missing:
            noun = kind if len(missing) == 1 else f"{kind}s"
            raise rpc_error("InvalidArgument", f"{noun} not found: {', '.join(missing)}")
