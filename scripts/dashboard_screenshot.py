"""Take docs/images/dashboard-cluster.png: three minked nodes of the cluster harness
(tests/support/cluster.py) in one swarm, a few services made with the docker CLI, and the
manager's dashboard (on its underlay address, so over TLS with a token) in Debian's
headless chromium. Run as root from the repository:
``.venv/bin/python scripts/dashboard_screenshot.py``."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.conftest import import_busybox  # noqa: E402
from tests.support.browser import chromium  # noqa: E402
from tests.support.busybox import write_rootfs_tar  # noqa: E402
from tests.support.cluster import cluster  # noqa: E402
from tests.support.polling import wait_for  # noqa: E402
from tests.support.webcluster import (  # noqa: E402
    dashboard_on_manager,
    dashboard_url,
    docker,
    form_swarm,
    log_in,
)

OUT = REPO / "docs" / "images" / "dashboard-cluster.png"
TOKEN = "screenshot-token-0123456789abcdef"
SERVICES = [  # name, replicas, CPUs and memory reserved per task
    ("web", 4, "0.25", "128M"), ("api", 3, "0.25", "256M"), ("worker", 2, "0.1", "64M"),
    ("cache", 1, "0.2", "512M"),
]
LABELS = [["zone=eu-west-1a", "disk=ssd"], ["zone=eu-west-1b"], ["zone=eu-west-1b", "gpu"]]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tar = write_rootfs_tar(Path(tmp) / "busybox.tar")
        with cluster(3, daemon_args=dashboard_on_manager(Path(tmp), TOKEN)) as c:
            for node in c.nodes:
                assert node.daemon is not None
                import_busybox(node.daemon, tar)
            form_swarm(c)
            for i, labels in enumerate(LABELS):
                node_id = docker(c, i, "info", "--format", "{{.Swarm.NodeID}}")
                docker(c, 0, "node", "update", *[a for label in labels
                                                  for a in ("--label-add", label)], node_id)
            for name, replicas, cpus, memory in SERVICES:
                docker(c, 0, "service", "create", "-d", "--no-resolve-image", "--name", name,
                       "--replicas", str(replicas), "--reserve-cpu", cpus,
                       "--reserve-memory", memory, "--stop-grace-period", "1s",
                       "busybox", "sleep", "3600")
            total = sum(r for _, r, _, _ in SERVICES)
            names = [name for name, _, _, _ in SERVICES]
            total = sum(replicas for _, replicas, _, _ in SERVICES)

            def all_running() -> bool:
                states = docker(c, 0, "service", "ps", "--format", "{{.CurrentState}}",
                                "--filter", "desired-state=running", *names).splitlines()
                return len(states) == total and all(s.startswith("Running") for s in states)
            wait_for("all tasks running", all_running)
            url = dashboard_url(c)
            with chromium() as browser:
                context = browser.new_context(  # type: ignore[attr-defined]
                    ignore_https_errors=True, viewport={"width": 1000, "height": 600})
                page = context.new_page()
                log_in(page, url, TOKEN)
                page.wait_for_selector("body[data-drawn='1'][data-live='1']")
                OUT.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(OUT))
    print(OUT)


if __name__ == "__main__":
    main()
