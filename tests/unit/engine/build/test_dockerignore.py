"""``.dockerignore`` rules: cleaning, globs, ``**``, exceptions, parent directories."""

from __future__ import annotations

import pytest

from minke.engine.build.dockerignore import Matcher, read_patterns

RULES = """\
# a comment
*.md
!README.md
**/*.log
 /secret/
docs/**
!docs/keep.txt
temp?
[ab].bin
"""


@pytest.mark.parametrize(("path", "excluded"), [
    ("a.md", True), ("README.md", False), ("sub/a.md", False),  # * stays in one component
    ("c.log", True), ("x/y/z.log", True), ("secret", True), ("secret/key", True),
    ("docs/a", True), ("docs/keep.txt", False), ("temp1", True), ("temp12", False),
    ("a.bin", True), ("c.bin", False), ("src/main.py", False),
])
def test_matches(path: str, excluded: bool) -> None:
    assert Matcher(read_patterns(RULES)).excluded(path) is excluded


def test_read_patterns_cleans() -> None:
    assert read_patterns("#x\n  ./a/../b/  \n!/c\n\n") == ["b", "!c"]


def test_last_match_wins() -> None:
    m = Matcher(["!keep", "*"])
    assert m.excluded("keep")
    assert not Matcher(["*", "!keep"]).excluded("keep")
