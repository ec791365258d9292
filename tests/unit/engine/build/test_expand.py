"""Variable substitution as buildkit's shell lexer does it."""

from __future__ import annotations

import pytest

from minke.engine.build.expand import process_word, process_words
from minke.errors import InvalidParameter

ENV = {"A": "hello", "EMPTY": "", "P": "/usr/local/bin"}


@pytest.mark.parametrize(("word", "expected"), [
    ("$A", "hello"), ("${A}x", "hellox"), ("x$A-y", "xhello-y"),
    ("${NOPE:-def}", "def"), ("${EMPTY:-def}", "def"), ("${EMPTY-def}", ""),
    ("${NOPE-def}", "def"), ("${A:+alt}", "alt"), ("${NOPE:+alt}", ""),
    ("${EMPTY+alt}", "alt"), ("${NOPE:-$A}", "hello"),
    ('"$A world"', "hello world"), ("'$A'", "$A"), ("a\\ b", "a b"), ("\\$A", "$A"),
    ('"a\\"b"', 'a"b'), ('"a\\b"', "a\\b"), ("$", "$"), ("a$", "a$"), ("${P#*/}", "usr/local/bin"),
    ("${P##*/}", "bin"), ("${P%/*}", "/usr/local"), ("${P%%/l*}", "/usr"),
    ("${A/l/L}", "heLlo"), ("${A//l/L}", "heLLo"), ("$NOPE", ""),
])
def test_process_word(word: str, expected: str) -> None:
    assert process_word(word, ENV) == expected


def test_backtick_escape() -> None:
    assert process_word("a`$A", ENV, escape="`") == "a$A"
    assert process_word("C:\\path", ENV, escape="`") == "C:\\path"


def test_words_split_outside_quotes() -> None:
    assert process_words('a "b c" $A \'d e\'', ENV) == ["a", "b c", "hello", "d e"]


@pytest.mark.parametrize("word", ["${NOPE:?must be set}", "${NOPE?}", "'open", '"open',
                                  "${A", "${}"])
def test_errors(word: str) -> None:
    with pytest.raises(InvalidParameter):
        process_word(word, ENV)
