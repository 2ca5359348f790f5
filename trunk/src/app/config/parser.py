"""The nginx-like config syntax of SRS (SrsConfDirective::parse_conf / read_token) plus 5.0's include.

    listen 1935;
    vhost __defaultVhost__ { hls { enabled on; } }   # comment

A directive is a name and arguments ended by ``;`` or followed by a ``{ ... }`` block. Tokens split on
space, tab, CR and LF; ``'...'`` and ``"..."`` group a token (no escapes) and must be followed by a
separator. ``#`` starts a comment only where a token could start (``a#b`` is one token, as in SRS).
Every error is a ConfigError naming the file and line, so a user can jump to it.

The checker must end on any input, so everything is bounded: only regular files are read (never a
device, FIFO or directory: ``include /dev/zero;`` is an error, not an endless read), each at most
MAX_FILE_BYTES and all of a conf's files together at most MAX_TOTAL_BYTES and MAX_FILES reads;
includes nest at most MAX_INCLUDE_DEPTH deep and blocks MAX_BLOCK_DEPTH deep (the tree is walked
recursively), with at most MAX_DIRECTIVES directives in all. The text must be UTF-8 without control
characters other than tab, CR and LF.
"""
from __future__ import annotations

import errno
import os
import re
import stat
from typing import Callable, Iterator, List, Optional, Sequence, Tuple

from srs.kernel.errors import (ERROR_SYSTEM_CONFIG_BLOCK_END, ERROR_SYSTEM_CONFIG_BLOCK_START,
                               ERROR_SYSTEM_CONFIG_DIRECTIVE, ERROR_SYSTEM_CONFIG_EOF,
                               ERROR_SYSTEM_CONFIG_INVALID, ConfigError)

_SPACES = " \t\r\n"

MAX_FILE_BYTES = 4 << 20      # SRS's full.conf is 100 KB
MAX_TOTAL_BYTES = 16 << 20    # a conf with all its includes
MAX_FILES = 256               # file reads per conf (the same file included twice counts twice)
MAX_INCLUDE_DEPTH = 16
MAX_BLOCK_DEPTH = 32          # the deepest SRS block is vhost.ingest.engine.vfilter (4)
MAX_DIRECTIVES = 100_000      # full.conf has 400; checking costs ~60 us a vhost, so this bounds it to seconds

# C0 controls but tab, LF and CR; DEL; lone surrogates (a str made from undecodable bytes)
_BAD_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")

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


def clip(text: str, limit: int = 60) -> str:
    """A name or value for an error message: cut short (a 1 MB token must not make a 1 MB line) and with
    anything unprintable escaped (a U+2028 must not break the line)."""
    text = text if len(text) <= limit else text[:limit] + "..."
    return text if text.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def clip_path(path: str, limit: int = 200) -> str:
    """As clip, keeping the end of a long path (the file name is the useful part)."""
    return clip(path if len(path) <= limit else "..." + path[-limit:], limit + 3)


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
    """Builds the Directive tree of a file, following ``include`` (a relative name: against the working
    directory as SRS, else the including file's folder).

    ``read_file(path, limit) -> bytes`` reads one file (tests pass their own); the default reads
    only regular files and raises OSError past ``limit`` bytes.
    """

    def __init__(self, read_file: Optional[Callable[[str, int], bytes]] = None):
        self._read_file = read_file or read_conf_bytes
        self._stack: List[str] = []  # real paths being parsed, to detect include loops
        self._files = 0              # reads so far, bounded by MAX_FILES
        self._bytes = 0              # bytes so far, bounded by MAX_TOTAL_BYTES
        self._directives = 0         # bounded by MAX_DIRECTIVES

    def parse_file(self, path: str) -> Directive:
        root = Directive("", file=path, line=0, block=True)
        self._parse_into(root, path, None, 0)
        return root

    def parse_text(self, text: str, file: str = "<text>") -> Directive:
        root = Directive("", file=file, line=0, block=True)
        _check_chars(text, file)
        self._stack.append(file)
        try:
            self._parse_block(root, _Tokenizer(text, file), 0, top=True)
        finally:
            self._stack.pop()
        return root

    def _parse_into(self, parent: Directive, path: str, include: Optional[Directive], depth: int) -> None:
        """Parse the file ``path`` into ``parent`` (``depth`` blocks deep); ``include`` names the line."""
        def error(message: str) -> ConfigError:
            if include is None:
                return ConfigError(message, file=path)
            return ConfigError(message, file=include.file, line=include.line)

        real = os.path.realpath(path)
        if real in self._stack:
            chain = " -> ".join(os.path.basename(p) for p in self._stack)
            raise error("include loop: %s includes itself (via %s)" % (clip_path(path), clip(chain, 200)))
        if len(self._stack) > MAX_INCLUDE_DEPTH:
            raise error("include %s: includes nested more than %d deep" % (clip_path(path), MAX_INCLUDE_DEPTH))
        if self._files >= MAX_FILES:
            raise error("include %s: more than %d file reads for one conf" % (clip_path(path), MAX_FILES))
        try:
            data = self._read_file(path, MAX_FILE_BYTES)
        except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
            what = "include %s" % clip_path(path) if include is not None else "open config %s" % clip_path(path)
            raise error("%s failed: %s" % (what, getattr(exc, "strerror", None) or exc)) from exc
        self._files += 1
        self._bytes += len(data)
        if self._bytes > MAX_TOTAL_BYTES:
            raise error("include %s: the conf and its includes are more than %d bytes"
                        % (clip_path(path), MAX_TOTAL_BYTES))
        text = _decode(data, path)
        self._stack.append(real)
        try:
            self._parse_block(parent, _Tokenizer(text, path), depth, top=True)
        finally:
            self._stack.pop()

    def _parse_block(self, parent: Directive, tok: _Tokenizer, depth: int, top: bool) -> None:
        """Directives up to the end of the file (``top``) or the ``}`` closing ``parent``."""
        while True:
            kind, args, line = tok.read()
            if kind == _EOF:
                if not top:
                    raise tok.error('unexpected end of file, expecting "}" to close "%s" of line %d'
                                    % (clip(parent.name), parent.line), ERROR_SYSTEM_CONFIG_EOF)
                return
            if kind == _BLOCK_END:
                if top:
                    raise tok.error('unexpected "}"', ERROR_SYSTEM_CONFIG_BLOCK_END)
                return
            self._directives += 1
            if self._directives > MAX_DIRECTIVES:
                raise tok.error("more than %d directives" % MAX_DIRECTIVES, ERROR_SYSTEM_CONFIG_DIRECTIVE, line)
            node = Directive(args[0], args[1:], file=tok.file, line=line, block=(kind == _BLOCK_START))
            if node.name == "include" and kind == _END:
                self._include(parent, node, depth)
                continue
            if kind == _BLOCK_START:
                if depth >= MAX_BLOCK_DEPTH:
                    raise tok.error("blocks nested more than %d deep" % MAX_BLOCK_DEPTH,
                                    ERROR_SYSTEM_CONFIG_BLOCK_START, line)
                self._parse_block(node, tok, depth + 1, top=False)
            parent.children.append(node)

    def _include(self, parent: Directive, node: Directive, depth: int) -> None:
        if not node.args:
            raise ConfigError("include needs at least one file", file=node.file, line=node.line)
        base = os.path.dirname(node.file) if not node.file.startswith("<") else os.getcwd()
        for name in node.args:
            if not name:
                raise ConfigError("include of an empty file name", file=node.file, line=node.line)
            # SRS opens the name as given, so a relative one is against the working directory (its
            # include.conf says `include ./conf/include.vhost.conf;`, run from trunk/); when no such
            # file is there, the including file's folder (this server's earlier rule) is tried
            path = name if os.path.isabs(name) or os.path.lexists(name) else os.path.join(base, name)
            self._parse_into(parent, path, node, depth)


def read_conf_bytes(path: str, limit: int) -> bytes:
    """The bytes of the regular file ``path``; OSError for anything else or for more than ``limit`` bytes.

    Opened non-blocking, so a FIFO cannot stall the open, and checked with fstat on the open file
    (no window between a stat and the open); a device or directory is refused before any read.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
            raise OSError(errno.EINVAL, kind)
        if st.st_size > limit:
            raise OSError(errno.EFBIG, "%d bytes, more than the %d allowed" % (st.st_size, limit))
        chunks, size = [], 0
        while True:  # the file may grow after fstat: read at most limit + 1 bytes
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise OSError(errno.EFBIG, "more than the %d bytes allowed" % limit)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _decode(data: bytes, file: str) -> str:
    """UTF-8 text, else a ConfigError at the line of the first bad byte."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError("invalid UTF-8 byte 0x%02x" % data[exc.start], file=file, line=line) from None
    _check_chars(text, file)
    return text


def _check_chars(text: str, file: str) -> None:
    """No NUL or other control character (they end up in paths and logs), no lone surrogate."""
    bad = _BAD_CHAR.search(text)
    if bad is not None:
        line = text.count("\n", 0, bad.start()) + 1
        raise ConfigError("invalid character %r" % bad.group(), file=file, line=line)


def parse_text(text: str, file: str = "<text>") -> Directive:
    return Parser().parse_text(text, file)


def parse_file(path: str) -> Directive:
    return Parser().parse_file(path)
