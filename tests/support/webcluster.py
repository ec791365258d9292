"""A swarm of the cluster harness whose manager serves the dashboard: on its underlay
address (not loopback), so over TLS with a token. What the dashboard's cluster test and
``scripts/dashboard_screenshot.py`` share."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.support.browser import goto
from tests.support.certs import make_ca, write_leaf
from tests.support.cluster import Cluster, Node, docker_out

PORT = 9180


docker = docker_out  # ``docker ARGS`` on node ``i``: what it printed


def dashboard_on_manager(directory: Path, token: str) -> Callable[[Node], list[str]]:
    """``daemon_args`` for ``Cluster``: node 0 serves the dashboard with a certificate and
    a token file made in ``directory``; the others serve none."""
    certs = write_leaf(make_ca(), directory / "certs", server=True)
    token_file = directory / "web-token"
    token_file.write_text(token)

    def args(node: Node) -> list[str]:
        if node.index != 0:
            return []
        return ["--tlsverify", "--tlscacert", str(certs / "ca.pem"),
                "--tlscert", str(certs / "cert.pem"), "--tlskey", str(certs / "key.pem"),
                "--web", f"{node.addr}:{PORT}", "--web-token-file", str(token_file)]
    return args


def dashboard_url(c: Cluster) -> str:
    return f"https://{c.node(0).addr}:{PORT}"


def form_swarm(c: Cluster) -> None:
    """Node 0 initialises a swarm; every other node joins it as a worker."""
    docker(c, 0, "swarm", "init", "--advertise-addr", c.node(0).addr)
    token = docker(c, 0, "swarm", "join-token", "-q", "worker")
    for i in range(1, len(c.nodes)):
        docker(c, i, "swarm", "join", "--token", token, f"{c.node(0).addr}:2377")


def log_in(page: object, url: str, token: str, then: str = "/cluster") -> None:
    """Log a Playwright page in to the dashboard at ``url`` and open ``then``."""
    goto(page, f"{url}/login?next={then}")
    page.fill("input[name=token]", token)  # type: ignore[attr-defined]
    page.click("button[type=submit]")  # type: ignore[attr-defined]
