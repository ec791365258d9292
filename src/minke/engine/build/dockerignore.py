"""``.dockerignore``: reading the patterns and matching context paths, with Docker's rules
(moby/patternmatcher): ``#`` comments, patterns cleaned as paths relative to the context
root, ``*`` and ``?`` within one path component, ``**`` across any number of them, ``[...]``
classes, ``\\`` escapes, ``!`` exceptions, the last matching pattern wins, and a path is
excluded when it or one of its parent directories matches.

Standard library only, so that the ``minke build`` CLI can filter a directory context
before sending it (as the docker CLI does) with the same rules the daemon applies.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Pattern:
    text: str
    exclusion: bool
    regex: re.Pattern[str]
    dirs: int  # path components, for the parent-directory match


def read_patterns(text: str) -> list[str]:
    """The patterns of a ``.dockerignore`` file, cleaned as Docker's ``ReadAll`` does."""
    out: list[str] = []
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        pattern = line.strip()
        if not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = pattern[1:].strip()
        if pattern:
            pattern = posixpath.normpath(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        out.append("!" + pattern if invert else pattern)
    return out


def _compile(pattern: str) -> re.Pattern[str]:
    regex = ["^"]
    i, n = 0, len(pattern)
    in_class = False
    while i < n:
        ch = pattern[i]
        i += 1
        if in_class:
            if ch == "]":
                in_class = False
            if ch == "\\" and i < n:
                regex.append(re.escape(pattern[i]))
                i += 1
                continue
            regex.append("^" if ch == "!" and regex[-1] == "[" else ch)
            continue
        if ch == "*":
            if i < n and pattern[i] == "*":
                i += 1
                if i < n and pattern[i] == "/":
                    i += 1  # "**/" is "**"
                regex.append(".*" if i == n else "(.*/)?")
            else:
                regex.append("[^/]*")
        elif ch == "?":
            regex.append("[^/]")
        elif ch == "[":
            in_class = True
            regex.append("[")
        elif ch == "\\":
            if i < n:
                regex.append(re.escape(pattern[i]))
                i += 1
            else:
                regex.append(re.escape("\\"))
        else:
            regex.append(re.escape(ch))
    regex.append("$")
    try:
        return re.compile("".join(regex), re.S)
    except re.error as exc:
        raise ValueError(f"syntax error in pattern {pattern!r}: {exc}") from None


class Matcher:
    """Matches context-relative paths (``a/b/c``, no leading slash) against patterns."""

    def __init__(self, patterns: list[str]) -> None:
        self.patterns: list[Pattern] = []
        for raw in patterns:
            exclusion = raw.startswith("!")
            text = raw[1:] if exclusion else raw
            if not text:
                continue
            text = posixpath.normpath(text)
            self.patterns.append(
                Pattern(text, exclusion, _compile(text), len(text.split("/")))
            )

    @property
    def has_exclusions(self) -> bool:
        return any(p.exclusion for p in self.patterns)

    def excluded(self, path: str) -> bool:
        """Whether ``path`` is left out of the context."""
        path = posixpath.normpath(path.lstrip("/"))
        parents = path.split("/")[:-1]
        matched = False
        for pattern in self.patterns:
            hit = bool(pattern.regex.match(path))
            if not hit and parents:
                for i in range(len(parents)):
                    if pattern.regex.match("/".join(parents[: i + 1])):
                        hit = True
                        break
            if hit:
                matched = not pattern.exclusion
        return matched

    def may_include_under(self, directory: str) -> bool:
        """Whether an excluded ``directory`` may still hold included paths (an exception
        pattern reaching below it), so that a walk cannot skip it."""
        prefix = directory.rstrip("/") + "/"
        for pattern in self.patterns:
            if pattern.exclusion and (
                pattern.text.startswith(prefix) or "*" in pattern.text or "?" in pattern.text
                or "[" in pattern.text
            ):
                return True
        return False
