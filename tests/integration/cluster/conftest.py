"""The cluster fixture of the multi-node tests: three minked nodes on one host, each in a
network namespace of its own on a shared underlay bridge (``tests/support/cluster.py``),
with busybox imported into every node. Module-scoped: a test module shares one cluster
(starting one costs ~2 s); a test that kills or cuts a node restores it before it ends
(``cluster.restart(i)``, ``cluster.heal(i)``) or uses a cluster of its own
(``with tests.support.cluster.cluster(n) as c``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import import_busybox
from tests.support.cluster import Cluster

NODES = 3


@pytest.fixture(scope="module")
def cluster(busybox_tar: Path) -> Iterator[Cluster]:
    c = Cluster()
    try:
        for node in c.start(NODES):
            assert node.daemon is not None
            import_busybox(node.daemon, busybox_tar)
        yield c
    finally:
        c.close()
