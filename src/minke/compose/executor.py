"""Carrying out a plan through the Docker API: networks, volumes, images, containers.

Talks to the daemon only through ``minke.client`` (as Docker Compose talks to dockerd).
``up`` first reads what exists with two requests (the project's containers, the images
its services run); when every container is there, running, of the wanted configuration
and image, there is nothing to do and nothing more is asked. Otherwise it creates the
project's networks and volumes, builds or pulls images, then converges each service once
its dependencies meet their ``depends_on`` condition; services whose dependencies are met,
and the replicas of a service, are created and started in parallel (one thread and one
API connection each). A recreated container is first created under a temporary name, so
that a failure leaves the old one running; ``down`` stops and removes containers in
parallel, dependents first, then networks, then (``-v``) volumes. Lifecycle hooks are
``hooks``'s.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from minke import errors
from minke.client import APIClient, Host, quote_name

from . import hooks, imaging, model, planner
from .errors import ComposeRunError
from .model import NAMESPACES, Project, service_reference

TYPE_CHECKING = False  # typing costs milliseconds of start-up: for type checkers only
if TYPE_CHECKING:
    from concurrent.futures import Future
    from typing import Any

HEALTH_POLL = 0.2  # s between inspections while waiting for a health status
PARALLEL = 32  # containers worked on at once (Compose: unlimited); the daemon queues the rest

Printer = Callable[[str], None]


class UpOptions:
    # A plain class: dataclasses imports inspect, milliseconds on every command's start.
    def __init__(self, services: list[str] | None = None, build: bool = False,
                 no_build: bool = False, pull: str | None = None, force_recreate: bool = False,
                 no_recreate: bool = False, no_deps: bool = False, no_start: bool = False,
                 remove_orphans: bool = False, scale: dict[str, int] | None = None,
                 wait: bool = False, wait_timeout: float | None = None,
                 timeout: int | None = None) -> None:
        self.services = services or []
        self.build = build
        self.no_build = no_build
        self.pull = pull
        self.force_recreate = force_recreate
        self.no_recreate = no_recreate
        self.no_deps = no_deps
        self.no_start = no_start
        self.remove_orphans = remove_orphans
        self.scale = scale or {}
        self.wait = wait
        self.wait_timeout = wait_timeout
        self.timeout = timeout  # stop timeout for recreated containers


def pool(workers: int) -> Any:
    from concurrent.futures import ThreadPoolExecutor  # imports logging: only when needed

    return ThreadPoolExecutor(max_workers=workers)


# Keys that cannot take effect on minke: refused at ``up`` before anything is created,
# as Docker Compose fails on a daemon without the feature, rather than ignored.
def unsupported(service: str, svc: dict[str, Any]) -> str | None:
    if svc.get("gpus"):
        return (f'service "{service}": gpus: could not select device driver "" with '
                "capabilities: [[gpu]] (minke has no GPU device support)")
    reservations = ((svc.get("deploy") or {}).get("resources") or {}).get("reservations")
    if (reservations or {}).get("devices"):
        return (f'service "{service}": deploy.resources.reservations.devices: could not '
                "select device driver (minke has no device request support)")
    if svc.get("models"):
        return (f'service "{service}" uses models ({", ".join(svc["models"])}): running '
                "AI models needs Docker Model Runner, which minke does not provide")
    if svc.get("provider"):
        kind = (svc["provider"] or {}).get("type", "")
        return (f'service "{service}": provider services are not supported by minke '
                f'compose (provider type "{kind}")')
    return None


class Executor:
    def __init__(self, host: Host, project: Project, printer: Printer, version: str | None = None
                 ) -> None:
        self.host = host
        self.project = project
        self.print = printer
        self._version = version
        self._clients: dict[int, APIClient] = {}  # by thread

    # --- clients and observation ----------------------------------------------------------

    @property
    def api(self) -> APIClient:
        """This thread's client: APIClient keeps one connection and is not thread-safe.
        (``_thread``, not ``threading``: a command that starts no thread imports none.)"""
        from _thread import get_ident

        client = self._clients.get(get_ident())
        if client is None:
            client = APIClient(self.host, self._version)
            self._version = client.version
            self._clients[get_ident()] = client
        return client

    def containers(self, *, oneoff: bool | None = False, services: Iterable[str] = ()
                   ) -> list[dict[str, Any]]:
        labels = [f"{model.PROJECT}={self.project.name}"]
        if oneoff is not None:
            labels.append(f"{model.ONEOFF}={'True' if oneoff else 'False'}")
        found = self.api.get("/containers/json", {"all": True, "filters": {"label": labels}})
        wanted = set(services)
        if wanted:
            found = [c for c in found if (c.get("Labels") or {}).get(model.SERVICE) in wanted]
        return sorted(found, key=lambda c: (c["Labels"].get(model.SERVICE, ""),
                                            int(c["Labels"].get(model.NUMBER, "0") or 0)))

    def inspect(self, ref: str) -> dict[str, Any]:
        return self.api.get(f"/containers/{quote_name(ref)}/json")

    # --- networks and volumes -------------------------------------------------------------

    def ensure_networks(self, keys: Iterable[str]) -> None:
        wanted = {k: self.project.section("networks")[k] for k in keys}
        if not wanted:
            return
        existing = {n["Name"] for n in self.api.get("/networks")}
        create, missing = planner.plan_resources(wanted, existing)
        if missing:
            name = wanted[missing[0]]["name"]
            raise ComposeRunError(f"network {name} declared as external, but could not be "
                                  "found")
        for key in create:
            spec = wanted[key]
            body: dict[str, Any] = {
                "Name": spec["name"], "Driver": spec.get("driver") or "bridge",
                "CheckDuplicate": True, "Internal": bool(spec.get("internal")),
                "Attachable": bool(spec.get("attachable")),
                "EnableIPv6": bool(spec.get("enable_ipv6")),
                "Options": {k: str(v) for k, v in (spec.get("driver_opts") or {}).items()},
                "Labels": {**(spec.get("labels") or {}), model.NETWORK: key,
                           model.PROJECT: self.project.name,
                           model.VERSION: model.COMPOSE_VERSION},
            }
            if spec.get("ipam"):
                ipam = spec["ipam"]
                body["IPAM"] = {"Driver": ipam.get("driver") or "default",
                                "Options": ipam.get("options") or {},
                                "Config": [{"Subnet": c.get("subnet"), "IPRange": c.get("ip_range"),
                                            "Gateway": c.get("gateway"),
                                            "AuxiliaryAddresses": c.get("aux_addresses")}
                                           for c in ipam.get("config") or []]}
            self.print(f" Network {spec['name']}  Creating")
            try:
                self.api.post("/networks/create", body=body)
            except errors.Conflict:
                pass  # made meanwhile by a parallel up: the same network
            self.print(f" Network {spec['name']}  Created")

    def ensure_volumes(self, keys: Iterable[str]) -> None:
        wanted = {k: self.project.section("volumes")[k] for k in keys}
        if not wanted:
            return
        existing = {v["Name"] for v in self.api.get("/volumes").get("Volumes") or []}
        create, missing = planner.plan_resources(wanted, existing)
        if missing:
            name = wanted[missing[0]]["name"]
            raise ComposeRunError(f"external volume \"{name}\" not found")
        for key in create:
            spec = wanted[key]
            self.print(f" Volume \"{spec['name']}\"  Creating")
            self.api.post("/volumes/create", body={
                "Name": spec["name"], "Driver": spec.get("driver") or "local",
                "DriverOpts": {k: str(v) for k, v in (spec.get("driver_opts") or {}).items()},
                "Labels": {**(spec.get("labels") or {}), model.VOLUME: key,
                           model.PROJECT: self.project.name,
                           model.VERSION: model.COMPOSE_VERSION}})
            self.print(f" Volume \"{spec['name']}\"  Created")

    def resources_for(self, services: Iterable[str]) -> tuple[list[str], list[str]]:
        nets: list[str] = []
        vols: list[str] = []
        for name in services:
            svc = self.project.services[name]
            nets += [n for n in svc.get("networks") or {} if n not in nets]
            vols += [v["source"] for v in svc.get("volumes") or []
                     if v.get("type") == "volume" and v.get("source")
                     and v["source"] not in vols]
        return nets, vols

    # --- up -------------------------------------------------------------------------------

    def up(self, opts: UpOptions) -> None:
        project = self.project
        targets = opts.services or list(project.services)
        for name in targets:
            if name not in project.services:
                raise ComposeRunError(f"no such service: {name}")
        names = targets if opts.no_deps else project.with_dependencies(targets)
        for name in names:
            problem = unsupported(name, project.services[name])
            if problem:
                raise ComposeRunError(problem)
        images = imaging.Images(self)
        observed = planner.observe(self.containers())
        known = images.lookup(names)
        plans = self.plan(names, observed, known, opts)
        orphans = planner.plan_orphans(set(project.services) | set(project.disabled),
                                       observed)
        if self.nothing_to_do(names, plans, known, opts) and not (orphans and
                                                                   opts.remove_orphans):
            self._orphan_warning(orphans)
            for name in names:
                for action in plans[name]:
                    self.print(f" Container {project.container_name(name, action.number)}"
                               "  Running")
            return
        nets, vols = self.resources_for(names)
        self.ensure_networks(nets)
        self.ensure_volumes(vols)
        image_ids = images.ensure(names, build=opts.build, no_build=opts.no_build,
                                  pull=opts.pull, known=known)
        if opts.remove_orphans:
            for orphan in orphans:
                self.print(f" Container {orphan.name}  Removing")
                self.remove(orphan.id, force=True)
                self.print(f" Container {orphan.name}  Removed")
        else:
            self._orphan_warning(orphans)
        plans = self.plan(names, observed, image_ids, opts)
        self.converge(names, plans, image_ids, opts)
        if opts.wait:
            self.wait_ready(names, opts.wait_timeout)

    def plan(self, names: list[str], observed: list[planner.Observed],
             image_ids: dict[str, str], opts: UpOptions) -> dict[str, list[planner.Action]]:
        project = self.project
        targets = opts.services or list(project.services)
        plans = {name: planner.plan_service(
            name, opts.scale.get(name, project.replicas(name)), project.config_hash(name),
            observed, image_id=image_ids.get(name, ""), force_recreate=opts.force_recreate
            and name in targets, no_recreate=opts.no_recreate) for name in names}
        planner.cascade(plans, {name: self.peers(name) for name in names})
        return plans

    def nothing_to_do(self, names: list[str], plans: dict[str, list[planner.Action]],
                      known: dict[str, str], opts: UpOptions) -> bool:
        """Every container there and running as wanted, its image present and current, and
        no flag asking for more: a running container holds its networks and volumes."""
        if opts.build or opts.wait or opts.pull == "always":
            return False
        for name in names:
            svc = self.project.services[name]
            if name not in known or svc.get("pull_policy") in ("always", "build"):
                return False
            if any(spec.get("condition", "service_started") != "service_started"
                   for spec in self.project.dependencies(name).values()):
                return False
            if planner.changed(plans[name]):
                return False
        return True

    def _orphan_warning(self, orphans: list[planner.Observed]) -> None:
        if orphans:
            self.print(f"Found orphan containers ({', '.join(o.name for o in orphans)}) "
                       f"for this project. If you removed or renamed this service in your "
                       "compose file, you can run this command with the --remove-orphans "
                       "flag to clean it up.")

    def peers(self, service: str) -> list[str]:
        """The services whose containers ``service``'s refer to by id: ``service:NAME``
        namespaces and ``volumes_from``."""
        svc = self.project.services[service]
        out = [t for t in (service_reference(svc.get(k)) for k in NAMESPACES) if t]
        out += [v.split(":")[0] for v in svc.get("volumes_from") or []
                if not v.startswith("container:")]
        return [p for p in out if p in self.project.services]

    def converge(self, names: list[str], plans: dict[str, list[planner.Action]],
                 image_ids: dict[str, str], opts: UpOptions) -> None:
        futures: dict[str, Future[None]] = {}
        with pool(PARALLEL) as workers:
            for name in names:  # dependency order: each future's dependencies already exist
                deps = {d: spec for d, spec in self.project.dependencies(name).items()
                        if d in futures}
                futures[name] = workers.submit(self._converge_one, name, plans[name],
                                               image_ids.get(name, ""), deps, futures, opts)
            failure: BaseException | None = None
            for name in names:
                try:
                    futures[name].result()
                except BaseException as exc:  # noqa: BLE001 - the first one is reported
                    failure = failure or exc
            if failure:
                raise failure

    def _converge_one(self, name: str, actions: list[planner.Action], image_id: str,
                      deps: dict[str, dict[str, Any]], futures: dict[str, Future[None]],
                      opts: UpOptions) -> None:
        for dep, spec in deps.items():
            try:
                futures[dep].result()
            except BaseException as exc:
                raise ComposeRunError(f"dependency failed to start: service {dep}: {exc}"
                                      ) from exc
            if not opts.no_start:
                self.wait_condition(dep, spec.get("condition", "service_started"),
                                    opts.wait_timeout)
        image = self.project.image_name(name)
        for action in actions:
            if action.kind == planner.REMOVE:
                assert action.container is not None
                self.print(f" Container {action.container.name}  Stopping")
                self._pre_stop(action.container.id, name, action.container.running)
                self.remove(action.container.id, force=True, timeout=opts.timeout)
                self.print(f" Container {action.container.name}  Removed")
        # pre_start runs once, before the first start, when no replica runs yet.
        live = [a for a in actions if a.kind == planner.KEEP]
        first_start = not live and not opts.no_start and \
            bool(self.project.services[name].get("pre_start"))
        work = [a for a in actions if a.kind not in (planner.REMOVE, planner.KEEP)]
        for action in live:
            self.print(f" Container {self.project.container_name(name, action.number)}"
                       "  Running")
        if not work:
            return
        if first_start:  # the lowest-numbered replica lends its volumes to the hooks
            head, work = work[0], work[1:]
            self._apply(name, head, image, image_id, opts, pre_start=True)
        if not work:
            return
        if len(work) == 1:
            self._apply(name, work[0], image, image_id, opts)
            return
        with pool(min(PARALLEL, len(work))) as workers:
            for done in [workers.submit(self._apply, name, a, image, image_id, opts)
                         for a in work]:
                done.result()

    def _apply(self, name: str, action: planner.Action, image: str, image_id: str,
               opts: UpOptions, *, pre_start: bool = False) -> None:
        cname = self.project.container_name(name, action.number)
        if action.kind == planner.CREATE:
            self.print(f" Container {cname}  Creating")
            cid = self.create(name, action.number, image, image_id)
            self.print(f" Container {cname}  Created")
            if not opts.no_start:
                self.start(cid, cname, name, pre_start=pre_start)
        elif action.kind == planner.RECREATE:
            assert action.container is not None
            self.recreate(name, action.container, image, image_id, opts, pre_start=pre_start)
        elif action.kind == planner.START and not opts.no_start:
            self.start(action.container.id if action.container else cname, cname, name,
                       pre_start=pre_start)

    def resolve_mode(self, mode: str) -> str:
        """``service:NAME`` as ``container:<id>`` of that service's first container
        (running ones first), as Compose resolves it when it creates the container."""
        target = service_reference(mode)
        if target is None:
            return mode
        return f"container:{self.peer_container(target, 'share a namespace with')}"

    def peer_container(self, service: str, what: str) -> str:
        found = self.containers(services=[service])
        if not found:
            raise ComposeRunError(f"cannot {what} service {service}: container missing")
        found.sort(key=lambda c: (c.get("State") != "running",
                                  int(c["Labels"].get(model.NUMBER, "0") or 0)))
        return found[0]["Id"]

    def create(self, service: str, number: int, image: str, image_id: str,
               name: str | None = None, *, oneoff: bool = False,
               overrides: dict[str, Any] | None = None, labels: dict[str, str] | None = None,
               publish: bool = True) -> str:
        """Create one replica (not started) attached to all its networks; returns its id."""
        from . import convert

        final = self.project.container_name(service, number)
        all_labels = self.project.labels(service, number, oneoff=oneoff, image_id=image_id)
        all_labels.update(labels or {})
        body = convert.create_body(self.project, service, number, image, all_labels, final,
                                   resolve=self.resolve_mode, socket=self.api_socket())
        svc = self.project.services[service]
        volumes_from = [self.peer_container(v.split(":")[0], "share volumes with") +
                        (":" + v.split(":")[1] if ":" in v else "")
                        for v in svc.get("volumes_from") or [] if not v.startswith("container:")]
        volumes_from += [v[len("container:"):] for v in svc.get("volumes_from") or []
                         if v.startswith("container:")]
        if volumes_from:
            body["HostConfig"]["VolumesFrom"] = volumes_from
        body.update(overrides or {})
        if not publish:
            body["HostConfig"].pop("PortBindings", None)
        created = self.api.post("/containers/create", {"name": name or final}, body)
        cid = created["Id"]
        try:
            for key, spec in list((svc.get("networks") or {}).items())[1:]:
                if svc.get("network_mode"):
                    break
                net = convert.network_name(self.project, key)
                self.api.post(f"/networks/{quote_name(net)}/connect", body={
                    "Container": cid, "EndpointConfig": convert.endpoint(service, final, spec)})
            for path, data, mode in convert.content_files(self.project, svc):
                imaging.put_file(self.api, cid, path, data, mode)
        except BaseException:
            self.remove(cid, force=True)  # nothing half-created after a failure
            raise
        return cid

    def api_socket(self) -> str | None:
        """The daemon's unix socket, for ``use_api_socket``."""
        url = getattr(self.host, "url", "") or ""
        return url[len("unix://"):] if url.startswith("unix://") else None

    def start(self, ref: str, name: str, service: str, *, pre_start: bool = False) -> None:
        if pre_start:
            hooks.pre_start(self, service, ref)
        self.print(f" Container {name}  Starting")
        try:
            self.api.post(f"/containers/{quote_name(ref)}/start")
        except errors.NotModified:
            pass
        except errors.MinkeError as exc:
            raise ComposeRunError(_failed(service, name, exc)) from exc
        hooks.post_start(self, ref, service)
        self.print(f" Container {name}  Started")

    def _pre_stop(self, ref: str, service: str, running: bool) -> None:
        if running:
            hooks.pre_stop(self, ref, service)

    def recreate(self, service: str, old: planner.Observed, image: str, image_id: str,
                 opts: UpOptions, *, pre_start: bool = False) -> None:
        """Replace ``old``; if the new one cannot start, put the old one back as it was."""
        final = self.project.container_name(service, old.number)
        self.print(f" Container {final}  Recreate")
        temp = f"{old.id[:12]}_{final}"
        cid = self.create(service, old.number, image, image_id, name=temp)
        was_running = old.running
        try:
            self._pre_stop(old.id, service, was_running)
            self.api.post(f"/containers/{old.id}/stop",
                          {"t": opts.timeout} if opts.timeout is not None else None)
            self.api.post(f"/containers/{old.id}/rename",
                          {"name": f"{old.id[:12]}_old_{final}"})
            self.api.post(f"/containers/{cid}/rename", {"name": final})
            if not opts.no_start:
                if pre_start:
                    hooks.pre_start(self, service, cid)
                self.api.post(f"/containers/{cid}/start")
        except BaseException as exc:
            self.remove(cid, force=True)
            self.api.post(f"/containers/{old.id}/rename", {"name": final})
            if was_running:
                self.api.post(f"/containers/{old.id}/start")
            if isinstance(exc, ComposeRunError):
                raise
            raise ComposeRunError(_failed(service, final, exc)) from exc
        self.remove(old.id, force=True)
        if not opts.no_start:
            hooks.post_start(self, cid, service)
        self.print(f" Container {final}  Recreated")

    def remove(self, ref: str, *, force: bool = False, volumes: bool = False,
               timeout: int | None = None) -> None:
        if timeout is not None:
            try:
                self.api.post(f"/containers/{quote_name(ref)}/stop", {"t": timeout})
            except (errors.NotModified, errors.NotFound):
                pass
        try:
            self.api.call("DELETE", f"/containers/{quote_name(ref)}",
                          params={"force": force, "v": volumes})
        except errors.NotFound:
            pass

    # --- conditions -----------------------------------------------------------------------

    def wait_condition(self, service: str, condition: str, timeout: float | None) -> None:
        if condition == "service_started":
            return  # its convergence, awaited before, started it
        deadline = time.monotonic() + (timeout or 600)
        for c in self.containers(services=[service]):
            name = c["Names"][0].lstrip("/")
            if condition == "service_completed_successfully":
                code = self.api.post(f"/containers/{c['Id']}/wait").get("StatusCode", 0)
                if code != 0:
                    raise ComposeRunError(f"service \"{service}\" didn't complete "
                                          f"successfully: exit {code}")
            elif condition == "service_healthy":
                self.wait_healthy(c["Id"], name, deadline, need_check=True)

    def wait_healthy(self, cid: str, name: str, deadline: float, *, need_check: bool) -> None:
        while True:
            state = self.inspect(cid)["State"]
            health = (state.get("Health") or {}).get("Status")
            if health is None:
                if need_check:
                    raise ComposeRunError(f"container {name} has no healthcheck configured")
                if state.get("Running"):
                    return
            elif health == "healthy":
                return
            elif health == "unhealthy":
                raise ComposeRunError(f"container {name} is unhealthy")
            if not state.get("Running") and state.get("Status") in ("exited", "dead"):
                raise ComposeRunError(f"container {name} exited ({state.get('ExitCode')})")
            if time.monotonic() > deadline:
                raise ComposeRunError(f"timeout waiting for container {name} to be "
                                      f"{'healthy' if health else 'running'}")
            time.sleep(HEALTH_POLL)

    def wait_ready(self, names: list[str], timeout: float | None) -> None:
        """``--wait``: every container running, and healthy where it has a health check."""
        deadline = time.monotonic() + (timeout or 600)
        for c in self.containers(services=names):
            name = c["Names"][0].lstrip("/")
            self.print(f" Container {name}  Waiting")
            self.wait_healthy(c["Id"], name, deadline, need_check=False)
            self.print(f" Container {name}  Healthy")

    # --- down -----------------------------------------------------------------------------

    def down(self, *, volumes: bool = False, remove_orphans: bool = False,
             timeout: int | None = None, rmi: str | None = None) -> None:
        project = self.project
        found = self.containers(oneoff=None)
        known = set(project.services) | set(project.disabled)
        depth = project.depths()

        def rank(c: dict[str, Any]) -> int:  # dependents stop first, a level at a time
            return -depth.get(c["Labels"].get(model.SERVICE, ""), -1)

        doomed = [c for c in found if remove_orphans or
                  c["Labels"].get(model.SERVICE) in known or
                  c["Labels"].get(model.ONEOFF) == "True"]
        with pool(PARALLEL) as workers:
            for level in sorted({rank(c) for c in doomed}):
                batch = [c for c in doomed if rank(c) == level]
                list(workers.map(lambda c: self._remove_printed(c, timeout), batch))
        for spec in project.section("networks").values():
            if spec.get("external"):
                continue
            self.print(f" Network {spec['name']}  Removing")
            try:
                self.api.call("DELETE", f"/networks/{quote_name(spec['name'])}")
                self.print(f" Network {spec['name']}  Removed")
            except errors.NotFound:
                pass
        if volumes:
            for spec in project.section("volumes").values():
                if spec.get("external"):
                    continue
                try:
                    self.api.call("DELETE", f"/volumes/{quote_name(spec['name'])}")
                    self.print(f" Volume {spec['name']}  Removed")
                except errors.NotFound:
                    pass
        if rmi:
            imaging.Images(self).remove(rmi)

    def _remove_printed(self, c: dict[str, Any], timeout: int | None) -> None:
        name = c["Names"][0].lstrip("/")
        if c.get("State") == "running":
            self.print(f" Container {name}  Stopping")
            if not c["Labels"].get(model.HOOK):
                self._pre_stop(c["Id"], c["Labels"].get(model.SERVICE, ""), True)
            self.api.post(f"/containers/{c['Id']}/stop",
                          {"t": timeout} if timeout is not None else None)
            self.print(f" Container {name}  Stopped")
        self.print(f" Container {name}  Removing")
        self.remove(c["Id"], force=True, volumes=True)
        self.print(f" Container {name}  Removed")


def _failed(service: str, container: str, exc: BaseException) -> str:
    """A start failure naming the service as well as its container: ``container_name``
    can hide which service a container belongs to."""
    return f'service "{service}" (container {container}): {exc}'
