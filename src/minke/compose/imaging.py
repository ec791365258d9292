"""Images for a project: build (``POST /build``), pull (``POST /images/create``), remove.

A service with ``build`` runs ``<project>-<service>`` (or its ``image``), built when missing
or when ``--build`` is given; a service with only ``image`` is pulled when missing (or
always, with ``pull_policy: always`` / ``--pull always``). Also copies files into a
container (``PUT /containers/{id}/archive``) for secrets and configs given as content.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable

from minke import errors
from minke.client import APIClient, quote_name

from .errors import ComposeRunError

TYPE_CHECKING = False  # typing costs milliseconds of start-up: for type checkers only
if TYPE_CHECKING:
    from typing import Any

    from .executor import Executor


class Images:
    def __init__(self, executor: Executor) -> None:
        self.ex = executor
        self.project = executor.project

    def image_id(self, ref: str) -> str | None:
        try:
            return self.ex.api.get(f"/images/{quote_name(ref)}/json")["Id"]
        except errors.NotFound:
            return None

    def lookup(self, services: Iterable[str]) -> dict[str, str]:
        """The id of each service's image that exists, in one ``GET /images/json`` (by
        reference filter); a reference the listing does not show by that exact tag (a
        digest, a registry-qualified name) is inspected on its own."""
        refs = {name: self.project.image_name(name) for name in services}
        if not refs:
            return {}
        listed = self.ex.api.get("/images/json", {"filters": {
            "reference": sorted(set(refs.values()))}})
        tags: dict[str, str] = {}
        for image in listed:
            for tag in image.get("RepoTags") or []:
                tags[tag] = image["Id"]
        out: dict[str, str] = {}
        for name, ref in refs.items():
            tagged = ref if ":" in ref.rsplit("/", 1)[-1] else f"{ref}:latest"
            found = tags.get(tagged) or tags.get(ref)
            if found is None and "@" in ref:
                found = self.image_id(ref)
            if found:
                out[name] = found
        return out

    def ensure(self, services: Iterable[str], *, build: bool = False, no_build: bool = False,
               pull: str | None = None, known: dict[str, str] | None = None
               ) -> dict[str, str]:
        """Each service's image id, building or pulling what is needed; ``known`` are ids
        already looked up (``lookup``)."""
        ids: dict[str, str] = {}
        for name in services:
            svc = self.project.services[name]
            ref = self.project.image_name(name)
            policy = pull or svc.get("pull_policy") or "missing"
            current = known[name] if known and name in known else self.image_id(ref)
            if svc.get("build") and not no_build and (build or policy == "build"
                                                       or current is None):
                current = self.build(name)
            elif current is None or policy == "always":
                if policy == "never" and current is None:
                    raise ComposeRunError(f"service \"{name}\": image {ref} not found and "
                                          "pull_policy is never")
                self.pull(ref, name)
                current = self.image_id(ref)
            if current is None:
                raise ComposeRunError(f"service \"{name}\": no such image: {ref}")
            ids[name] = current
        return ids

    def pull(self, ref: str, service: str) -> None:
        image, _, tag = ref.rpartition(":") if ":" in ref.rsplit("/", 1)[-1] else (ref, "", "")
        self.ex.print(f" {service} Pulling")
        try:
            with self.ex.api.stream("POST", "/images/create",
                                    params={"fromImage": image or ref, "tag": tag or "latest"}
                                    ) as stream:
                for message in stream.json_messages():
                    if message.get("error"):
                        raise ComposeRunError(f"service \"{service}\": {message['error']}")
        except errors.MinkeError as exc:
            raise ComposeRunError(f"service \"{service}\": pull {ref}: {exc}") from exc
        self.ex.print(f" {service} Pulled")

    def build(self, service: str) -> str:
        svc = self.project.services[service]
        spec = svc["build"]
        ref = self.project.image_name(service)
        context = spec.get("context", self.project.working_dir)
        self.ex.print(f" {service} Building")
        params = build_params(ref, spec)
        data = context_tar(context, spec.get("dockerfile_inline"),
                           spec.get("dockerfile") or "Dockerfile")
        try:
            with self.ex.api.stream("POST", "/build", params=params, data=data,
                                    headers={"Content-Type": "application/x-tar"}) as stream:
                for message in stream.json_messages():
                    if message.get("error"):
                        raise ComposeRunError(f"service \"{service}\" failed to build: "
                                              f"{message['error'].strip()}")
        except errors.MinkeError as exc:
            raise ComposeRunError(f"service \"{service}\" failed to build: {exc}") from exc
        image_id = self.image_id(ref)
        if image_id is None:
            raise ComposeRunError(f"service \"{service}\" failed to build: no image {ref}")
        self.ex.print(f" {service} Built")
        return image_id

    def remove(self, which: str) -> None:
        """``down --rmi local|all``: the built images, or every image of the project."""
        for name, svc in self.project.services.items():
            if which == "local" and svc.get("image") and not svc.get("build"):
                continue
            ref = self.project.image_name(name)
            try:
                self.ex.api.call("DELETE", f"/images/{quote_name(ref)}")
                self.ex.print(f" Image {ref}  Removed")
            except errors.NotFound:
                pass
            except errors.Conflict as exc:
                self.ex.print(f" Image {ref}  {exc}")


def build_params(ref: str, spec: dict[str, Any]) -> dict[str, Any]:
    """The ``POST /build`` query for a service's ``build`` section."""
    return {"t": (ref, *(spec.get("tags") or [])), "rm": True,
            "dockerfile": spec.get("dockerfile") or "Dockerfile",
            "labels": spec.get("labels") or None,
            "buildargs": {k: v for k, v in (spec.get("args") or {}).items()
                          if v is not None} or None,
            "target": spec.get("target"),
            # The classic builder has no per-stage cache switch: no_cache_filter turns the
            # cache off for every stage (the named ones are rebuilt, and more).
            "nocache": bool(spec.get("no_cache") or spec.get("no_cache_filter")) or None,
            "pull": bool(spec.get("pull")) or None,
            "networkmode": spec.get("network")}


def _ignored(context: str) -> list[str]:
    path = os.path.join(context, ".dockerignore")
    if not os.path.isfile(path):
        return []
    with open(path) as f:
        return [line.strip().rstrip("/") for line in f
                if line.strip() and not line.startswith("#")]


def context_tar(context: str, dockerfile_inline: str | None = None,
                dockerfile: str = "Dockerfile") -> bytes:
    """The build context as an uncompressed tar, less what ``.dockerignore`` excludes
    (the Dockerfile and .dockerignore are always sent, as the docker CLI does)."""
    if not os.path.isdir(context):
        raise ComposeRunError(f"build context {context} is not a directory")
    import fnmatch
    import tarfile

    patterns = _ignored(context)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for root, dirs, files in os.walk(context):
            rel_root = os.path.relpath(root, context)
            for name in sorted(dirs + files):
                rel = os.path.normpath(os.path.join(rel_root, name))
                keep = rel in (os.path.normpath(dockerfile), ".dockerignore")
                if not keep and any(fnmatch.fnmatch(rel, p) for p in patterns):
                    if name in dirs:
                        dirs.remove(name)
                    continue
                tar.add(os.path.join(root, name), arcname=rel, recursive=False)
        if dockerfile_inline is not None:
            data = dockerfile_inline.encode()
            info = tarfile.TarInfo("Dockerfile")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def put_file(api: APIClient, cid: str, path: str, data: bytes, mode: int) -> None:
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(path.lstrip("/"))
        info.size, info.mode = len(data), mode
        tar.addfile(info, io.BytesIO(data))
    api.call("PUT", f"/containers/{cid}/archive", params={"path": "/"}, data=buf.getvalue(),
             headers={"Content-Type": "application/x-tar"})
