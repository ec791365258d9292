"""Loading a project: which files, which environment, which name, in the spec's order.

For each file: parse (``yamlfile``), interpolate (``interpolation``), validate against the
schema (``validate``), bring in ``include``d projects, resolve ``extends``, rewrite short
syntaxes (``syntax``), then merge it over the files before it (``merge``). Then profiles
are applied and the result normalised (``normalize``). Every error names the file and line.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ComposeFileError
from . import dotenv, merge, normalize, syntax
from .interpolation import interpolate
from .validate import validate
from .yamlfile import Document, Override, Reset, parse

DEFAULT_FILES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
OVERRIDE_FILES = ("compose.override.yaml", "compose.override.yml",
                  "docker-compose.override.yml", "docker-compose.override.yaml")
_PROJECT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")

Origins = dict[tuple[str | int, ...], tuple[str, int]]


@dataclass
class ProjectOptions:
    """What ``docker compose`` takes from its global flags."""

    files: list[str] = field(default_factory=list)
    project_name: str | None = None
    project_directory: str | None = None
    env_files: list[str] = field(default_factory=list)
    profiles: list[str] = field(default_factory=list)
    services: list[str] = field(default_factory=list)  # named on the command line
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    cwd: str = field(default_factory=os.getcwd)


@dataclass
class Loaded:
    """The canonical model and what was used to make it."""

    model: dict[str, Any]
    name: str
    working_dir: str
    config_files: list[str]
    environment: dict[str, str]
    env_files: list[str]
    disabled: dict[str, dict[str, Any]]


def normalize_name(name: str) -> str:
    """A directory name as Compose turns it into a project name."""
    return re.sub(r"[^a-z0-9_-]", "", name.lower()).lstrip("_-")


def find_files(opts: ProjectOptions, environ: Mapping[str, str]) -> list[str]:
    if opts.files:
        return [f if f == "-" else os.path.abspath(os.path.join(opts.cwd, f))
                for f in opts.files]
    if environ.get("COMPOSE_FILE"):
        sep = environ.get("COMPOSE_PATH_SEPARATOR", os.pathsep)
        base = opts.project_directory or opts.cwd
        return [os.path.abspath(os.path.join(base, f))
                for f in environ["COMPOSE_FILE"].split(sep) if f]
    directory = os.path.abspath(opts.project_directory or opts.cwd)
    while True:
        for candidate in DEFAULT_FILES:
            path = os.path.join(directory, candidate)
            if os.path.isfile(path):
                overrides = [os.path.join(directory, o) for o in OVERRIDE_FILES
                             if os.path.isfile(os.path.join(directory, o))]
                return [path, *overrides[:1]]
        parent = os.path.dirname(directory)
        if parent == directory:
            raise ComposeFileError("no configuration file provided: not found")
        directory = parent


def environment(opts: ProjectOptions, directory: str) -> tuple[dict[str, str], list[str]]:
    """The interpolation environment: the env files, overridden by the process environment."""
    files = [os.path.join(directory, f) for f in opts.env_files] if opts.env_files else []
    if not files and os.path.isfile(os.path.join(directory, ".env")):
        files = [os.path.join(directory, ".env")]
    env: dict[str, str] = {}
    for path in files:
        env.update(dotenv.read(_path(path), lambda k: opts.environ.get(k, env.get(k))))
    env.update(opts.environ)
    return env, files


def _path(path: str) -> Any:
    from pathlib import Path

    return Path(path)


def load(opts: ProjectOptions) -> Loaded:
    """The project the options describe, in canonical form."""
    first_env, _ = environment(opts, os.path.abspath(opts.project_directory or opts.cwd))
    files = find_files(opts, first_env)
    if opts.project_directory:
        workdir = os.path.abspath(os.path.join(opts.cwd, opts.project_directory))
    elif files[0] == "-":
        workdir = os.path.abspath(opts.cwd)
    else:
        workdir = os.path.dirname(files[0])
    env, env_files = environment(opts, workdir)
    origins: Origins = {}
    model = load_files(files, workdir, env.get, origins, set())

    name = opts.project_name or env.get("COMPOSE_PROJECT_NAME") or model.get("name")
    if name:
        if not _PROJECT_NAME.match(name):
            raise ComposeFileError(
                f'invalid project name "{name}": must consist only of lowercase alphanumeric '
                "characters, hyphens, and underscores as well as start with a letter or number")
    else:
        name = normalize_name(os.path.basename(workdir))
        if not name:
            raise ComposeFileError(f"project name can't be derived from {workdir}; use -p")
    env.setdefault("COMPOSE_PROJECT_NAME", name)

    profiles = opts.profiles or [p for p in env.get("COMPOSE_PROFILES", "").split(",") if p]
    disabled = apply_profiles(model, profiles, opts.services)

    def where(path: tuple[str | int, ...]) -> tuple[str | None, int | None]:
        while path:
            if path in origins:
                return origins[path]
            path = path[:-1]
        return (files[0], None)

    canonical = normalize.project(model, name, env.get, where)
    return Loaded(canonical, name, workdir, files, env, env_files, disabled)


def load_files(files: list[str], workdir: str, lookup: Callable[[str], str | None],
               origins: Origins, including: set[str]) -> dict[str, Any]:
    """Merge ``files`` in order (each one interpolated, validated and rewritten)."""
    model: dict[str, Any] = {}
    for file in files:
        doc = read_document(file)
        data = load_document(doc, workdir, lookup, origins, including)
        model = merge.merge_mapping(model, data)
    return model


def read_document(file: str) -> Document:
    if file == "-":
        return parse(sys.stdin.read(), "-")
    try:
        with open(file) as f:
            text = f.read()
    except FileNotFoundError as exc:
        raise ComposeFileError(f"open {file}: no such file or directory") from exc
    except OSError as exc:
        raise ComposeFileError(f"open {file}: {exc.strerror}") from exc
    return parse(text, file)


def load_document(doc: Document, workdir: str, lookup: Callable[[str], str | None],
                  origins: Origins, including: set[str]) -> dict[str, Any]:
    """One file, ready to merge: interpolated, validated, included, extended, long syntax."""
    def where(path: tuple[str | int, ...]) -> tuple[str | None, int | None]:
        return doc.file, doc.line(path)

    data = interpolate(doc.data, lookup, where=where)
    validate(doc, data)
    for path, line in doc.lines.items():
        origins[path] = (doc.file, line)
    included = _includes(doc, data.pop("include", None) or [], lookup, origins, including)
    for section in ("secrets", "configs"):  # file: paths are relative to the project dir
        for spec in (data.get(section) or {}).values():
            if isinstance(spec, dict) and spec.get("file"):
                spec["file"] = syntax.resolve_path(spec["file"], workdir)
    services = data.get("services")
    if isinstance(services, dict):
        resolved: dict[str, Any] = {}
        for name, svc in services.items():
            if isinstance(svc, Reset | Override):
                resolved[name] = svc
                continue
            svc = _extends(doc, services, name, workdir, lookup, [])
            resolved[name] = syntax.service(svc, workdir, name)
        data["services"] = resolved
    for section, items in included.items():
        mine = data.setdefault(section, {}) if isinstance(items, dict) else None
        if mine is None:
            continue
        for key, value in items.items():
            if key in mine and merge.strip(mine[key]) != value:
                raise ComposeFileError(f"{section}.{key} conflicts with imported resource",
                                       file=doc.file, line=doc.line((section, key)))
            mine.setdefault(key, value)
    return data


def _includes(doc: Document, entries: list[Any], lookup: Callable[[str], str | None],
              origins: Origins, including: set[str]) -> dict[str, Any]:
    base = os.path.dirname(doc.file) if doc.file != "-" else os.getcwd()
    out: dict[str, Any] = {}
    for entry in entries:
        spec = {"path": entry} if isinstance(entry, str) else dict(entry)
        paths = spec["path"] if isinstance(spec["path"], list) else [spec["path"]]
        paths = [syntax.resolve_path(p, base) for p in paths]
        for path in paths:
            if path in including:
                raise ComposeFileError(f"include cycle: {path}", file=doc.file)
        workdir = syntax.resolve_path(spec.get("project_directory") or
                                      os.path.dirname(paths[0]), base)
        env: dict[str, str] = {}
        env_files = spec.get("env_file") or []
        env_files = [env_files] if isinstance(env_files, str) else env_files
        default_env = os.path.join(workdir, ".env")
        if not env_files and os.path.isfile(default_env):
            env_files = [default_env]
        for path in env_files:
            env.update(dotenv.read(_path(syntax.resolve_path(path, base)), lookup))

        def sub_lookup(key: str, env: dict[str, str] = env) -> str | None:
            value = lookup(key)
            return value if value is not None else env.get(key)

        sub = load_files(paths, workdir, sub_lookup, origins, including | set(paths))
        for section in ("services", "networks", "volumes", "secrets", "configs"):
            for key, value in (sub.get(section) or {}).items():
                if key in out.get(section, {}) and out[section][key] != value:
                    raise ComposeFileError(f"{section}.{key} conflicts with imported resource",
                                           file=doc.file)
                out.setdefault(section, {})[key] = value
    return out


def _extends(doc: Document, services: dict[str, Any], name: str, workdir: str,
             lookup: Callable[[str], str | None], chain: list[str]) -> dict[str, Any]:
    svc = dict(services[name] or {})
    ext = svc.pop("extends", None)
    if ext is None:
        return svc
    ext = {"service": ext} if isinstance(ext, str) else dict(ext)
    key = f"{doc.file}:{name}"
    if key in chain:
        raise ComposeFileError("circular reference with extends: " +
                               " -> ".join([*chain, key]), file=doc.file,
                               line=doc.line(("services", name, "extends")))
    if ext.get("file"):
        path = syntax.resolve_path(ext["file"], os.path.dirname(doc.file))
        other = read_document(path)
        other_data = interpolate(other.data, lookup,
                                 where=lambda p: (other.file, other.line(p)))
        validate(other, other_data)
        base_doc, base_services, base_dir = other, other_data.get("services") or {}, \
            os.path.dirname(path)
    else:
        base_doc, base_services, base_dir = doc, services, workdir
    target = ext["service"]
    if target not in base_services:
        raise ComposeFileError(f'cannot extend service "{name}": service "{target}" not '
                               f"found in {base_doc.file}", file=doc.file,
                               line=doc.line(("services", name, "extends")))
    base = _extends(base_doc, base_services, target, base_dir, lookup, [*chain, key])
    base = syntax.service(base, base_dir, target)
    return merge.merge_service(base, syntax.service(svc, workdir, name))


def apply_profiles(model: dict[str, Any], profiles: list[str],
                   targets: list[str]) -> dict[str, dict[str, Any]]:
    """Remove the services whose profiles are all inactive; return them."""
    services = model.get("services") or {}
    active = set(profiles)
    enabled = {name for name, svc in services.items()
               if not (svc or {}).get("profiles") or "*" in active
               or active & set(svc["profiles"])}
    pending = [t for t in targets if t in services]
    while pending:  # services named on the command line, and what they need, are enabled
        name = pending.pop()
        if name in enabled and name not in targets:
            continue
        enabled.add(name)
        deps = (services[name] or {}).get("depends_on") or {}
        pending.extend(d for d in deps if d in services and d not in enabled)
    disabled = {n: s for n, s in services.items() if n not in enabled}
    if services:
        model["services"] = {n: s for n, s in services.items() if n in enabled}
    return disabled
