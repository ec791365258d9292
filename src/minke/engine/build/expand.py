"""Variable substitution in Dockerfile words, as buildkit's ``shell.Lex`` does it.

``$NAME`` and ``${NAME}``, with the modifiers ``${NAME:-word}`` / ``${NAME-word}``
(default), ``${NAME:+word}`` / ``${NAME+word}`` (alternative), ``${NAME:?msg}`` /
``${NAME?msg}`` (required), ``${NAME#pat}`` ``##`` ``%`` ``%%`` (prefix/suffix removal with
glob patterns) and ``${NAME/pat/repl}`` ``//``. Single quotes are literal; in double quotes
the escape token escapes only ``$``, ``"`` and itself; outside quotes it escapes any
character. ``process_word`` keeps whitespace; ``process_words`` splits on unquoted
whitespace (quotes are removed either way). Knows nothing of instructions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from fnmatch import translate

from minke.errors import InvalidParameter


class _Lexer:
    def __init__(self, text: str, env: Mapping[str, str], escape: str, split: bool) -> None:
        self.text = text
        self.pos = 0
        self.env = env
        self.escape = escape
        self.split = split
        self.words: list[str] = []
        self.used: set[str] = set()

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def next(self) -> str:
        ch = self.peek()
        self.pos += 1
        return ch

    def run(self, stop: str = "") -> str:
        """Process until ``stop`` (unquoted, unescaped) or the end; with ``split`` the
        finished words are collected in ``words``."""
        word: list[str] = []
        in_word = False
        while self.pos < len(self.text):
            ch = self.peek()
            if stop and ch in stop:
                break
            if self.split and ch.isspace():
                self.pos += 1
                if in_word:
                    self.words.append("".join(word))
                    word, in_word = [], False
                continue
            in_word = True
            if ch == self.escape:
                self.pos += 1
                if self.pos >= len(self.text):
                    word.append(ch)  # a trailing escape token is kept as it is
                else:
                    word.append(self.next())
            elif ch == "'":
                word.append(self.single_quoted())
            elif ch == '"':
                word.append(self.double_quoted())
            elif ch == "$":
                word.append(self.dollar())
            else:
                word.append(self.next())
        if self.split and in_word:
            self.words.append("".join(word))
        return "".join(word)

    def single_quoted(self) -> str:
        self.pos += 1
        end = self.text.find("'", self.pos)
        if end < 0:
            raise InvalidParameter("unexpected end of statement while looking for matching '")
        out = self.text[self.pos : end]
        self.pos = end + 1
        return out

    def double_quoted(self) -> str:
        self.pos += 1
        out: list[str] = []
        while True:
            if self.pos >= len(self.text):
                raise InvalidParameter(
                    'unexpected end of statement while looking for matching double-quote'
                )
            ch = self.peek()
            if ch == '"':
                self.pos += 1
                return "".join(out)
            if ch == "$":
                out.append(self.dollar())
            elif ch == self.escape:
                self.pos += 1
                nxt = self.peek()
                if nxt in ('"', "$", self.escape) and nxt:
                    out.append(self.next())
                else:
                    out.append(ch)
            else:
                out.append(self.next())

    def name(self) -> str:
        start = self.pos
        if self.peek().isdigit():
            self.pos += 1  # positional parameters are one digit
            return self.text[start : self.pos]
        while self.peek() and (self.peek().isalnum() or self.peek() == "_"):
            self.pos += 1
        return self.text[start : self.pos]

    def lookup(self, name: str) -> str | None:
        self.used.add(name)
        return self.env.get(name)

    def dollar(self) -> str:
        self.pos += 1  # the "$"
        if self.peek() != "{":
            name = self.name()
            if not name:
                return "$"
            return self.lookup(name) or ""
        self.pos += 1
        name = self.name()
        if not name:
            raise InvalidParameter(f"missing or invalid variable name in {self.text!r}")
        ch = self.next()
        value = self.lookup(name)
        if ch == "}":
            return value or ""
        if ch == ":":
            modifier = self.next()
            word = self.sub_word()
            if modifier == "-":
                return value if value else word
            if modifier == "+":
                return word if value else ""
            if modifier == "?":
                if not value:
                    raise InvalidParameter(f"{name}: {word or 'is not allowed to be unset'}")
                return value
            raise InvalidParameter(f"unsupported modifier (:{modifier}) in substitution")
        if ch in "-+?":
            word = self.sub_word()
            if ch == "-":
                return value if value is not None else word
            if ch == "+":
                return word if value is not None else ""
            if value is None:
                raise InvalidParameter(f"{name}: {word or 'is not allowed to be unset'}")
            return value
        if ch in "#%":
            longest = self.peek() == ch
            if longest:
                self.pos += 1
            pattern = self.sub_word()
            return _trim(value or "", pattern, prefix=ch == "#", longest=longest)
        if ch == "/":
            every = self.peek() == "/"
            if every:
                self.pos += 1
            pattern = self.run(stop="/}")
            repl = ""
            if self.next() == "/":
                repl = self.sub_word()
            return _replace(value or "", pattern, repl, every)
        raise InvalidParameter(f"unsupported modifier ({ch}) in substitution")

    def sub_word(self) -> str:
        """The word of a modifier, up to the closing brace (itself expanded)."""
        saved = self.split
        self.split = False
        word = self.run(stop="}")
        self.split = saved
        if self.next() != "}":
            raise InvalidParameter(f"syntax error: missing '}}' in {self.text!r}")
        return word


def _glob(pattern: str) -> str:
    return translate(pattern)[4:-3]  # fnmatch's "(?s:...)\\Z" without its anchors


def _trim(value: str, pattern: str, *, prefix: bool, longest: bool) -> str:
    regex = re.compile(_glob(pattern), re.S)
    spans = range(len(value) + 1)
    if prefix:
        order = reversed(spans) if longest else spans
        for i in order:
            if regex.fullmatch(value[:i]):
                return value[i:]
    else:
        order = spans if longest else reversed(spans)
        for i in order:
            if regex.fullmatch(value[i:]):
                return value[:i]
    return value


def _replace(value: str, pattern: str, repl: str, every: bool) -> str:
    if not pattern:
        return value
    regex = re.compile(_glob(pattern), re.S)
    return regex.sub(lambda _: repl, value, count=0 if every else 1)


def process_word(word: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """``word`` with variables substituted and quotes and escapes removed."""
    return _Lexer(word, env, escape, split=False).run()


def process_words(word: str, env: Mapping[str, str], escape: str = "\\") -> list[str]:
    """As ``process_word``, split into words on unquoted whitespace."""
    lexer = _Lexer(word, env, escape, split=True)
    lexer.run()
    return lexer.words


def used_names(word: str, env: Mapping[str, str], escape: str = "\\") -> set[str]:
    """The variable names ``word`` refers to (for the build-arg warnings and cache)."""
    lexer = _Lexer(word, env, escape, split=False)
    lexer.run()
    return lexer.used
