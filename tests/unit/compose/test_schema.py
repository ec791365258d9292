"""minke's statement of the compose-spec schema against the reference file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from minke.compose.loader.schema import compose_schema

REFERENCE = (Path(__file__).resolve().parents[4] / "shared" / "reference" / "compose-spec"
             / "compose-spec.json")
ANNOTATIONS = {"description", "deprecated", "$comment", "examples", "default"}


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in ANNOTATIONS}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    return json.loads(REFERENCE.read_text())


def test_schema_is_the_reference_less_annotations(reference: dict[str, Any]) -> None:
    mine, theirs = _strip(compose_schema()), _strip(reference)
    assert set(mine["definitions"]) == set(theirs["definitions"])
    for name in theirs["definitions"]:
        assert mine["definitions"][name] == theirs["definitions"][name], name
    assert mine == theirs


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
]


@pytest.mark.parametrize("doc", DOCS)
def test_same_verdict_as_reference(reference: dict[str, Any], doc: dict[str, Any]) -> None:
    ours = jsonschema.Draft7Validator(compose_schema()).is_valid(doc)
    theirs = jsonschema.Draft7Validator(reference).is_valid(doc)
    assert ours == theirs
