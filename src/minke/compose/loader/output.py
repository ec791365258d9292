"""The canonical model as text: YAML (ruamel, block style) or JSON, as ``compose config``."""

from __future__ import annotations

import io
import json
from typing import Any


def dump(model: dict[str, Any], fmt: str = "yaml") -> str:
    if fmt == "json":
        return json.dumps(model, indent=2) + "\n"
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.indent(mapping=2, sequence=4, offset=2)  # Go's yaml.v3 layout, as compose prints
    yaml.sort_base_mapping_type_on_output = False  # keep the model's order
    out = io.StringIO()
    yaml.dump(_ordered(model), out)
    return out.getvalue()


def _ordered(value: Any, depth: int = 0) -> Any:
    # Top-level sections keep the spec's order; everything below is sorted, as Compose does.
    if isinstance(value, dict):
        items = value.items() if depth == 0 else sorted(value.items())
        return {k: _ordered(v, depth + 1) for k, v in items}
    if isinstance(value, list):
        return [_ordered(v, depth + 1) for v in value]
    return value
