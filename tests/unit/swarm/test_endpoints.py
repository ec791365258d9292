"""Services' endpoints on a real SQLite store: network targets resolved to IDs, one VIP per
service and network (none in dnsrr mode, kept across updates), ingress ports checked
against other services' with the store left as it was on a refusal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from minke import errors
from minke.swarm.manager.services import ServiceControl
from minke.swarm.store import Obj, SQLiteStore, Tx


def network(net_id: str, name: str, subnet: str, *, ingress: bool = False) -> Obj:
    gateway = subnet.rsplit(".", 1)[0] + ".1"
    configs = [{"Subnet": subnet + "/24" if "/" not in subnet else subnet,
                "Gateway": gateway}]
    return {"ID": net_id, "Spec": {"Name": name, "Ingress": ingress},
            "IPAM": {"Configs": configs}}


async def setup(tmp_path: Path) -> SQLiteStore:
    store = SQLiteStore(tmp_path / "store.db")

    def seed(tx: Tx) -> None:
        tx.create("network", network("ingressid", "ingress", "10.0.0.0", ingress=True))
        tx.create("network", network("frontid", "front", "10.5.0.0"))
    await store.update(seed)
    return store


def spec(name: str, **extra: Any) -> Obj:
    return {"Name": name, "TaskTemplate": {"ContainerSpec": {"Image": "busybox"}}, **extra}


async def test_networks_resolved_and_vips_allocated(tmp_path: Path) -> None:
    store = await setup(tmp_path)
    control = ServiceControl(store)
    a = await control.create(spec("a", TaskTemplate={
        "ContainerSpec": {"Image": "busybox"}, "Networks": [{"Target": "front"}]}))
    b = await control.create(spec("b", Networks=[{"Target": "frontid"}]))
    assert a["Spec"]["TaskTemplate"]["Networks"] == [{"Target": "frontid"}]
    assert a["Endpoint"]["VirtualIPs"] == [{"NetworkID": "frontid", "Addr": "10.5.0.254/24"}]
    assert b["Endpoint"]["VirtualIPs"] == [{"NetworkID": "frontid", "Addr": "10.5.0.253/24"}]
    rr = await control.create(spec("rr", Networks=[{"Target": "front"}],
                                   EndpointSpec={"Mode": "dnsrr"}))
    assert "VirtualIPs" not in rr["Endpoint"]
    # an update keeps the VIP and adds the ingress network's with a published port
    updated = await control.update(a["ID"], a["Version"]["Index"], spec(
        "a", TaskTemplate={"ContainerSpec": {"Image": "busybox", "Env": ["X=1"]},
                           "Networks": [{"Target": "front"}]},
        EndpointSpec={"Ports": [{"TargetPort": 80, "PublishedPort": 8080}]}))
    assert {v["NetworkID"]: v["Addr"] for v in updated["Endpoint"]["VirtualIPs"]} == {
        "frontid": "10.5.0.254/24", "ingressid": "10.0.0.254/24"}
    assert updated["Endpoint"]["Ports"] == [{"Protocol": "tcp", "TargetPort": 80,
                                             "PublishedPort": 8080, "PublishMode": "ingress"}]
    await store.close()


@pytest.mark.parametrize(("extra", "error", "words"), [
    ({"Networks": [{"Target": "nope"}]}, errors.NotFound, "network nope not found"),
    ({"Networks": [{"Target": "ingress"}]}, errors.MinkeError,
     "cannot be explicitly attached to the ingress network"),
    ({"EndpointSpec": {"Mode": "bogus"}}, errors.MinkeError, "invalid resolution mode"),
    ({"EndpointSpec": {"Ports": [{"PublishedPort": 80}]}}, errors.MinkeError,
     "TargetPort must be specified"),
    ({"EndpointSpec": {"Ports": [{"TargetPort": 80, "PublishedPort": 8080}]}},
     errors.MinkeError, "port '8080' is already in use by service 'web'"),
    ({"EndpointSpec": {"Mode": "dnsrr", "Ports": [{"TargetPort": 80}]}}, errors.MinkeError,
     "can't be used with dnsrr mode"),
])
async def test_refused_specs_store_nothing(tmp_path: Path, extra: Obj,
                                           error: type[Exception], words: str) -> None:
    store = await setup(tmp_path)
    control = ServiceControl(store)
    await control.create(spec("web", EndpointSpec={
        "Ports": [{"TargetPort": 80, "PublishedPort": 8080}]}))
    index = await store.view(lambda tx: tx.index)
    with pytest.raises(error, match=words):
        await control.create(spec("other", **extra))
    assert await store.view(lambda tx: tx.index) == index
    await store.close()


async def test_dynamic_ingress_port_and_kept_on_update(tmp_path: Path) -> None:
    store = await setup(tmp_path)
    control = ServiceControl(store)
    web = await control.create(spec("web", EndpointSpec={"Ports": [{"TargetPort": 80}]}))
    port = web["Endpoint"]["Ports"][0]["PublishedPort"]
    assert 30000 <= port < 32768
    again = await control.update(web["ID"], web["Version"]["Index"], spec(
        "web", EndpointSpec={"Ports": [{"TargetPort": 80}]},
        TaskTemplate={"ContainerSpec": {"Image": "busybox", "Env": ["A=1"]}}))
    assert again["Endpoint"]["Ports"][0]["PublishedPort"] == port
    await store.close()
