"""Property-based fuzzing of the API from Docker's own swagger: no request may get a 5xx.

Schemathesis generates requests (valid and invalid bodies, wrong JSON types, bytes that are
not UTF-8, NUL bytes in parameters) from ``../shared/reference/docker-api/v1.41.yaml`` and
sends them to a minked of its own over its unix socket. Only operations that cannot harm
the host or take long are fuzzed; the seed and budget are fixed so that a run is the same
every time and stays under a minute. Everything the fuzz created is removed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

import docker
import pytest
import requests
import schemathesis
from docker.transport import UnixHTTPAdapter
from schemathesis.config import SchemathesisConfig
from tests.conftest import SHARED, Daemon, private_daemon
from tests.support.busybox import write_rootfs_tar

pytestmark = pytest.mark.integration

SPEC = SHARED / "reference" / "docker-api" / "v1.41.yaml"
# Requests to this host go over the daemon's unix socket (the session's adapter).
HOST = "http://minked.invalid"
BASE_URL = f"{HOST}/v1.41"
# Containers the path of some operations names, so that they reach real code: exec needs
# a running one; archive reads a stopped one (a running one's /proc and /sys are its own).
RUNNING = "fuzz-running"
STOPPED = "fuzz-stopped"
IMAGE = "busybox:latest"

# (method, path) of every fuzzed operation. Left out on purpose: anything that runs, stops or
# deletes real things (start, kill, prune, exec start), streams or waits (attach, wait, logs,
# events, stats), reaches the network (pull, push, auth) or takes long (build, load, export).
OPERATIONS = {
    ("GET", "/containers/json"),
    ("POST", "/containers/create"),
    ("GET", "/containers/{id}/json"),
    ("GET", "/containers/{id}/changes"),
    ("POST", "/containers/{id}/rename"),
    ("POST", "/containers/{id}/resize"),
    ("GET", "/containers/{id}/archive"),
    ("HEAD", "/containers/{id}/archive"),
    ("POST", "/containers/{id}/update"),
    ("POST", "/containers/{id}/exec"),
    ("GET", "/exec/{id}/json"),
    ("POST", "/exec/{id}/resize"),
    ("POST", "/commit"),
    ("GET", "/images/json"),
    ("GET", "/images/{name}/json"),
    ("GET", "/images/{name}/history"),
    ("POST", "/images/{name}/tag"),
    ("GET", "/info"),
    ("GET", "/version"),
    ("GET", "/networks"),
    ("GET", "/networks/{id}"),
    ("POST", "/networks/create"),
    ("POST", "/networks/{id}/connect"),
    ("POST", "/networks/{id}/disconnect"),
    ("GET", "/volumes"),
    ("GET", "/volumes/{name}"),
    ("POST", "/volumes/create"),
}
ON_CONTAINER = {("GET", "/containers/{id}/archive"): STOPPED,
                ("HEAD", "/containers/{id}/archive"): STOPPED,
                ("POST", "/containers/{id}/exec"): RUNNING}

# What a successful create made, and where to delete it.
CREATES = {("POST", "/containers/create"): "/containers", ("POST", "/networks/create"): "/networks",
           ("POST", "/volumes/create"): "/volumes"}
# Subnets a fuzzed network may have: a generated subnet outside them could take over
# host routes (0.0.0.0/1) while the network exists.
SAFE_V4 = ipaddress.ip_network("198.18.0.0/15")  # RFC 2544 benchmarking range
SAFE_V6 = ipaddress.ip_network("fd6d:696e:6b65::/48")
# Network options that name host interfaces: never fuzzed.
HOST_OPTIONS = ("com.docker.network.bridge.name",)

# About 4,000 requests. The coverage phase sends, field by field, each wrong JSON type and
# boundary value (negative cases only: its positive ones double the time and find nothing
# the fuzzing phase's do not); the fuzzing phase sends 25 valid and invalid requests per
# operation. No database, a fixed seed: the same requests on every run.
CONFIG = SchemathesisConfig.from_dict({
    "seed": 20261202,
    "generation": {
        "mode": "all", "max-examples": 25, "deterministic": True, "database": "none",
        "allow-x00": True, "no-shrink": True,
    },
    "phases": {
        "examples": {"enabled": False},
        "coverage": {"enabled": True, "generation": {"mode": "negative"}},
        "fuzzing": {"enabled": True}, "stateful": {"enabled": False},
    },
})

schema = schemathesis.openapi.from_path(SPEC, config=CONFIG).include(
    lambda ctx: (ctx.operation.method.upper(), ctx.operation.path) in OPERATIONS)


@pytest.fixture(scope="module")
def fuzz_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """A minked of its own with busybox and the two named containers; afterwards every
    container, network and volume the fuzz made is gone with its root."""
    with private_daemon("mk-fuzz-") as daemon:
        client = docker.APIClient(base_url=daemon.host, version="1.41", timeout=60)
        tar = write_rootfs_tar(tmp_path_factory.mktemp("fuzz") / "rootfs.tar")
        client.import_image_from_data(tar.read_bytes(), repository="busybox", tag="latest",
                                      changes=['CMD ["sh"]'])
        client.create_container(IMAGE, ["sleep", "600"], name=RUNNING)
        client.start(RUNNING)
        client.create_container(IMAGE, ["true"], name=STOPPED)
        try:
            yield daemon
        finally:
            _remove_everything(client)
            client.close()


def _remove_everything(client: docker.APIClient) -> None:
    for c in client.containers(all=True):
        client.remove_container(c["Id"], force=True)
    for n in client.networks():
        if n["Name"] not in ("bridge", "host", "none"):
            client.remove_network(n["Id"])
    for v in client.volumes()["Volumes"] or []:
        client.remove_volume(v["Name"], force=True)


@pytest.fixture(scope="module")
def session(fuzz_daemon: Daemon) -> Iterator[requests.Session]:
    s = requests.Session()
    s.mount(HOST + "/", UnixHTTPAdapter(f"http+unix://{fuzz_daemon.socket}", timeout=30))
    yield s
    s.close()


def _safe_network_body(body: Any) -> None:
    """Keep a generated network off the host's interfaces and routes (in place)."""
    if not isinstance(body, dict):
        return
    if isinstance(body.get("Options"), dict):
        for key in HOST_OPTIONS:
            body["Options"].pop(key, None)
    ipam = body.get("IPAM")
    configs = ipam.get("Config") if isinstance(ipam, dict) else None
    for entry in configs if isinstance(configs, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("Subnet"), str):
            continue
        try:
            subnet = ipaddress.ip_network(entry["Subnet"], strict=False)
        except ValueError:
            continue  # refused by minke: what is being fuzzed
        safe = SAFE_V4 if subnet.version == 4 else SAFE_V6
        if not subnet.subnet_of(safe):  # type: ignore[arg-type]
            entry["Subnet"] = str(safe)


@schema.parametrize()
def test_no_server_errors(case: schemathesis.Case, session: requests.Session) -> None:
    key = (case.operation.method.upper(), case.operation.path)
    if key in ON_CONTAINER:
        case.path_parameters["id"] = ON_CONTAINER[key]
    if key == ("POST", "/containers/create") and isinstance(case.body, dict) \
            and isinstance(case.body.get("Image", ""), str):
        case.body["Image"] = IMAGE  # so that valid bodies reach the whole create path
    if key == ("POST", "/networks/create"):
        _safe_network_body(case.body)
    response = case.call(base_url=BASE_URL, session=session)
    assert response.status_code < 500, (
        f"{response.status_code} {response.text[:500]}\n{case.as_curl_command()}")
    if response.status_code == 201 and key in CREATES:
        # Removed at once: the next case may reuse the name, and the daemon stays small.
        made = response.json().get("Id") or response.json().get("Name")
        gone = session.delete(f"{BASE_URL}{CREATES[key]}/{made}", params={"force": "1"})
        assert gone.status_code == 204, gone.text
