"""A pull given up mid-layer (the client went away) stops its download and extraction
threads and leaves the store as it was; the next pull of the same image completes.

In-process on an ``ImageService``, against the session's real registry on loopback; the
image is uploaded with plain HTTP requests of the Distribution API.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import os
import random
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import unique

from minke.engine.events import EventBus
from minke.engine.images import ImageService
from minke.engine.state import StateDB

pytestmark = pytest.mark.integration

LAYER_BYTES = 24 << 20


def _upload(host: str, repo: str, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    start = urllib.request.Request(f"http://{host}/v2/{repo}/blobs/uploads/", method="POST")
    with urllib.request.urlopen(start, timeout=30) as response:
        location = response.headers["Location"]
    if not location.startswith("http"):
        location = f"http://{host}{location}"
    separator = "&" if "?" in location else "?"
    put = urllib.request.Request(f"{location}{separator}digest={digest}", data=data,
                                 method="PUT",
                                 headers={"Content-Type": "application/octet-stream"})
    urllib.request.urlopen(put, timeout=60).close()
    return digest


def _push_image(host: str, repo: str) -> tuple[str, str]:
    """One big random layer; returns the reference and the image id."""
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("data/blob.bin")
        info.size = LAYER_BYTES
        tar.addfile(info, io.BytesIO(random.Random(7).randbytes(LAYER_BYTES)))
    layer = buf.getvalue()
    blob = gzip.compress(layer, compresslevel=1)
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers",
                                    "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]}
                         }).encode()
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "size": len(config), "digest": _upload(host, repo, config)},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": len(blob), "digest": _upload(host, repo, blob)}],
    }).encode()
    put = urllib.request.Request(
        f"http://{host}/v2/{repo}/manifests/1", data=manifest, method="PUT",
        headers={"Content-Type": "application/vnd.docker.distribution.manifest.v2+json"})
    urllib.request.urlopen(put, timeout=30).close()
    return f"{host}/{repo}:1", "sha256:" + hashlib.sha256(config).hexdigest()


@pytest.fixture
def service(tmp_path: Path) -> Iterator[ImageService]:
    if os.geteuid() != 0:
        pytest.skip("needs root (chown of extracted files)")
    db = StateDB(tmp_path / "state.db")
    yield ImageService(root=tmp_path / "image", db=db, events=EventBus())
    db.close()


def _leftovers(service: ImageService) -> dict[str, list[str]]:
    root = service.root
    return {
        "blobs": service.content.list(),
        "ingest": os.listdir(root / "content" / "ingest"),
        "layers": service.snapshots.layers(),
        "staged": os.listdir(root / "overlay2" / "tmp"),
    }


def test_pull_cancelled_mid_layer_leaves_nothing_and_a_retry_completes(
    registry: Any, service: ImageService
) -> None:
    ref, image_id = _push_image(registry.host, f"{unique('cancel')}/big")
    seen: list[int] = []

    async def cancelled_pull() -> None:
        task: asyncio.Task[Any] | None = None

        def progress(message: dict[str, Any]) -> None:
            current = (message.get("progressDetail") or {}).get("current")
            if message.get("status") == "Downloading" and current:
                seen.append(current)
                if task is not None and not task.cancelling():
                    task.cancel()  # as the API route does when the client goes away

        task = asyncio.ensure_future(service.pull(ref, progress=progress))
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancelled_pull())
    assert seen and seen[0] < LAYER_BYTES, seen  # it really stopped mid-layer
    assert service.records.lookup(ref) is None
    # Trash of a discarded staging may still be going away in the background.
    left = _leftovers(service)
    assert left["blobs"] == [] and left["ingest"] == [] and left["layers"] == [], left
    assert all(name.startswith("rm-") for name in left["staged"]), left

    result = asyncio.run(service.pull(ref))
    assert result.image_id == image_id and result.updated
    assert service.records.lookup(ref) == image_id
