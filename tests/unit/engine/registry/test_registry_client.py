"""Unit tests of the registry package: challenges, credentials (file and helper), the
X-Registry-Auth header, endpoints, manifests and platform choice, parallel gzip, and the
client's refusals against a small real HTTP server on loopback."""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import os
import random
import stat
from pathlib import Path

import pytest
from aiohttp import web

from minke.credentials import (
    INDEX_SERVER,
    CredentialStore,
    decode_auth_header,
    encode_auth_header,
    server_key,
)
from minke.engine.images.registry.auth import Authorizer, parse_challenges, registry_message
from minke.engine.images.registry.client import RepositoryClient
from minke.engine.images.registry.compress import gzip_stream
from minke.engine.images.registry.endpoint import RegistryConfig
from minke.engine.images.registry.manifest import (
    MAX_MANIFEST,
    Platform,
    choose,
    parse_manifest,
    parse_platform,
)
from minke.errors import InvalidParameter, NotFound, NotSupported, Unauthorized

DIGEST = "sha256:" + "a" * 64


def test_parse_challenges() -> None:
    [bearer] = parse_challenges(
        'Bearer realm="https://auth.example/token",service="registry",scope="repository:a/b:pull"')
    assert bearer.scheme == "bearer"
    assert bearer.params == {"realm": "https://auth.example/token", "service": "registry",
                             "scope": "repository:a/b:pull"}
    [basic] = parse_challenges('Basic realm="minke test"')
    assert basic.scheme == "basic" and basic.params["realm"] == "minke test"


def test_registry_message() -> None:
    body = b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}'
    assert registry_message(body, 404, "Not Found") == "manifest_unknown: manifest unknown"
    assert registry_message(b"", 502, "Bad Gateway") == "502 Bad Gateway"


def test_server_keys() -> None:
    assert server_key("") == INDEX_SERVER
    assert server_key("docker.io") == INDEX_SERVER
    assert server_key("https://localhost:5000/v2/") == "localhost:5000"


def test_credential_file_round_trip_keeps_other_keys(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"psFormat": "table {{.ID}}"}))
    store = CredentialStore(path)
    store.store("localhost:5000", "alice", "s3cret")
    assert store.get("localhost:5000") == {"serveraddress": "localhost:5000",
                                            "username": "alice", "password": "s3cret"}
    data = json.loads(path.read_text())
    assert data["psFormat"] == "table {{.ID}}"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert store.erase("localhost:5000") is True
    assert store.get("localhost:5000") is None
    assert store.erase("localhost:5000") is False


def test_credential_helper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real docker-credential-* program speaking the helper protocol, on PATH."""
    state = tmp_path / "secrets.json"
    helper = tmp_path / "bin" / "docker-credential-minketest"
    helper.parent.mkdir()
    helper.write_text(f"""#!/usr/bin/env python3
import json, sys
path = {str(state)!r}
try:
    data = json.load(open(path))
except FileNotFoundError:
    data = {{}}
action, payload = sys.argv[1], sys.stdin.read()
if action == "store":
    doc = json.loads(payload)
    data[doc["ServerURL"]] = [doc["Username"], doc["Secret"]]
elif action == "get":
    if payload.strip() not in data:
        print("credentials not found in native keychain"); sys.exit(1)
    user, secret = data[payload.strip()]
    print(json.dumps({{"ServerURL": payload.strip(), "Username": user, "Secret": secret}}))
elif action == "erase":
    data.pop(payload.strip(), None)
json.dump(data, open(path, "w"))
""")
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{helper.parent}:{os.environ['PATH']}")
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"credsStore": "minketest"}))
    store = CredentialStore(config)
    store.store("reg.example:5000", "bob", "hunter2")
    assert json.loads(state.read_text()) == {"reg.example:5000": ["bob", "hunter2"]}
    assert "auth" not in json.loads(config.read_text())["auths"]["reg.example:5000"]
    assert store.get("reg.example:5000")["password"] == "hunter2"  # type: ignore[index]
    assert store.get("other.example") is None
    assert store.erase("reg.example:5000")
    assert json.loads(state.read_text()) == {}


def test_auth_header_round_trip() -> None:
    header = encode_auth_header({"username": "u", "password": "p:w"})
    assert decode_auth_header(header) == {"username": "u", "password": "p:w"}
    assert decode_auth_header(header.rstrip("=")) == {"username": "u", "password": "p:w"}
    assert decode_auth_header("") == {} and decode_auth_header("%%%") == {}


def test_insecure_registries() -> None:
    config = RegistryConfig(insecure=["10.0.0.0/8", "myregistry:5000"])
    assert config.endpoint("127.0.0.1:5000").insecure
    assert config.endpoint("localhost:5000").urls() == ["https://localhost:5000",
                                                         "http://localhost:5000"]
    assert config.endpoint("10.1.2.3:443").insecure
    assert config.endpoint("myregistry:5000").insecure
    assert not RegistryConfig().endpoint("10.1.2.3:443").insecure
    assert RegistryConfig().endpoint("10.1.2.3:443").urls() == ["https://10.1.2.3:443"]


def test_docker_io_is_served_by_registry_1() -> None:
    config = RegistryConfig(insecure=["docker.io"])
    assert config.endpoint("docker.io").host == "registry-1.docker.io"


def _index(*platforms: dict[str, str]) -> bytes:
    return json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": "sha256:" + f"{i:064x}", "size": 10, "platform": p}
                      for i, p in enumerate(platforms)],
    }).encode()


def test_choose_platform() -> None:
    index = parse_manifest(_index({"os": "linux", "architecture": "arm64"},
                                  {"os": "linux", "architecture": "arm", "variant": "v6"},
                                  {"os": "linux", "architecture": "arm", "variant": "v7"},
                                  {"os": "linux", "architecture": "amd64"}))
    assert index.is_index
    assert choose(index, Platform("linux", "amd64")).digest.endswith("3")
    assert choose(index, parse_platform("linux/arm/v7")).digest.endswith("2")
    with pytest.raises(NotFound, match="no matching manifest for linux/s390x"):
        choose(index, parse_platform("linux/s390x"))
    with pytest.raises(InvalidParameter):
        parse_platform("a/b/c/d")


def test_manifest_validation() -> None:
    with pytest.raises(InvalidParameter, match="manifest too large"):
        parse_manifest(b" " * (MAX_MANIFEST + 1))
    with pytest.raises(NotSupported, match="schema 1"):
        parse_manifest(json.dumps({"schemaVersion": 1, "fsLayers": []}).encode())
    with pytest.raises(InvalidParameter, match="without a digest"):
        parse_manifest(json.dumps({"schemaVersion": 2, "config": {},
                                   "mediaType": "application/vnd.oci.image.manifest.v1+json"}
                                  ).encode())


def test_parallel_gzip_is_one_deterministic_member() -> None:
    rng = random.Random(3)
    data = rng.randbytes(9 << 20) + b"compressible " * 500_000
    out1, out2 = io.BytesIO(), io.BytesIO()
    d1 = gzip_stream(io.BytesIO(data), out1.write, workers=2)
    d2 = gzip_stream(io.BytesIO(data), out2.write, workers=1)
    assert d1.digest == d2.digest and d1.size == len(out1.getvalue())
    assert gzip.decompress(out1.getvalue()) == data
    assert len(out1.getvalue()) < len(data)
    empty = io.BytesIO()
    gzip_stream(io.BytesIO(b""), empty.write)
    assert gzip.decompress(empty.getvalue()) == b""


async def _serve(handlers: dict[str, web.StreamResponse | object]) -> web.AppRunner:
    app = web.Application()
    for path, handler in handlers.items():
        app.router.add_route("*", path, handler)  # type: ignore[arg-type]
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner


def _port(runner: web.AppRunner) -> int:
    return runner.addresses[0][1]  # type: ignore[no-any-return]


def test_client_refuses_a_manifest_over_4mb() -> None:
    async def ping(request: web.Request) -> web.Response:
        return web.json_response({})

    async def manifest(request: web.Request) -> web.Response:
        return web.Response(body=b"{" + b" " * (MAX_MANIFEST + 10) + b"}",
                            content_type="application/vnd.oci.image.manifest.v1+json")

    async def run() -> None:
        runner = await _serve({"/v2/": ping, "/v2/a/b/manifests/{ref}": manifest})
        try:
            endpoint = RegistryConfig().endpoint(f"127.0.0.1:{_port(runner)}")
            async with RepositoryClient(endpoint, "a/b", Authorizer()) as client:
                with pytest.raises(InvalidParameter, match="manifest too large"):
                    await client.get_manifest("latest")
        finally:
            await runner.cleanup()

    asyncio.run(run())


def test_client_basic_challenge_without_credentials_is_unauthorized() -> None:
    async def guarded(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != "Basic dTpw":
            return web.json_response(
                {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]},
                status=401, headers={"WWW-Authenticate": 'Basic realm="t"'})
        return web.json_response({})

    async def run() -> None:
        runner = await _serve({"/v2/": guarded, "/v2/a/b/manifests/{ref}": guarded})
        try:
            endpoint = RegistryConfig().endpoint(f"127.0.0.1:{_port(runner)}")
            async with RepositoryClient(endpoint, "a/b", Authorizer()) as client:
                with pytest.raises(Unauthorized, match="unauthorized: authentication required"):
                    await client.get_manifest("latest")
            creds = {"username": "u", "password": "p"}
            async with RepositoryClient(endpoint, "a/b", Authorizer(creds)) as client:
                raw, _, _ = await client.get_manifest("latest")
                assert raw == b"{}"
        finally:
            await runner.cleanup()

    asyncio.run(run())
