"""The dashboard on a three-node swarm of the cluster harness: the manager serves it on
its underlay address (not loopback, so over TLS with the token), chromium on the host logs
in, sees every node with its tasks, and a node killed turns Down on the page without a
reload."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import import_busybox
from tests.support.browser import CHROMIUM, Console, chromium, goto, wait_ready
from tests.support.cluster import Cluster, cluster
from tests.support.webcluster import (
    dashboard_on_manager,
    dashboard_url,
    docker,
    form_swarm,
    log_in,
)

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium not installed")]

TOKEN = "cluster-dashboard-token-0123456789"
WAIT = 60_000  # ms; a deadline for the page, not a timing


@pytest.fixture
def swarm(busybox_tar: Path, tmp_path: Path) -> Iterator[Cluster]:
    with cluster(3, daemon_args=dashboard_on_manager(tmp_path, TOKEN)) as c:
        for node in c.nodes:
            assert node.daemon is not None
            import_busybox(node.daemon, busybox_tar)
        form_swarm(c)
        yield c


def test_a_killed_node_turns_down_on_the_page(swarm: Cluster) -> None:
    c = swarm
    docker(c, 0, "service", "create", "-d", "--no-resolve-image", "--stop-grace-period", "1s",
           "--name", "spread", "--replicas", "3", "busybox", "sleep", "600")
    victim = docker(c, 2, "info", "--format", "{{.Swarm.NodeID}}")
    url = dashboard_url(c)
    with chromium() as browser:
        context: Any = browser.new_context(ignore_https_errors=True)  # type: ignore[attr-defined]
        page = context.new_page()
        page.console = Console()
        page.console.watch(page)
        goto(page, f"{url}/cluster")  # not loopback: even reading needs the token
        page.wait_for_url(f"{url}/login?next=/cluster")
        log_in(page, url, TOKEN)
        wait_ready(page, timeout=WAIT / 1000)
        page.evaluate("window.notReloaded = true")
        page.locator("section.node[data-status=ready]").nth(2).wait_for(timeout=WAIT)
        page.locator(".task.state-running[data-service=spread]").nth(2).wait_for(timeout=WAIT)
        page.wait_for_selector(f"section[data-node-id='{victim}'][data-status=ready]")

        c.kill(2)

        page.wait_for_selector(f"section[data-node-id='{victim}'][data-status=down]",
                               timeout=WAIT)
        assert page.evaluate("window.notReloaded") is True
        assert page.console.errors == []
        context.close()
