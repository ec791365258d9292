"""The web dashboard at cluster scale: 50 nodes and 1,000 tasks (20 services × 50), in a
real SQLite cluster store filled directly, served by minke's dashboard (``minke.web``)
over the real control API, service control and event publisher; no reconcilers run
(nothing would start 1,000 containers or mark the simulated nodes down). Debian's chromium
(headless, through Playwright) opens the cluster view.

Measured: first paint (first contentful paint) and the view fully drawn (every node and
task on screen), from navigation start; event-to-screen latency (a task's state and a
node's availability written to the store → the page's DOM shows it, observed in the page
by a MutationObserver, wall clocks of one host); the server's CPU with 5 cluster views
open and idle; and a real minked (one node, 6 tasks) idle with no dashboard, then with 5
open. Docker ships no dashboard, so there is no Docker figure and no ratio.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import REPO, report
from tests.support.browser import chromium, free_port

from minke.engine.events import EventBus
from minke.swarm.ca import DataKey
from minke.swarm.events import EventPublisher
from minke.swarm.ids import new_id
from minke.swarm.manager import tasks as task_model
from minke.swarm.manager.controlapi import ControlAPI
from minke.swarm.manager.services import ServiceControl
from minke.swarm.store import SQLiteStore, Tx
from minke.web.app import make_web_app
from minke.web.config import WebConfig

NODES = 50
SERVICES = 20
REPLICAS = 50  # per service: 1,000 tasks
MANAGERS = 3
OPEN_PAGES = 5
IDLE_SECONDS = 30.0
LATENCY_SAMPLES = 10
GiB = 1 << 30
TOKEN = "bench-dashboard-token-0123456789"


class SimulatedSwarm:
    """What the API's swarm routes ask of ``engine.swarm``, over the filled store."""

    status = "active"

    def __init__(self, store: SQLiteStore) -> None:
        self.control = ControlAPI(store, DataKey.generate())
        self.services = ServiceControl(store)

    def manager(self) -> ControlAPI:
        return self.control


class SimulatedEngine:
    """The engine's parts the cluster view reaches: the event bus and the swarm."""

    def __init__(self, store: SQLiteStore) -> None:
        self.events = EventBus()
        self.swarm = SimulatedSwarm(store)


def node(i: int) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "ID": new_id(),
        "Spec": {"Role": "manager" if i < MANAGERS else "worker", "Availability": "active",
                 "Labels": {"zone": f"z{i % 3}", "rack": f"r{i // 10}"}},
        "Description": {"Hostname": f"node-{i:02d}",
                        "Platform": {"Architecture": "x86_64", "OS": "linux"},
                        "Resources": {"NanoCPUs": 8_000_000_000, "MemoryBytes": 32 * GiB},
                        "Engine": {"EngineVersion": "minke"}},
        "Status": {"State": "ready", "Addr": f"198.18.0.{i + 2}"},
    }
    if i < MANAGERS:
        doc["ManagerStatus"] = {"Leader": i == 0, "Reachability": "reachable",
                                "Addr": f"198.18.0.{i + 2}:2377"}
    return doc


async def fill(store: SQLiteStore) -> dict[str, Any]:
    nodes = [node(i) for i in range(NODES)]

    def add_nodes(tx: Tx) -> None:
        for n in nodes:
            tx.create("node", n)
    await store.update(add_nodes)
    control = ServiceControl(store)
    services = []
    for s in range(SERVICES):
        spec = {"Name": f"svc{s:02d}", "Mode": {"Replicated": {"Replicas": REPLICAS}},
                "TaskTemplate": {"ContainerSpec": {"Image": f"registry.example/app{s}:1"},
                                 "Resources": {"Reservations": {"NanoCPUs": 100_000_000,
                                                                "MemoryBytes": 128 << 20}}},
                "Labels": {"com.minke.lb.strategy": "round-robin"}}
        services.append(await control.create(spec))

    def add_tasks(tx: Tx) -> None:
        k = 0
        for service in services:
            stored = tx.get("service", service["ID"])
            for slot in range(1, REPLICAS + 1):
                task = task_model.new_task(stored, slot=slot, node_id=nodes[k % NODES]["ID"])
                task_model.set_state(task, task_model.RUNNING, "started")
                tx.create("task", task)
                k += 1
    await store.update(add_tasks)
    return {"nodes": [n["ID"] for n in nodes], "services": [s["ID"] for s in services]}


async def serve(root: Path, port: int) -> None:
    """The dashboard server (a process of its own, so its CPU can be measured)."""
    from aiohttp import web

    store = SQLiteStore(root / "store.db")
    ids = await fill(store)
    engine = SimulatedEngine(store)
    index = await store.view(lambda tx: tx.index)
    publisher = EventPublisher(store, engine.events.publish, since=index)
    publisher.start()
    config = WebConfig(host="127.0.0.1", port=port, token=TOKEN,
                       token_file=root / "token", tls=None)
    runner = web.AppRunner(make_web_app(engine, config), access_log=None)  # type: ignore[arg-type]
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print(json.dumps(ids), flush=True)
    # Commands from the benchmark on stdin: a write to the store, stamped when made.
    reader = asyncio.StreamReader()
    await asyncio.get_running_loop().connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        command = json.loads(line)
        stamp = await write(store, command)
        print(json.dumps({"written": stamp}), flush=True)
    await publisher.stop()
    await runner.cleanup()
    await store.close()


async def write(store: SQLiteStore, command: dict[str, Any]) -> float:
    kind, id_, value = command["kind"], command["id"], command["value"]

    def change(tx: Tx) -> None:
        obj = tx.get(kind, id_)
        assert obj is not None
        if kind == "task":
            obj["Status"] = {**obj["Status"], "State": value, "Message": value}
        else:
            obj["Spec"]["Availability"] = value
        tx.update(kind, obj)
    stamp = time.time() * 1000
    await store.update(change)
    return stamp


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# Installed before a write: stamps (page clock) the moment the element shows the value.
# (An attribute, not a variable: waiting on a JS predicate needs eval, which the CSP forbids.)
WATCH = """([selector, attr, value]) => {
  delete document.documentElement.dataset.seen;
  const el = document.querySelector(selector);
  const observer = new MutationObserver(() => {
    if (el.getAttribute(attr) === value) {
      observer.disconnect();
      document.documentElement.dataset.seen = String(Date.now());
    }
  });
  observer.observe(el, { attributes: true });
}"""
DRAWN = """() => ({
  fcp: (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime,
  ready: performance.getEntriesByName('minke-ready')[0].startTime,
  tasks: document.querySelectorAll('.task').length,
  nodes: document.querySelectorAll('section.node[data-node-id]:not(.unassigned)').length,
})"""


def measure(url: str, server: subprocess.Popen[str], ids: dict[str, Any]) -> dict[str, Any]:
    def command(kind: str, id_: str, value: str) -> float:
        assert server.stdin is not None and server.stdout is not None
        server.stdin.write(json.dumps({"kind": kind, "id": id_, "value": value}) + "\n")
        server.stdin.flush()
        return float(json.loads(server.stdout.readline())["written"])

    results: dict[str, Any] = {}
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1600, "height": 1000})
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        fcp, drawn = [], []
        for _ in range(3):
            page.goto(url + "/cluster")
            page.wait_for_selector("body[data-drawn='1']", timeout=60_000)
            marks = page.evaluate(DRAWN)
            assert marks["tasks"] == SERVICES * REPLICAS, marks
            assert marks["nodes"] == NODES, marks
            fcp.append(marks["fcp"])
            drawn.append(marks["ready"])
        page.wait_for_selector("body[data-live='1']")
        results["first_contentful_paint_ms"] = round(statistics.median(fcp), 1)
        results["cluster_view_drawn_ms"] = round(statistics.median(drawn), 1)

        task_ids = page.evaluate(
            "() => [...document.querySelectorAll('.task')].slice(0, 40).map(e => e.dataset.taskId)")
        def latency(selector: str, attr: str, shown: str, kind: str, id_: str,
                    value: str) -> float:
            page.evaluate(WATCH, [selector, attr, shown])
            written = command(kind, id_, value)
            seen = page.wait_for_selector("html[data-seen]", state="attached", timeout=30_000)
            assert seen is not None
            return float(seen.get_attribute("data-seen") or 0) - written

        task_latency, node_latency = [], []
        for i in range(LATENCY_SAMPLES):  # a different task and node each time
            task_latency.append(latency(f".task[data-task-id='{task_ids[i]}']", "class",
                                        "task state-starting", "task", task_ids[i], "starting"))
            node_id = ids["nodes"][i]
            node_latency.append(latency(f"section[data-node-id='{node_id}']",
                                        "data-availability", "drain", "node", node_id, "drain"))
        results["event_to_screen_ms"] = {
            "task_state": {"median": round(statistics.median(task_latency), 1),
                           "max": round(max(task_latency), 1)},
            "node_availability": {"median": round(statistics.median(node_latency), 1),
                                  "max": round(max(node_latency), 1)},
        }

        # Five people, each a browser context of their own (own connection, own feed).
        others = [browser.new_context() for _ in range(OPEN_PAGES - 1)]
        for other in others:
            p = other.new_page()
            p.goto(url + "/cluster")
            p.wait_for_selector("body[data-ready='1'][data-live='1']", timeout=60_000)
        time.sleep(3)  # let the last page's reads finish
        before, started = cpu_seconds(server.pid), time.monotonic()
        time.sleep(IDLE_SECONDS)
        used = cpu_seconds(server.pid) - before
        results["idle_cpu_percent_of_a_core"] = round(100 * used / (time.monotonic() - started), 2)
        results["idle_pages_open"] = OPEN_PAGES
        results["console_errors"] = errors
        for other in others:
            other.close()
        context.close()
    return results


def real_daemon_idle() -> dict[str, Any]:
    """A real minked (one node, a swarm of 3 services × 2 busybox tasks): its CPU over
    ``IDLE_SECONDS`` with no dashboard open, then with ``OPEN_PAGES`` cluster views open."""
    import docker
    from tests.conftest import import_busybox, private_daemon
    from tests.support.busybox import write_rootfs_tar
    from tests.support.polling import wait_for
    from tests.support.swarm import swarm_client

    port = free_port()
    with tempfile.TemporaryDirectory() as tmp, \
            private_daemon("mk-bench-web-", "--web", f"127.0.0.1:{port}") as daemon:
        import_busybox(daemon, write_rootfs_tar(Path(tmp) / "busybox.tar"))
        with swarm_client(daemon) as client:
            for i in range(3):
                client.services.create("busybox:latest", ["sleep", "3600"], name=f"idle{i}",
                                       stop_grace_period=10**9,
                                       mode=docker.types.ServiceMode("replicated", 2))
            wait_for("6 tasks running", lambda: sum(
                1 for t in client.api.tasks() if t["Status"]["State"] == "running") == 6)
            time.sleep(3)

            def cpu_percent() -> float:
                before, started = cpu_seconds(daemon.process.pid), time.monotonic()
                time.sleep(IDLE_SECONDS)
                used = cpu_seconds(daemon.process.pid) - before
                return round(100 * used / (time.monotonic() - started), 2)
            without = cpu_percent()
            with chromium() as browser:
                contexts = [browser.new_context() for _ in range(OPEN_PAGES)]
                for context in contexts:
                    page = context.new_page()
                    page.goto(f"http://127.0.0.1:{port}/cluster")
                    page.wait_for_selector("body[data-drawn='1'][data-live='1']")
                time.sleep(3)
                with_pages = cpu_percent()
                for context in contexts:
                    context.close()
            for i in range(3):
                client.services.get(f"idle{i}").remove()
    return {"minked_cpu_percent_no_dashboard": without,
            f"minked_cpu_percent_{OPEN_PAGES}_dashboards": with_pages}


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        asyncio.run(serve(Path(sys.argv[2]), int(sys.argv[3])))
        return
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="mk-bench-web-") as root:
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", root, str(port)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True, cwd=REPO / "bench",
            env={**os.environ, "PYTHONPATH": f"{REPO}/src:{REPO}"})
        try:
            assert server.stdout is not None
            ids = json.loads(server.stdout.readline())
            figures = measure(f"http://127.0.0.1:{port}", server, ids)
        finally:
            assert server.stdin is not None
            server.stdin.close()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    figures["real_minked_idle"] = real_daemon_idle() if os.geteuid() == 0 else (
        "needs root (a real minked)")
    report("dashboard", {
        "what": f"cluster view of {NODES} nodes and {SERVICES * REPLICAS} tasks "
                "(simulated SQLite store, no reconcilers); chromium headless",
        "minke": figures,
        "docker": "Docker ships no dashboard: no comparison, no ratio",
        "targets": {"first_paint_ms": 1000, "event_to_screen_ms": 500,
                    "idle_cpu_percent_of_a_core": 5},
    })


if __name__ == "__main__":
    main()
