"""Schema validation of one Compose file, with errors naming the file, line and path.

Each file is validated on its own after interpolation (as compose-go does), so an error
points at the file and line that hold the bad value. ``jsonschema`` is imported here only:
the rest of minke never pays for it.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from ..errors import ComposeFileError
from .schema import compose_schema
from .yamlfile import Document, Override, Reset


@cache
def _validator() -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(compose_schema())


def validate(doc: Document, data: dict[str, Any]) -> None:
    """Raise ``ComposeFileError`` for the most relevant schema violation in ``data``."""
    from jsonschema.exceptions import best_match

    plain = _without_tags(data)
    error = best_match(_validator().iter_errors(plain))
    if error is None:
        return
    path = tuple(error.absolute_path)
    dotted = ".".join(str(p) for p in path)
    raise ComposeFileError(_message(error, dotted), file=doc.file, line=doc.line(path))


def _message(error: Any, dotted: str) -> str:
    where = dotted or "(root)"
    if error.validator == "additionalProperties":
        # jsonschema: "Additional properties are not allowed ('foo' was unexpected)".
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        extra = [e for e in extra if not e.startswith("x-")]
        if extra:
            return f"{where} additional properties {', '.join(map(repr, extra))} not allowed"
    if error.validator == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return f"{where} must be a {expected}"
    if error.validator == "enum":
        allowed = ", ".join(map(str, error.validator_value))
        return f"{where} must be one of: {allowed}"
    if error.validator == "uniqueItems":
        return f"{where} contains duplicate items"
    return f"{where} {error.message}"


def _without_tags(value: Any) -> Any:
    """The file as schema validation sees it: ``!reset`` values dropped, overrides unwrapped."""
    if isinstance(value, dict):
        return {k: _without_tags(v) for k, v in value.items() if not isinstance(v, Reset)}
    if isinstance(value, list):
        return [_without_tags(v) for v in value if not isinstance(v, Reset)]
    if isinstance(value, Override):
        return _without_tags(value.value)
    return value
