"""Secrets and configs on the real SQLite store and cluster: Docker's shapes, rules and
errors (each leaving the store unchanged), references from services blocking removal,
events, the payload sealed at rest (and unreadable while autolocked), and the files a task
container gets (``taskfiles.plan``)."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import pytest

from minke import errors
from minke.engine.events import EventBus
from minke.swarm import taskfiles
from minke.swarm.ca import DataKey
from minke.swarm.cluster import LOCKED, SwarmCluster
from minke.swarm.manager.secrets import (
    CONFIG,
    INVALID_NAME,
    SEALED,
    SECRET,
    PayloadAPI,
    check_references,
    task_payloads,
)
from minke.swarm.store import SQLiteStore, Tx

PLAIN = b"correct horse battery staple 7f3a9"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
def store(tmp_path: Path) -> SQLiteStore:
    return SQLiteStore(tmp_path / "store.db")


def api(store: SQLiteStore, kind: str = SECRET, key: DataKey | None = None) -> PayloadAPI:
    return PayloadAPI(store, key or DataKey.generate(), kind)


async def index(store: SQLiteStore) -> int:
    return await store.view(lambda tx: tx.index)


@pytest.mark.parametrize("kind", [SECRET, CONFIG])
async def test_create_inspect_list_in_docker_shape(store: SQLiteStore, kind: str) -> None:
    objects = api(store, kind)
    sid = await objects.create({"Name": "db-pass", "Labels": {"env": "prod"},
                                "Data": b64(PLAIN)})
    doc = await objects.get(sid)
    assert list(doc) == ["ID", "Version", "CreatedAt", "UpdatedAt", "Spec"]
    expected_spec: dict[str, Any] = {"Name": "db-pass", "Labels": {"env": "prod"}}
    if kind == CONFIG:  # Docker shows a config's data, never a secret's
        expected_spec["Data"] = b64(PLAIN)
    assert doc["Spec"] == expected_spec
    assert await objects.get("db-pass") == doc  # by name
    assert await objects.get(sid[:6]) == doc  # by ID prefix
    assert await objects.list() == [doc]
    with pytest.raises(errors.NotFound, match=f"^{kind} nope not found$"):
        await objects.get("nope")


async def test_list_filters_as_dockerd(store: SQLiteStore) -> None:
    secrets = api(store)
    a = await secrets.create({"Name": "alpha", "Labels": {"tier": "db"}, "Data": b64(b"a")})
    b = await secrets.create({"Name": "alphabet", "Data": b64(b"b")})
    c = await secrets.create({"Name": "beta", "Labels": {"tier": "web"}, "Data": b64(b"c")})

    async def ids(filters: dict[str, list[str]]) -> set[str]:
        return {s["ID"] for s in await secrets.list(filters)}
    assert await ids({"names": ["alpha"]}) == {a}
    assert await ids({"name": ["alpha"]}) == {a, b}
    assert await ids({"id": [c[:8]], "names": ["alpha"]}) == {a, c}  # any of them
    assert await ids({"label": ["tier"]}) == {a, c}
    assert await ids({"label": ["tier=web"]}) == {c}
    assert await ids({"name": ["alpha"], "label": ["tier=db"]}) == {a}  # labels too
    with pytest.raises(errors.InvalidParameter, match="Invalid filter 'driver'"):
        await secrets.list({"driver": ["x"]})


@pytest.mark.parametrize(("body", "error", "message"), [
    ({"Data": b64(b"x")}, errors.InvalidParameter,
     "rpc error: code = InvalidArgument desc = name must be provided"),
    ({"Name": "-bad", "Data": b64(b"x")}, errors.InvalidParameter, INVALID_NAME),
    ({"Name": "bad-", "Data": b64(b"x")}, errors.InvalidParameter, INVALID_NAME),
    ({"Name": "a b", "Data": b64(b"x")}, errors.InvalidParameter, INVALID_NAME),
    ({"Name": "a" * 65, "Data": b64(b"x")}, errors.InvalidParameter, INVALID_NAME),
    ({"Name": "ok"}, errors.InvalidParameter,
     "secret data must be larger than 0 and less than 512000 bytes"),
    ({"Name": "ok", "Data": b64(b"x" * 512000)}, errors.InvalidParameter,
     "secret data must be larger than 0 and less than 512000 bytes"),
    ({"Name": "ok", "Data": "not base64!"}, errors.InvalidParameter,
     "illegal base64 data at input byte 3"),
    ({"Name": "ok", "Data": 12}, errors.InvalidParameter,
     "json: cannot unmarshal number into Go struct field SecretSpec.Data of type []uint8"),
    ({"Name": "ok", "Labels": ["x"], "Data": b64(b"x")}, errors.InvalidParameter, "Labels"),
    ({"Name": "ok", "Data": b64(b"x"), "Driver": {"Name": "vault"}}, errors.NotSupported,
     "secret drivers are not supported"),
    ({"Name": "ok", "Data": b64(b"x"), "Templating": {"Name": "golang"}},
     errors.NotSupported, "templating is not supported"),
])
async def test_bad_specs_are_refused_and_store_nothing(
        store: SQLiteStore, body: dict[str, Any], error: type[Exception], message: str) -> None:
    before = await index(store)
    with pytest.raises(error) as refused:
        await api(store).create(body)
    assert message in str(refused.value)
    assert await index(store) == before


async def test_largest_payloads_and_names_docker_accepts(store: SQLiteStore) -> None:
    secrets, configs = api(store), api(store, CONFIG)
    for name in ("a", "A.b_c-9", "x" * 64):
        await secrets.create({"Name": name, "Data": b64(b"y" * 511999)})
    assert len(await secrets.list()) == 3
    await secrets.create({"Name": "blank", "Data": b64(b"  ")})  # Docker takes white space
    # Docker 20.10 takes configs up to 1000 KiB, twice a secret's limit.
    await configs.create({"Name": "big", "Data": b64(b"z" * 1023999)})
    before = await index(store)
    with pytest.raises(errors.InvalidParameter) as refused:
        await configs.create({"Name": "bigger", "Data": b64(b"z" * 1024000)})
    assert str(refused.value) == ("rpc error: code = InvalidArgument desc = config data must "
                                  "be larger than 0 and less than 1024000 bytes")
    assert await index(store) == before


async def test_duplicate_name_is_409_as_docker(store: SQLiteStore) -> None:
    secrets = api(store)
    await secrets.create({"Name": "dup", "Data": b64(b"1")})
    before = await index(store)
    with pytest.raises(errors.Conflict) as refused:
        await secrets.create({"Name": "DUP", "Data": b64(b"2")})
    assert str(refused.value) == "rpc error: code = AlreadyExists desc = secret DUP already exists"
    assert await index(store) == before
    # A config may share a secret's name: they are different kinds.
    await api(store, CONFIG).create({"Name": "dup", "Data": b64(b"3")})


async def test_update_changes_labels_only(store: SQLiteStore) -> None:
    key = DataKey.generate()
    secrets = api(store, key=key)
    sid = await secrets.create({"Name": "s", "Labels": {"a": "1"}, "Data": b64(PLAIN)})
    doc = await secrets.get(sid)
    version = doc["Version"]["Index"]
    for spec in ({"Name": "s", "Labels": {}, "Data": b64(b"other")},
                 {"Name": "renamed", "Labels": {}}):
        with pytest.raises(errors.InvalidParameter, match="only updates to Labels are allowed"):
            await secrets.update(sid, version, spec)
    with pytest.raises(errors.InternalError, match="update out of sequence"):
        await secrets.update(sid, version - 1, {"Name": "s", "Labels": {"b": "2"}})
    assert await secrets.get(sid) == doc  # nothing changed by the refusals
    # The same data may be sent back (the docker CLI sends what it read).
    await secrets.update("s", version, {"Name": "s", "Labels": {"b": "2"}, "Data": b64(PLAIN)})
    updated = await secrets.get(sid)
    assert updated["Spec"]["Labels"] == {"b": "2"}
    assert updated["Version"]["Index"] > version
    assert updated["CreatedAt"] == doc["CreatedAt"]
    payloads, _ = await task_payloads(store, key, {"Secrets": [{"SecretID": sid}]})
    assert payloads == {sid: PLAIN}


async def add_service(store: SQLiteStore, name: str, secrets: list[str],
                      configs: list[str]) -> None:
    service = {"ID": f"svc{name}", "Spec": {"Name": name, "TaskTemplate": {"ContainerSpec": {
        "Image": "busybox",
        "Secrets": [{"SecretID": s, "SecretName": s, "File": {"Name": s}} for s in secrets],
        "Configs": [{"ConfigID": c, "ConfigName": c, "File": {"Name": c}} for c in configs],
    }}}}

    def create(tx: Tx) -> None:
        tx.create("service", service)
    await store.update(create)


@pytest.mark.parametrize("kind", [SECRET, CONFIG])
async def test_remove_refused_while_a_service_refers_to_it(store: SQLiteStore,
                                                           kind: str) -> None:
    objects = api(store, kind)
    used = await objects.create({"Name": "used", "Data": b64(b"x")})
    free = await objects.create({"Name": "free", "Data": b64(b"y")})
    refs = ([used], []) if kind == SECRET else ([], [used])
    await add_service(store, "web", *refs)
    before = await index(store)
    with pytest.raises(errors.InvalidParameter) as refused:
        await objects.remove("used")
    assert str(refused.value) == (f"rpc error: code = InvalidArgument desc = {kind} 'used' is "
                                  "in use by the following service: web")
    await add_service(store, "api", *refs)
    with pytest.raises(errors.InvalidParameter, match="following services: web, api"):
        await objects.remove(used)
    assert await index(store) == before + 1  # only the second service was written
    await objects.remove(free[:5])
    assert [o["ID"] for o in await objects.list()] == [used]
    with pytest.raises(errors.NotFound, match=f"{kind} free not found"):
        await objects.remove("free")


async def test_events_as_dockerd(tmp_path: Path) -> None:
    bus = EventBus()
    cluster = SwarmCluster(tmp_path / "swarm", agent=FixedAgent(), publish=bus.publish)
    await cluster.start()
    await cluster.init({"ListenAddr": "127.0.0.1:2377", "AdvertiseAddr": ""})
    stream = bus.stream(filters={"type": ["secret", "config"]})
    first = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0)
    control = cluster.manager()
    secrets = PayloadAPI(control.store, control.data_key, SECRET)
    configs = PayloadAPI(control.store, control.data_key, CONFIG)
    sid = await secrets.create({"Name": "s1", "Data": b64(b"x")})
    version = (await secrets.get(sid))["Version"]["Index"]
    await secrets.update(sid, version, {"Name": "s1", "Labels": {"k": "v"}})
    await secrets.remove(sid)
    cid = await configs.create({"Name": "c1", "Data": b64(b"x")})
    seen = [await asyncio.wait_for(first, 5)]
    seen += [await asyncio.wait_for(anext(stream), 5) for _ in range(3)]
    assert [(e["Type"], e["Action"], e["Actor"]["ID"], e["Actor"]["Attributes"], e["scope"])
            for e in seen] == [
        ("secret", "create", sid, {"name": "s1"}, "swarm"),
        ("secret", "update", sid, {"name": "s1"}, "swarm"),
        ("secret", "remove", sid, {"name": "s1"}, "swarm"),
        ("config", "create", cid, {"name": "c1"}, "swarm")]
    await stream.aclose()
    await cluster.close()


class FixedAgent:
    async def describe(self) -> dict[str, Any]:
        return {"Hostname": "node-a", "Platform": {"Architecture": "x86_64", "OS": "linux"},
                "Resources": {"NanoCPUs": 1_000_000_000, "MemoryBytes": 1 << 30},
                "Engine": {"EngineVersion": "20.10.24", "Plugins": []}}

    async def remove_task_containers(self, node_id: str) -> None:
        pass


async def test_payloads_are_sealed_at_rest_and_locked_with_the_swarm(tmp_path: Path) -> None:
    root = tmp_path / "swarm"
    cluster = SwarmCluster(root, agent=FixedAgent(), publish=EventBus().publish)
    await cluster.start()
    await cluster.init({"ListenAddr": "127.0.0.1:2377", "AdvertiseAddr": "",
                        "AutoLockManagers": True})
    unlock_key = await cluster.unlock_key()
    control = cluster.manager()
    secrets = PayloadAPI(control.store, control.data_key, SECRET)
    configs = PayloadAPI(control.store, control.data_key, CONFIG)
    sid = await secrets.create({"Name": "s", "Data": b64(PLAIN)})
    cid = await configs.create({"Name": "c", "Data": b64(PLAIN[::-1])})
    version = (await secrets.get(sid))["Version"]["Index"]
    await secrets.update(sid, version, {"Name": "s", "Labels": {"x": "y"}, "Data": b64(PLAIN)})
    await cluster.close()
    on_disk = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert b'"Name": "s"' in on_disk or b'"Name":"s"' in on_disk  # the store was written
    for plain in (PLAIN, PLAIN[::-1], b64(PLAIN).encode(), b64(PLAIN[::-1]).encode()):
        assert plain not in on_disk

    cluster = SwarmCluster(root, agent=FixedAgent(), publish=EventBus().publish)
    await cluster.start()
    assert cluster.status == LOCKED
    with pytest.raises(errors.Unavailable, match="Swarm is encrypted"):
        cluster.manager()
    await cluster.unlock(unlock_key)
    control = cluster.manager()
    secrets = PayloadAPI(control.store, control.data_key, SECRET)
    configs = PayloadAPI(control.store, control.data_key, CONFIG)
    assert (await secrets.get("s"))["Spec"] == {"Name": "s", "Labels": {"x": "y"}}
    assert (await configs.get("c"))["Spec"]["Data"] == b64(PLAIN[::-1])
    stored = await control.store.view(lambda tx: tx.get(SECRET, sid))
    assert SEALED in stored and "Data" not in stored["Spec"]
    assert await task_payloads(control.store, control.data_key, {
        "Secrets": [{"SecretID": sid}], "Configs": [{"ConfigID": cid}]}) == (
        {sid: PLAIN}, {cid: PLAIN[::-1]})
    await cluster.close()


def test_task_files_plan_targets_owners_and_modes() -> None:
    spec = {
        "Secrets": [
            {"SecretID": "s1", "SecretName": "db", "File": {
                "Name": "db", "UID": "1000", "GID": "1001", "Mode": 0o400}},
            {"SecretID": "s1", "SecretName": "db", "File": {
                "Name": "/etc/app/db.key", "UID": "0", "GID": "0", "Mode": 0o444}},
        ],
        "Configs": [
            {"ConfigID": "c1", "ConfigName": "nginx", "File": {
                "Name": "/etc/nginx/nginx.conf", "UID": "", "GID": "", "Mode": 0o440}},
            {"ConfigID": "c1", "ConfigName": "nginx", "File": {"Name": "nginx"}},
            {"ConfigID": "c2", "ConfigName": "credspec", "Runtime": {}},  # no file
        ],
    }
    files = taskfiles.plan(spec, {"s1": b"S"}, {"c1": b"C", "c2": b"R"})
    assert [(f.target, f.data, f.uid, f.gid, f.mode) for f in files] == [
        ("/run/secrets/db", b"S", 1000, 1001, 0o400),
        ("/etc/app/db.key", b"S", 0, 0, 0o444),
        ("/etc/nginx/nginx.conf", b"C", 0, 0, 0o440),
        ("/nginx", b"C", 0, 0, 0o444)]
    assert len({f.host_name for f in files}) == 4
    mounts = taskfiles.mounts(Path("/run/minke/t1"), files)
    assert mounts[0] == {"Type": "bind", "Source": f"/run/minke/t1/{files[0].host_name}",
                         "Target": "/run/secrets/db", "ReadOnly": True}
    with pytest.raises(errors.NotFound, match="secret db not found"):
        taskfiles.plan(spec, {}, {"c1": b"C"})
    twice = {"Secrets": [spec["Secrets"][0], spec["Secrets"][0]]}
    with pytest.raises(errors.InvalidParameter, match="/run/secrets/db is used more than once"):
        taskfiles.plan(twice, {"s1": b"S"}, {})
    with pytest.raises(errors.InvalidParameter, match="invalid UID"):
        taskfiles.plan({"Secrets": [{"SecretID": "s1", "File": {"Name": "x", "UID": "root"}}]},
                       {"s1": b"S"}, {})


async def test_service_references_checked_as_swarmkit(store: SQLiteStore) -> None:
    sid = await api(store).create({"Name": "db", "Data": b64(b"x")})
    cid = await api(store, CONFIG).create({"Name": "app", "Data": b64(b"y")})

    def ref(name: str, target: str | None = "t", id: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"SecretID": id or sid, "SecretName": name}
        if target is not None:
            out["File"] = {"Name": target, "UID": "0", "GID": "0", "Mode": 0o444}
        return out

    async def refused(spec: dict[str, Any]) -> str:
        with pytest.raises(errors.InvalidParameter) as exc:
            await store.view(lambda tx: check_references(tx, spec))
        return str(exc.value).removeprefix("rpc error: code = InvalidArgument desc = ")

    good = {"Secrets": [ref("db", "db")], "Configs": [
        {"ConfigID": cid, "ConfigName": "app", "File": {"Name": "/app"}},
        {"ConfigID": cid, "ConfigName": "app", "Runtime": {}}]}
    await store.view(lambda tx: check_references(tx, good))
    assert await refused({"Secrets": [{"SecretID": sid}]}) == "malformed secret reference"
    assert await refused({"Secrets": [ref("db", None)]}) == \
        "malformed secret reference, no target provided"
    assert await refused({"Secrets": [ref("db", "")]}) == \
        "malformed file secret reference, invalid target file name provided"
    assert await refused({"Secrets": [ref("db", "x"), ref("db", "x")]}) == \
        "secret references 'db' and 'db' have a conflict on target 'x'"
    assert await refused({"Secrets": [ref("gone", "a", id="nope"), ref("db", "b")]}) == \
        "secret not found: gone"
    assert await refused({"Secrets": [ref("renamed", "a"), ref("x", "b", id="y")]}) == \
        "secrets not found: renamed, x"
    assert await refused({"Configs": [{"ConfigID": "zz", "ConfigName": "zz",
                                       "File": {"Name": "/z"}}]}) == "config not found: zz"
