"""Checks made before anything runs: instructions, flags, stages, cycles, heredocs and
the parser's line numbers."""

from __future__ import annotations

import pytest

from minke.engine.build.instructions import plan, select
from minke.engine.build.parser import ParseError, parse


def _plan(text: str):  # type: ignore[no-untyped-def]
    return plan(parse(text))


@pytest.mark.parametrize(("text", "message"), [
    ("FROM busybox\n\nfroob x\n", "line 3: unknown instruction: FROOB"),
    ("FROM busybox\nCOPY --frob=1 a b\n", "line 2: Unknown flag: frob"),
    ("FROM busybox\nCOPY --from a b\n", "line 2: Missing a value on flag: from"),
    ("FROM busybox\nCOPY --chown=1 --chown=2 a b\n", "Duplicate flag specified: chown"),
    ("FROM busybox\nRUN --network=none\n", "RUN requires at least one argument"),
    ("FROM a b\n", "FROM requires either one or three arguments"),
    ("FROM busybox AS 1x\n", "invalid name for build stage"),
    ("FROM busybox AS a\nCOPY --from=a /x /y\n", "circular dependency detected on stage: a"),
    ("FROM b AS a\nFROM busybox AS b\n", "line 1: circular dependency detected on stage: b"),
    ("RUN true\n", "no build stage in current context"),
    ("FROM busybox\nSHELL sh -c\n", "SHELL requires the arguments to be in JSON form"),
    ("FROM busybox\nONBUILD FROM x\n", "FROM isn't allowed as an ONBUILD trigger"),
    ("FROM busybox\nONBUILD ONBUILD RUN x\n", "Chaining ONBUILD"),
    ("FROM busybox\nHEALTHCHECK FOO x\n", 'Unknown type "FOO" in HEALTHCHECK'),
    ("FROM busybox\nRUN <<EOF\necho\n", "line 2: unterminated heredoc"),
    ("# escape=x\nFROM busybox\n", "invalid escape token"),
])
def test_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(ParseError) as info:
        _plan(text)
    assert message in str(info.value)


def test_stages_targets_and_args() -> None:
    p = _plan("ARG V=1\nFROM busybox AS Base\nRUN a\nFROM base\nCOPY --from=Base /a /b\n"
              "FROM scratch AS last\n")
    assert [s.name for s in p.stages] == ["base", "", "last"]
    assert [i.cmd for i in p.global_args] == ["ARG"]
    assert len(select(p, "base")) == 1 and len(select(p, "")) == 3
    with pytest.raises(ParseError):
        select(p, "nope")


def test_heredocs_and_lines() -> None:
    nodes = parse("FROM busybox\nRUN <<EOF\na\n\tb\nEOF\nCOPY <<-X <<'Y' /d/\n\tx\n\tX\n$y\nY\n"
                  "RUN echo \\\n  done\n").nodes
    run, copy, last = nodes[1], nodes[2], nodes[3]
    assert run.heredocs[0].content == "a\n\tb\n" and (run.start_line, run.end_line) == (2, 5)
    assert copy.heredocs[0].content == "x\n" and copy.heredocs[0].chomp
    assert copy.heredocs[1].content == "$y\n" and not copy.heredocs[1].expand
    assert (last.start_line, last.end_line) == (11, 12) and last.args == ["echo   done"]
