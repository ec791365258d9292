"""The Compose merge tags as values: ``!reset`` and ``!override``.

Apart from ``yamlfile`` (which makes them) so that the modules that only look at them
never import the YAML parser.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs milliseconds of start-up: for type checkers only
if TYPE_CHECKING:
    from typing import Any



class Reset:
    """``!reset``: drop the value inherited from earlier files."""

    def __repr__(self) -> str:
        return "!reset"


class Override:
    """``!override value``: replace the inherited value instead of merging with it."""

    # A plain class: dataclasses imports inspect, milliseconds on every command's start.
    def __init__(self, value: Any) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Override) and other.value == self.value

    def __repr__(self) -> str:
        return f"Override({self.value!r})"
