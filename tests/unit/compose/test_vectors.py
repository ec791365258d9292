"""The compose-go interpolation and dotenv vectors (shared/reference/compose-vectors)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from minke.compose.loader import dotenv
from minke.compose.loader.interpolation import TemplateError, substitute

VECTORS = Path(__file__).resolve().parents[4] / "shared" / "reference" / "compose-vectors"
INTERPOLATION = json.loads((VECTORS / "interpolation.json").read_text())["vectors"]
DOTENV = json.loads((VECTORS / "dotenv_lines.json").read_text())["vectors"]


@pytest.mark.parametrize("case", INTERPOLATION, ids=lambda c: f"{c['source']}:{c['template']}")
def test_interpolation_vector(case: dict) -> None:
    env = case["env"]
    if "error" in case:
        with pytest.raises(TemplateError) as info:
            substitute(case["template"], env.get)
        assert case["error"] in str(info.value)
    else:
        assert substitute(case["template"], env.get) == case["expected"]


@pytest.mark.parametrize("case", DOTENV, ids=lambda c: c["line"])
def test_dotenv_vector(case: dict) -> None:
    assert dotenv.parse(case["line"]) == {case["key"]: case["value"]}


def test_dotenv_multiline_and_expansion() -> None:
    text = 'A=1\nB="x\ny"\n# comment\nC=${A}-$A\nD=\'${A}\'\nexport E = e # c\n'
    assert dotenv.parse(text) == {"A": "1", "B": "x\ny", "C": "1-1", "D": "${A}", "E": "e"}


def test_vector_counts() -> None:
    assert len(INTERPOLATION) == 68 and len(DOTENV) == 51
