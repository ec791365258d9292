"""The parser against buildkit's own parser test files (read from ../shared/reference, not
copied here): every ``testfiles/<case>`` must dump to its ``result``, every
``testfiles-negative/<case>`` must be refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from minke.engine.build.parser import ParseError, parse

REFERENCE = (
    Path(__file__).resolve().parents[4].parent / "shared/reference/buildkit-parser-testfiles"
)


def _cases(folder: str) -> list[Path]:
    root = REFERENCE / folder
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def _dump(text: bytes) -> str:
    return "".join(f"({node.dump()})\n" for node in parse(text).nodes)


@pytest.mark.skipif(not _cases("testfiles"), reason="buildkit parser test files not present")
@pytest.mark.parametrize("case", _cases("testfiles"), ids=lambda p: p.name)
def test_testfile(case: Path) -> None:
    expected = (case / "result").read_text()
    assert _dump((case / "Dockerfile").read_bytes()) == expected


@pytest.mark.skipif(not _cases("testfiles-negative"), reason="test files not present")
@pytest.mark.parametrize("case", _cases("testfiles-negative"), ids=lambda p: p.name)
def test_negative(case: Path) -> None:
    with pytest.raises(ParseError):
        parse((case / "Dockerfile").read_bytes())
