"""The web dashboard end to end: a real minked serving ``--web``, Debian's chromium driven
by Playwright, and the docker CLI on the same daemon. Pages load without console errors; a
scale from the CLI shows on open pages without a reload; a scale, an image update and a
rollback, a drain and a restart from the pages show through the CLI and in ``docker
events``; a container page follows its logs and draws its stats; a service page shows its
load balancing; actions need the token and a same-origin request; a non-loopback address
without TLS is refused at start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from tests.conftest import Daemon, import_busybox, private_daemon
from tests.support.browser import CHROMIUM, Console, chromium, free_port, goto, wait_ready
from tests.support.cli import docker_text, needs_docker_cli
from tests.support.polling import wait_for
from tests.support.swarm import swarm_client

pytestmark = [
    pytest.mark.compat, pytest.mark.integration, needs_docker_cli,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium not installed"),
]

TOKEN = "dashboard-test-token-0123456789"
WAIT = 30_000  # ms Playwright waits for a page to show something (a deadline, not a timing)
SLEEP = ["sleep", "600"]
GRACE = 1_000_000_000  # sleep as PID 1 ignores SIGTERM


@pytest.fixture(scope="module")
def web(busybox_tar: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    token = tmp_path_factory.mktemp("web") / "token"
    token.write_text(TOKEN + "\n")
    port = free_port()
    with private_daemon("mk-web-", "--web", f"127.0.0.1:{port}",
                        "--web-token-file", str(token)) as daemon:
        import_busybox(daemon, busybox_tar)
        with swarm_client(daemon) as client:
            yield Web(daemon, client, f"http://127.0.0.1:{port}")


class Web:
    def __init__(self, daemon: Daemon, client: docker.DockerClient, url: str) -> None:
        self.daemon, self.client, self.url = daemon, client, url

    def cli(self, *args: str) -> str:
        return docker_text(self.daemon, *args).stdout.strip()

    def service(self, name: str, replicas: int, **options: Any) -> Any:
        service = self.client.services.create(
            "busybox:latest", SLEEP, name=name, stop_grace_period=GRACE,
            mode=docker.types.ServiceMode("replicated", replicas), **options)
        wait_for(f"{name} converged", lambda: self.running(name) == replicas)
        return service

    def running(self, name: str) -> int:
        return sum(1 for t in self.client.api.tasks(filters={"service": name})
                   if t["Status"]["State"] == "running" and t["DesiredState"] == "running")

    def replicas(self, name: str) -> str:
        return self.cli("service", "inspect", "--format",
                        "{{.Spec.Mode.Replicated.Replicas}}", name)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    page = context.new_page()
    page.console = Console()  # type: ignore[attr-defined]
    page.console.watch(page)  # type: ignore[attr-defined]
    yield page
    context.close()


def open_page(page: Any, url: str) -> None:
    goto(page, url)
    wait_ready(page, timeout=WAIT / 1000)


def log_in(page: Any, web: Web, then: str) -> None:
    goto(page, f"{web.url}/login?next={then}")
    page.fill("input[name=token]", TOKEN)
    page.click("button[type=submit]")
    wait_ready(page, "body[data-ready='1'][data-live='1'][data-auth='1']", WAIT / 1000)


def events(web: Web, since: float, *filters: str) -> list[dict[str, Any]]:
    out = web.cli("events", "--since", f"{since:.3f}", "--until", f"{time.time():.3f}",
                  "--format", "{{json .}}", *[a for f in filters for a in ("--filter", f)])
    return [json.loads(line) for line in out.splitlines() if line]


def test_pages_load_without_console_errors(web: Web, page: Any) -> None:
    service = web.service("webpages", 1)
    task = web.client.api.tasks(filters={"service": "webpages"})[0]
    container = task["Status"]["ContainerStatus"]["ContainerID"]
    pages = ["/cluster", "/services", f"/services/{service.id}", f"/tasks/{task['ID']}",
             "/containers", f"/containers/{container}", "/images", "/networks", "/volumes",
             "/compose"]
    for path in pages:
        open_page(page, web.url + path)
        assert "webpages" in page.inner_text("main") or path in ("/images", "/networks",
                                                                 "/volumes", "/compose")
    goto(page, web.url + "/")
    page.wait_for_url(web.url + "/cluster")
    # the task's logs and stats streams were followed on their pages, and are ended cleanly
    assert page.console.errors == []
    service.remove()


def test_cli_scale_shows_on_open_pages_without_reload(web: Web, browser: Any) -> None:
    web.service("webscale", 1)
    context = browser.new_context()
    services, cluster = context.new_page(), context.new_page()
    console = Console()
    for p in (services, cluster):
        p.console = console
        console.watch(p)
    open_page(services, web.url + "/services")
    open_page(cluster, web.url + "/cluster")
    for p in (services, cluster):
        p.evaluate("window.notReloaded = true")
    services.wait_for_selector("tr[data-service=webscale] td.replicas:text-is('1/1')")

    web.cli("service", "scale", "--detach", "webscale=3")

    services.wait_for_selector("tr[data-service=webscale] td.replicas:text-is('3/3')",
                               timeout=WAIT)
    running = cluster.locator(".task.state-running[data-service=webscale]")
    running.nth(2).wait_for(timeout=WAIT)  # a third one (no JS predicate: the CSP forbids eval)
    assert running.count() == 3
    for p in (services, cluster):
        assert p.evaluate("window.notReloaded") is True
    assert console.errors == []
    context.close()
    web.client.services.get("webscale").remove()


def test_scale_from_the_page_shows_in_the_cli(web: Web, page: Any) -> None:
    web.service("webact", 2)
    log_in(page, web, "/services")
    since = time.time()
    page.click("tr[data-service=webact] button[data-action=scale]")
    page.fill("#confirm-body input[name=replicas]", "1")
    page.click("#confirm-ok")
    wait_for("webact scaled to 1", lambda: web.replicas("webact") == "1")
    wait_for("one webact task running", lambda: web.running("webact") == 1)
    page.wait_for_selector("tr[data-service=webact] td.replicas:text-is('1/1')", timeout=WAIT)
    updates = events(web, since, "type=service", "event=update")
    assert any(e["Actor"]["Attributes"].get("replicas.new") == "1" for e in updates)
    assert page.console.errors == []
    web.client.services.get("webact").remove()


def test_update_the_image_and_roll_back_from_the_page(web: Web, page: Any) -> None:
    web.cli("tag", "busybox:latest", "busybox:v2")
    quick = {"monitor": 100_000_000}  # ns; Docker's 5 s of watching each new task
    web.service("webimg", 1, update_config=docker.types.UpdateConfig(**quick),
                rollback_config=docker.types.RollbackConfig(**quick))

    def image() -> str:
        return web.cli("service", "inspect", "--format",
                       "{{.Spec.TaskTemplate.ContainerSpec.Image}}", "webimg")
    log_in(page, web, "/services")
    page.click("tr[data-service=webimg] button[data-action=image]")
    page.fill("#confirm-body input[name=image]", "busybox:v2")
    page.click("#confirm-ok")
    wait_for("image updated", lambda: image().startswith("busybox:v2"))
    wait_for("the update done", lambda: web.cli(
        "service", "inspect", "--format", "{{.UpdateStatus.State}}", "webimg") == "completed")
    page.click("tr[data-service=webimg] button[data-action=rollback]")
    page.click("#confirm-ok")
    wait_for("rolled back", lambda: image().startswith("busybox:latest"))
    page.wait_for_selector("tr[data-service=webimg] td.mono:text-is('busybox:latest')",
                           timeout=WAIT)
    assert page.console.errors == []
    web.client.services.get("webimg").remove()


def test_drain_and_activate_a_node_from_the_page(web: Web, page: Any) -> None:
    log_in(page, web, "/cluster")
    node = web.cli("node", "ls", "--format", "{{.ID}}")
    page.click(f"section[data-node-id='{node}'] button[data-action=drain]")
    page.click("#confirm-ok")
    wait_for("node drained", lambda: web.cli(
        "node", "inspect", "--format", "{{.Spec.Availability}}", node) == "drain")
    page.wait_for_selector(f"section[data-node-id='{node}'][data-availability=drain]",
                           timeout=WAIT)
    page.click(f"section[data-node-id='{node}'] button[data-action=activate]")
    page.click("#confirm-ok")
    wait_for("node active", lambda: web.cli(
        "node", "inspect", "--format", "{{.Spec.Availability}}", node) == "active")
    assert page.console.errors == []


def test_restart_a_container_from_the_page(web: Web, page: Any) -> None:
    name = f"webctr-{os.getpid()}"
    web.cli("run", "-d", "--name", name, "--stop-timeout", "1", "busybox", *SLEEP)
    try:
        log_in(page, web, "/containers")
        since = time.time()
        page.click(f"tr[data-name='{name}'] button[data-action=restart]")
        page.click("#confirm-ok")
        wait_for("restart event", lambda: events(web, since, f"container={name}",
                                                 "event=restart"))
        assert web.cli("inspect", "--format", "{{.State.Running}}", name) == "true"
        assert page.console.errors == []
    finally:
        web.cli("rm", "-f", name)


def test_a_container_page_follows_logs_and_draws_stats(web: Web, page: Any) -> None:
    name = f"weblogs-{os.getpid()}"
    web.cli("run", "-d", "--name", name, "busybox", "sh", "-c",
            "echo first line; until [ -e /tmp/go ]; do sleep 0.1; done; echo second line; "
            "echo to stderr >&2; exec sleep 600")
    try:
        open_page(page, f"{web.url}/containers/{name}")
        logs = page.locator("pre.logs")
        logs.locator("text=first line").wait_for(timeout=WAIT)
        web.cli("exec", name, "touch", "/tmp/go")  # the next lines come after the page read
        logs.locator("text=second line").wait_for(timeout=WAIT)
        logs.locator(".stderr", has_text="to stderr").wait_for(timeout=WAIT)
        for chart in ("CPU", "Memory", "Network in", "Network out"):
            head = page.locator(f"[data-chart='{chart}'] .chart-head b")
            head.filter(has_not_text="–").wait_for(timeout=WAIT)  # a sample was drawn
        assert page.console.errors == []
    finally:
        web.cli("rm", "-f", name)


def test_actions_need_the_token_and_a_same_origin_request(web: Web, browser: Any) -> None:
    service = web.service("webguard", 1)
    path = f"/docker/services/{service.id}/update?version={service.version}"
    body = json.dumps({**service.attrs["Spec"], "Mode": {"Replicated": {"Replicas": 2}}})
    post = ("async ([path, body, headers]) => { const r = await fetch(path, {method: 'POST', "
            "body, headers: {'Content-Type': 'application/json', ...headers}}); "
            "return [r.status, (await r.json()).message]; }")
    context = browser.new_context()
    page = context.new_page()
    page.console = Console()
    page.console.watch(page)
    # not logged in: reading works on loopback, the buttons are disabled, the call refused
    open_page(page, web.url + "/services")
    assert page.is_disabled("tr[data-service=webguard] button[data-action=scale]")
    status, message = page.evaluate(post, [path, body, {}])
    assert status == 401 and "token" in message
    # logged in, but without the CSRF header
    log_in(page, web, "/services")
    status, message = page.evaluate(post, [path, body, {}])
    assert status == 403 and "CSRF" in message
    # a foreign site's form posting to the dashboard: the SameSite cookie stays home
    page.route("http://evil.test/**", lambda route: route.fulfill(content_type="text/html", body=(
        f'<form id="f" method="post" action="{web.url}{path}" enctype="text/plain">'
        f'<input name="{{&quot;a&quot;:&quot;" value="&quot;}}"></form>'
        '<script>document.getElementById("f").submit()</script>')))
    goto(page, "http://evil.test/")
    page.wait_for_url(f"{web.url}{path}")
    assert "actions need the dashboard token" in page.inner_text("body")
    assert web.replicas("webguard") == "1"
    context.close()
    service.remove()


def test_a_service_page_shows_its_load_balancing(web: Web, page: Any) -> None:
    network = web.client.networks.create("weblbnet", driver="overlay")
    service = web.client.services.create(
        "busybox:latest", ["httpd", "-f", "-p", "80"], name="weblb", networks=["weblbnet"],
        stop_grace_period=GRACE, mode=docker.types.ServiceMode("replicated", 2),
        labels={"com.minke.lb.strategy": "least-connections"})
    try:
        wait_for("weblb converged", lambda: web.running("weblb") == 2)
        tasks = {t["ID"] for t in web.client.api.tasks(filters={"service": "weblb"})}
        open_page(page, f"{web.url}/services/{service.id}")
        lb = page.locator("[data-section=lb]")
        lb.locator("tr[data-backend]").nth(1).wait_for(timeout=WAIT)  # both backends
        assert "least-connections" in lb.inner_text()
        shown = {lb.locator("tr[data-backend]").nth(i).get_attribute("data-backend")
                 for i in range(2)}
        assert shown == tasks
        assert lb.locator("tr[data-backend][data-state=active]").count() == 2
        assert page.console.errors == []
    finally:
        service.remove()
        wait_for("weblb's containers gone", lambda: _gone(web, "weblb"))
        network.remove()


def _gone(web: Web, name: str) -> bool:
    return not any(c for c in web.client.api.containers(
        all=True, filters={"label": f"com.docker.swarm.service.name={name}"}))


@pytest.mark.parametrize("how", ["flag", "daemon.json"])
def test_non_loopback_without_tls_is_refused_at_start(how: str, tmp_path: Path) -> None:
    args = [sys.executable, "-m", "minke.daemon.main", "--data-root", str(tmp_path / "data"),
            "--exec-root", str(tmp_path / "exec"), "-H", f"unix://{tmp_path}/minke.sock"]
    if how == "flag":
        args += ["--web", f"0.0.0.0:{free_port()}"]
    else:
        (tmp_path / "daemon.json").write_text(json.dumps({"web": f"0.0.0.0:{free_port()}"}))
        args += ["--config-file", str(tmp_path / "daemon.json")]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "refusing to serve the dashboard on 0.0.0.0" in proc.stderr
    assert "TLS" in proc.stderr and "--web-token-file" in proc.stderr
    assert not (tmp_path / "minke.sock").exists() and not (tmp_path / "data").exists()
