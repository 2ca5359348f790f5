"""The nginx-like config syntax of SRS (SrsConfDirective::parse_conf / read_token) plus 5.0's include.

    listen 1935;
    vhost __defaultVhost__ { hls { enabled on; } }   # comment

A directive is a name and arguments ended by ``;`` or followed by a ``{ ... }`` block. Tokens split on
space, tab, CR and LF; ``'...'`` and ``"..."`` group a token (no escapes) and must be followed by a
separator. ``#`` starts a comment only where a token could start (``a#b`` is one token, as in SRS).
Every error is a ConfigError naming the file and line, so a user can jump to it.
"""
from __future__ import annotations

import os
from typing import Iterator, List, Optional, Sequence, Tuple

from srs.kernel.errors import (ERROR_SYSTEM_CONFIG_BLOCK_END, ERROR_SYSTEM_CONFIG_BLOCK_START,
                               ERROR_SYSTEM_CONFIG_DIRECTIVE, ERROR_SYSTEM_CONFIG_EOF,
                               ERROR_SYSTEM_CONFIG_INVALID, ConfigError)

_SPACES = " \t\r\n"

# token kinds returned by the tokenizer
_END = ";"
_BLOCK_START = "{"
_BLOCK_END = "}"
_EOF = ""


class Directive:
    """One node of the config tree: ``name args... ;`` or ``name args... { children }``.

    ``file``/``line`` locate the directive's name so the checker can point at it. The root of a
    parsed file is a Directive with an empty name whose children are the top-level directives.
    """

    __slots__ = ("name", "args", "children", "file", "line", "block")

    def __init__(self, name: str, args: Sequence[str] = (), children: Optional[List["Directive"]] = None,
                 file: str = "", line: int = 0, block: bool = False):
        self.name = name
        self.args: Tuple[str, ...] = tuple(args)
        self.children: List[Directive] = list(children) if children else []
        self.file = file
        self.line = line
        # True when written with braces, even empty ones (so `forward a;` and `forward {}` differ)
        self.block = block or bool(children)

    def get(self, name: str) -> Optional["Directive"]:
        """The first child named ``name`` (SRS: same-name directives, the first one wins)."""
        for child in self.children:
            if child.name == name:
                return child
        return None

    def get_all(self, name: str) -> List["Directive"]:
        return [child for child in self.children if child.name == name]

    def arg(self, index: int = 0, default: Optional[str] = None) -> Optional[str]:
        return self.args[index] if index < len(self.args) else default

    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def walk(self) -> Iterator["Directive"]:
        for child in self.children:
            yield child
            yield from child.walk()

    def __eq__(self, other: object) -> bool:
        # structural equality; locations do not matter (a moved line is not a config change)
        if not isinstance(other, Directive):
            return NotImplemented
        return (self.name, self.args, self.children) == (other.name, other.args, other.children)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        body = " {...%d}" % len(self.children) if self.block else ";"
        return f"Directive({self.name} {' '.join(self.args)}{body} @{self.where()})"

    def dumps(self, indent: int = 0) -> str:
        """Serialise back to config text (used by tests and the raw API's query)."""
        lines = []
        for child in self.children:
            head = " " * indent + " ".join([child.name, *(_quote(a) for a in child.args)])
            if child.block:
                lines.append(head + " {")
                inner = child.dumps(indent + 4)
                if inner:
                    lines.append(inner)
                lines.append(" " * indent + "}")
            else:
                lines.append(head + ";")
        return "\n".join(lines)


def _quote(arg: str) -> str:
    if arg == "" or any(c in arg for c in _SPACES + ";{}#'\""):
        return "'" + arg + "'" if "'" not in arg else '"' + arg + '"'
    return arg


class _Tokenizer:
    """SRS's read_token state machine over a whole text (config files are small)."""

    def __init__(self, text: str, file: str):
        self.text = text
        self.file = file
        self.pos = 0
        self.line = 1

    def error(self, message: str, code: int = ERROR_SYSTEM_CONFIG_INVALID, line: int = 0) -> ConfigError:
        return ConfigError(message, file=self.file, line=line or self.line, code=code)

    def read(self) -> Tuple[str, List[str], int]:
        """Returns (kind, args, line of the first arg) where kind is ``;``, ``{``, ``}`` or EOF."""
        text, n = self.text, len(self.text)
        args: List[str] = []
        first_line = self.line
        last_space = True      # between tokens
        need_space = False     # right after a closing quote
        comment = False
        quote = ""             # the open quote char while inside a quoted token
        quote_line = 0
        start = 0
        while True:
            if self.pos >= n:
                if quote:
                    raise self.error("unterminated quote %s" % quote, ERROR_SYSTEM_CONFIG_EOF, quote_line)
                if args or not last_space:
                    raise self.error('unexpected end of file, expecting ";" or "}"', ERROR_SYSTEM_CONFIG_EOF)
                return _EOF, args, first_line
            ch = text[self.pos]
            self.pos += 1
            if ch == "\n":
                self.line += 1
                comment = False
            if comment:
                continue
            if need_space:
                if ch in _SPACES:
                    last_space, need_space = True, False
                    continue
                if ch == ";":
                    return _END, args, first_line
                if ch == "{":
                    return _BLOCK_START, args, first_line
                raise self.error("unexpected '%s' after a quoted token" % ch, ERROR_SYSTEM_CONFIG_DIRECTIVE)
            if last_space:
                if ch in _SPACES:
                    continue
                if ch == ";":
                    if not args:
                        raise self.error("empty directive (unexpected ';')", ERROR_SYSTEM_CONFIG_DIRECTIVE)
                    return _END, args, first_line
                if ch == "{":
                    if not args:
                        raise self.error("empty directive (unexpected '{')", ERROR_SYSTEM_CONFIG_BLOCK_START)
                    return _BLOCK_START, args, first_line
                if ch == "}":
                    if args:
                        raise self.error("unexpected '}' (missing ';'?)", ERROR_SYSTEM_CONFIG_BLOCK_END)
                    return _BLOCK_END, args, self.line
                if ch == "#":
                    comment = True
                    continue
                if not args:
                    first_line = self.line
                last_space = False
                if ch in "\"'":
                    quote, quote_line, start = ch, self.line, self.pos
                else:
                    start = self.pos - 1
                continue
            # inside a token
            if quote:
                if ch == quote:
                    args.append(text[start:self.pos - 1])
                    quote = ""
                    need_space = True
                continue
            if ch in _SPACES or ch == ";" or ch == "{":
                args.append(text[start:self.pos - 1])
                last_space = True
                if ch == ";":
                    return _END, args, first_line
                if ch == "{":
                    return _BLOCK_START, args, first_line


class Parser:
    """Builds the Directive tree of a file, following ``include`` (relative to the including file)."""

    def __init__(self, read_file=None):
        self._read_file = read_file or _read_text
        self._stack: List[str] = []  # real paths being parsed, to detect include loops

    def parse_file(self, path: str) -> Directive:
        root = Directive("", file=path, line=0, block=True)
        self._parse_into(root, path, None)
        return root

    def parse_text(self, text: str, file: str = "<text>") -> Directive:
        root = Directive("", file=file, line=0, block=True)
        self._stack.append(file)
        try:
            self._parse_block(root, _Tokenizer(text, file), top=True)
        finally:
            self._stack.pop()
        return root

    def _parse_into(self, parent: Directive, path: str, include: Optional[Directive]) -> None:
        real = os.path.realpath(path)
        if real in self._stack:
            raise ConfigError("include loop: %s includes itself (via %s)" % (path, " -> ".join(self._stack)),
                              file=include.file if include else path, line=include.line if include else 0)
        try:
            text = self._read_file(path)
        except OSError as exc:
            if include is None:
                raise ConfigError("open config %s failed: %s" % (path, exc.strerror or exc), file=path) from exc
            raise ConfigError("include %s failed: %s" % (path, exc.strerror or exc),
                              file=include.file, line=include.line) from exc
        self._stack.append(real)
        try:
            self._parse_block(parent, _Tokenizer(text, path), top=True)
        finally:
            self._stack.pop()

    def _parse_block(self, parent: Directive, tok: _Tokenizer, top: bool) -> None:
        while True:
            kind, args, line = tok.read()
            if kind == _EOF:
                if not top:
                    raise tok.error('unexpected end of file, expecting "}" to close "%s" of line %d'
                                    % (parent.name, parent.line), ERROR_SYSTEM_CONFIG_EOF)
                return
            if kind == _BLOCK_END:
                if top:
                    raise tok.error('unexpected "}"', ERROR_SYSTEM_CONFIG_BLOCK_END)
                return
            node = Directive(args[0], args[1:], file=tok.file, line=line, block=(kind == _BLOCK_START))
            if node.name == "include" and kind == _END:
                self._include(parent, node)
                continue
            if kind == _BLOCK_START:
                self._parse_block(node, tok, top=False)
            parent.children.append(node)

    def _include(self, parent: Directive, node: Directive) -> None:
        if not node.args:
            raise ConfigError("include needs at least one file", file=node.file, line=node.line)
        base = os.path.dirname(node.file) if not node.file.startswith("<") else os.getcwd()
        for name in node.args:
            path = name if os.path.isabs(name) else os.path.join(base, name)
            self._parse_into(parent, path, node)


def _read_text(path: str) -> str:
    with open(path, "r", encoding="utf-8", errors="replace") as fp:
        return fp.read()


def parse_text(text: str, file: str = "<text>") -> Directive:
    return Parser().parse_text(text, file)


def parse_file(path: str) -> Directive:
    return Parser().parse_file(path)
