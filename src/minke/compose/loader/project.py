"""Loading a project: which files, which environment, which name, in the spec's order.

For each file: parse (``yamlfile``), interpolate (``interpolation``), validate against the
schema (``validate``), bring in ``include``d projects, resolve ``extends``, rewrite short
syntaxes (``syntax``), then merge it over the files before it (``merge``). Then profiles
are applied and the result normalised (``normalize``). Every error names the file and line.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import ComposeFileError
from . import dotenv, inputs, merge, syntax
from .finish import Environment, Read, finish
from .interpolation import interpolate
from .options import Loaded, ProjectOptions
from .validate import validate
from .yamlfile import Document, Override, Reset, parse

DEFAULT_FILES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
OVERRIDE_FILES = ("compose.override.yaml", "compose.override.yml",
                  "docker-compose.override.yml", "docker-compose.override.yaml")

Origins = dict[tuple[str | int, ...], tuple[str, int]]


def find_files(opts: ProjectOptions, environ: Environment) -> list[str]:
    if opts.files:
        return [f if f == "-" else os.path.abspath(os.path.join(opts.cwd, f))
                for f in opts.files]
    listed = environ.get("COMPOSE_FILE")
    if listed:
        sep = environ.get("COMPOSE_PATH_SEPARATOR") or os.pathsep
        base = opts.project_directory or opts.cwd
        return [os.path.abspath(os.path.join(base, f)) for f in listed.split(sep) if f]
    directory = os.path.abspath(opts.project_directory or opts.cwd)
    while True:
        for candidate in DEFAULT_FILES:
            path = os.path.join(directory, candidate)
            if inputs.isfile(path):
                overrides = [os.path.join(directory, o) for o in OVERRIDE_FILES
                             if inputs.isfile(os.path.join(directory, o))]
                return [path, *overrides[:1]]
        parent = os.path.dirname(directory)
        if parent == directory:
            raise ComposeFileError("no configuration file provided: not found")
        directory = parent


def environment(opts: ProjectOptions, directory: str, process: Mapping[str, str]
                ) -> tuple[Environment, list[str]]:
    """The interpolation environment: the env files, overridden by the process environment."""
    files = [os.path.join(directory, f) for f in opts.env_files] if opts.env_files else []
    if not files and inputs.isfile(os.path.join(directory, ".env")):
        files = [os.path.join(directory, ".env")]
    values: dict[str, str] = {}
    for path in files:
        values.update(dotenv.read(path, lambda k: process.get(k, values.get(k))))
    return Environment(process, values), files


def load(opts: ProjectOptions) -> Loaded:
    """The project the options describe, in canonical form."""
    return finish(read(opts), opts)


def read(opts: ProjectOptions) -> Read:
    """Stage one: the files found, read, interpolated, validated and merged."""
    process = inputs.TrackedEnviron(opts.environ)
    first_env, _ = environment(opts, os.path.abspath(opts.project_directory or opts.cwd),
                               process)
    files = find_files(opts, first_env)
    if opts.project_directory:
        workdir = os.path.abspath(os.path.join(opts.cwd, opts.project_directory))
    elif files[0] == "-":
        workdir = os.path.abspath(opts.cwd)
    else:
        workdir = os.path.dirname(files[0])
    env, env_files = environment(opts, workdir, process)
    origins: Origins = {}
    model = load_files(files, workdir, env.get, origins, set())
    return Read(model, workdir, files, env_files, env.files,
                [[list(path), file, line] for path, (file, line) in origins.items()])


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
        inputs.not_replayable()
        return parse(sys.stdin.read(), "-")
    try:
        text = inputs.read_text(file)
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
        if not env_files and inputs.isfile(default_env):
            env_files = [default_env]
        for path in env_files:
            env.update(dotenv.read(syntax.resolve_path(path, base), lookup))

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
