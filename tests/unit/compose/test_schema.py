"""minke's statement of the compose-spec schema against the two reference files.

compose-go's ``schema/compose-spec.json`` is the spec's source of truth and the newest;
compose-spec's own copy is older. minke's must be compose-go's (less annotations), hold
every property of compose-spec's, and every key it adds over compose-spec's must be one the
loader has been taught (``ADDED``, each with a test in test_loader.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from minke.compose.loader.schema import compose_schema

REFERENCE = Path(__file__).resolve().parents[4] / "shared" / "reference" / "compose-spec"
ANNOTATIONS = {"description", "deprecated", "$comment", "examples", "default"}

# Keys of the newest schema that compose-spec's copy lacks, and the loader test that shows
# each handled.
ADDED = {
    "service.pre_start": "test_pre_start_hooks_take_the_service_image",
    "service.build.no_cache_filter": "test_no_cache_filter_is_kept_for_the_build",
    "pre_start_hook.command": "test_pre_start_hooks_take_the_service_image",
    "pre_start_hook.image": "test_pre_start_hooks_take_the_service_image",
    "pre_start_hook.user": "test_pre_start_hooks_take_the_service_image",
    "pre_start_hook.privileged": "test_pre_start_hooks_take_the_service_image",
    "pre_start_hook.working_dir": "test_pre_start_hooks_take_the_service_image",
    "pre_start_hook.environment": "test_pre_start_hooks_take_the_service_image",
    "pre_start_hook.per_replica": "test_pre_start_hooks_take_the_service_image",
}


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in ANNOTATIONS}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def properties(schema: dict[str, Any]) -> set[str]:
    """Every property, as ``definition.path.to.key`` (``(root)`` for the top level)."""
    defs = schema.get("$defs") or schema.get("definitions") or {}
    out: set[str] = set()

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item, prefix)
            return
        if not isinstance(node, dict):
            return
        for key, sub in (node.get("properties") or {}).items():
            out.add(f"{prefix}.{key}")
            walk(sub, f"{prefix}.{key}")
        for key in ("oneOf", "anyOf", "allOf", "items"):
            if key in node:
                walk(node[key], prefix)

    walk({k: v for k, v in schema.items() if k not in ("$defs", "definitions")}, "(root)")
    for name, definition in defs.items():
        walk(definition, name)
    return out


@pytest.fixture(scope="module")
def compose_go() -> dict[str, Any]:
    return json.loads((REFERENCE / "compose-spec.compose-go-v2.13.0.json").read_text())


@pytest.fixture(scope="module")
def compose_spec() -> dict[str, Any]:
    return json.loads((REFERENCE / "compose-spec.json").read_text())


def test_schema_is_the_newest_upstream_less_annotations(compose_go: dict[str, Any]) -> None:
    mine, theirs = _strip(compose_schema()), _strip(compose_go)
    assert set(mine["$defs"]) == set(theirs["$defs"])
    for name in theirs["$defs"]:
        assert mine["$defs"][name] == theirs["$defs"][name], name
    assert mine == theirs


def test_schema_holds_every_property_of_compose_spec(compose_spec: dict[str, Any]) -> None:
    missing = properties(compose_spec) - properties(compose_schema())
    assert not missing, sorted(missing)


def test_every_added_key_is_handled(compose_spec: dict[str, Any]) -> None:
    added = properties(compose_schema()) - properties(compose_spec)
    assert added == set(ADDED), "a key was added upstream: teach the loader and list it"
    import importlib

    loader_tests = importlib.import_module("tests.unit.compose.test_loader")
    for test in set(ADDED.values()):
        assert callable(getattr(loader_tests, test, None)), test


DOCS = [
    {"services": {"a": {"image": "x", "ports": ["80:80", 81, {"target": 82}]}}},
    {"services": {"a": {"image": "x", "depends_on": {"b": {"condition": "nope"}}}}},
    {"services": {"a": {"imag": "x"}}},
    {"services": {"a": {"volumes": [{"type": "bind"}]}}, "x-any": {"k": 1}},
    {"services": {"a": {"volumes": [{"source": "x"}]}}},
    {"networks": {"n": {"ipam": {"config": [{"subnet": "10.0.0.0/24"}]}}}},
    {"volumes": {"v": {"external": True}}, "secrets": {"s": {"file": "./x"}}},
    {"services": {"a": {"healthcheck": {"test": 1}}}},
    {"include": ["a.yaml", {"path": ["b.yaml"], "env_file": ".env"}]},
    {"services": {"a": {"ulimits": {"nofile": {"soft": 1}}}}},
    {"services": {"a": {"image": "x", "pre_start": [{"command": "init", "per_replica": False}]}}},
    {"services": {"a": {"image": "x", "pre_start": [{"bogus": 1}]}}},
    {"services": {"a": {"build": {"context": ".", "no_cache_filter": ["s1"]}}}},
    {"services": {"a": {"image": "x", "models": {"llm": None}}}, "models": {"llm": {
        "model": "ai/x"}}},
]


@pytest.mark.parametrize("doc", DOCS)
def test_same_verdict_as_upstream(compose_go: dict[str, Any], doc: dict[str, Any]) -> None:
    ours = jsonschema.Draft202012Validator(compose_schema()).is_valid(doc)
    theirs = jsonschema.Draft202012Validator(compose_go).is_valid(doc)
    assert ours == theirs
