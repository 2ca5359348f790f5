"""Tokenizer / parser of the nginx-like config syntax (SRS read_token semantics) and include."""
from __future__ import annotations

import os

import pytest

from srs.app.config.conf import Config
from srs.app.config import parser as config_parser
from srs.app.config.parser import Directive, parse_file, parse_text
from srs.kernel.errors import (ERROR_SYSTEM_CONFIG_BLOCK_END, ERROR_SYSTEM_CONFIG_EOF, ConfigError)


def tree(text):
    return [(d.name, d.args, [(c.name, c.args) for c in d.children]) for d in parse_text(text).children]


@pytest.mark.parametrize("text,expected", [
    ("listen 1935;", [("listen", ("1935",), [])]),
    ("listen 1935 19350;", [("listen", ("1935", "19350"), [])]),
    ("listen\t1935\r\n;", [("listen", ("1935",), [])]),
    ("a 1;b 2;", [("a", ("1",), []), ("b", ("2",), [])]),
    ("v x { a 1; b; }", [("v", ("x",), [("a", ("1",)), ("b", ())])]),
    ("v{a 1;}", [("v", (), [("a", ("1",))])]),
    ("v x {}", [("v", ("x",), [])]),
    # quotes keep spaces, ';', '{' and '#' inside one token
    ('key "a b;c{d#e";', [("key", ("a b;c{d#e",), [])]),
    ("key 'x \"y\"';", [("key", ('x "y"',), [])]),
    ("key '';", [("key", ("",), [])]),
    ('f "a"{ x 1; }', [("f", ("a",), [("x", ("1",))])]),
    # comments: full line, trailing, between args, at EOF without newline
    ("# c\nlisten 1935; # trailing\n", [("listen", ("1935",), [])]),
    ("listen # comment\n 1935;", [("listen", ("1935",), [])]),
    ("listen 1935;\n# last line without newline", [("listen", ("1935",), [])]),
    # '#' inside a token is part of it (SRS only starts comments where a token can start)
    ("a b#c;", [("a", ("b#c",), [])]),
    ("", []),
    ("  \n# only a comment\n", []),
])
def test_tokens(text, expected):
    assert tree(text) == expected


@pytest.mark.parametrize("text,line,fragment,code", [
    (";", 1, "empty directive", None),
    ("listen 1935;\n  ;", 2, "empty directive", None),
    ("{ a 1; }", 1, "empty directive", None),
    ("vhost a {\n enabled on;\n", 3, "expecting \"}\"", ERROR_SYSTEM_CONFIG_EOF),
    ("listen 1935", 1, "unexpected end of file", ERROR_SYSTEM_CONFIG_EOF),
    ("a 1;\nb 2", 2, "unexpected end of file", ERROR_SYSTEM_CONFIG_EOF),
    ("listen 1935;\n}", 2, 'unexpected "}"', ERROR_SYSTEM_CONFIG_BLOCK_END),
    ("v {\n a 1\n}", 3, "unexpected '}'", ERROR_SYSTEM_CONFIG_BLOCK_END),
    ('key "abc;\n\n', 1, "unterminated quote", ERROR_SYSTEM_CONFIG_EOF),
    ("key 'abc'x;", 1, "after a quoted token", None),
])
def test_syntax_errors(text, line, fragment, code):
    with pytest.raises(ConfigError) as info:
        parse_text(text, "t.conf")
    err = info.value
    assert err.file == "t.conf" and err.line == line, str(err)
    assert fragment in str(err)
    assert f"t.conf:{line}:" in str(err)
    if code is not None:
        assert err.code == code


def test_empty_file_is_conf_is_empty():
    with pytest.raises(ConfigError, match="conf is empty"):
        Config.parse_text("# nothing\n")


def test_directive_lines_and_lookup():
    root = parse_text("listen 1935;\n\nvhost a {\n  x 1;\n  x 2;\n}\nvhost b {}\n", "f.conf")
    vhosts = root.get_all("vhost")
    assert [v.args for v in vhosts] == [("a",), ("b",)]
    assert root.get("vhost").line == 3
    assert vhosts[0].get("x").args == ("1",)           # first wins
    assert [d.line for d in vhosts[0].get_all("x")] == [4, 5]
    assert vhosts[1].block and not vhosts[1].children
    assert root.get("missing") is None
    assert vhosts[0].arg(0) == "a" and vhosts[0].arg(3, "dflt") == "dflt"


def test_dumps_round_trip():
    text = "listen 1935;\nvhost a {\n    key 'x y';\n    e '';\n    b {\n    }\n}"
    root = parse_text(text)
    again = parse_text(root.dumps())
    assert again == root
    assert Directive("a", ("1",)) != Directive("a", ("2",))


# --- include ---------------------------------------------------------------------------------

def test_include_relative_to_including_file(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "main.conf").write_text("listen 1935;\ninclude sub/vhosts.conf;\n")
    (tmp_path / "sub" / "vhosts.conf").write_text("vhost a {\n  include a.inc;\n}\n")
    (tmp_path / "sub" / "a.inc").write_text("gop_cache off;\n")
    config = Config.load(str(tmp_path / "main.conf"))
    assert config.vhost("a").gop_cache is False
    root = parse_file(str(tmp_path / "main.conf"))
    gop = root.get("vhost").get("gop_cache")
    assert gop.file.endswith("a.inc") and gop.line == 1


def test_include_against_the_working_directory_first_as_srs(tmp_path, monkeypatch):
    """SRS opens an include as named: its include.conf says `include ./conf/include.vhost.conf;` and runs from
    trunk/. A file of that name in the working directory wins over one beside the including file."""
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "main.conf").write_text("listen 1935;\ninclude ./conf/vhost.conf;\n")
    (tmp_path / "conf" / "vhost.conf").write_text("vhost from_cwd {}\n")
    (tmp_path / "conf" / "conf").mkdir()
    (tmp_path / "conf" / "conf" / "vhost.conf").write_text("vhost beside {}\n")
    monkeypatch.chdir(tmp_path)
    assert Config.load("conf/main.conf").vhost_names() == ("from_cwd",)
    monkeypatch.chdir(tmp_path / "conf" / "conf")  # none there: the including file's folder
    assert Config.load(str(tmp_path / "conf" / "main.conf")).vhost_names() == ("beside",)


def test_include_several_files(tmp_path):
    (tmp_path / "main.conf").write_text("include l.conf v.conf;\n")
    (tmp_path / "l.conf").write_text("listen 1935;")
    (tmp_path / "v.conf").write_text("vhost v {}")
    assert Config.load(str(tmp_path / "main.conf")).vhost_names() == ("v",)


def test_include_missing_file_names_the_include_line(tmp_path):
    (tmp_path / "main.conf").write_text("listen 1935;\n\ninclude nope.conf;\n")
    with pytest.raises(ConfigError) as info:
        Config.load(str(tmp_path / "main.conf"))
    assert info.value.line == 3 and info.value.file.endswith("main.conf")
    assert "nope.conf" in str(info.value)


def test_include_error_names_included_file_and_line(tmp_path):
    (tmp_path / "main.conf").write_text("listen 1935;\ninclude bad.conf;\n")
    (tmp_path / "bad.conf").write_text("vhost a {\n\n  foo 1;\n}\n")
    with pytest.raises(ConfigError) as info:
        Config.load(str(tmp_path / "main.conf"))
    assert info.value.file.endswith("bad.conf") and info.value.line == 3
    assert "unknown directive vhost.foo" in str(info.value)
    (tmp_path / "bad.conf").write_text("vhost a {\n")
    with pytest.raises(ConfigError) as info:
        Config.load(str(tmp_path / "main.conf"))
    assert info.value.file.endswith("bad.conf")


def test_include_loop_detected(tmp_path):
    (tmp_path / "a.conf").write_text("listen 1935;\ninclude b.conf;\n")
    (tmp_path / "b.conf").write_text("include a.conf;\n")
    with pytest.raises(ConfigError, match="include loop") as info:
        Config.load(str(tmp_path / "a.conf"))
    assert info.value.file.endswith("b.conf") and info.value.line == 1
    (tmp_path / "self.conf").write_text("include self.conf;\n")
    with pytest.raises(ConfigError, match="include loop"):
        Config.load(str(tmp_path / "self.conf"))


def test_same_file_included_twice_is_not_a_loop(tmp_path):
    (tmp_path / "main.conf").write_text("listen 1935;\nvhost a { include p.inc; }\nvhost b { include p.inc; }\n")
    (tmp_path / "p.inc").write_text("tcp_nodelay on;\n")
    config = Config.load(str(tmp_path / "main.conf"))
    assert config.vhost("a").tcp_nodelay and config.vhost("b").tcp_nodelay


def test_missing_main_file():
    with pytest.raises(ConfigError, match="open config"):
        Config.load("/nonexistent/srs.conf")


# --- bounds: the checker ends on any input ------------------------------------------------------

@pytest.mark.parametrize("target,fragment", [
    ("/dev/zero", "include /dev/zero failed: not a regular file"),
    ("/dev/null", "not a regular file"),
    ("{tmp}", "failed: a directory"),
    ("{tmp}/fifo", "fifo failed: not a regular file"),  # opened blocking, this would wait for a writer
])
def test_include_reads_only_regular_files(tmp_path, target, fragment):
    os.mkfifo(str(tmp_path / "fifo"))
    (tmp_path / "main.conf").write_text("listen 1935;\n\ninclude %s;\n" % target.format(tmp=tmp_path))
    with pytest.raises(ConfigError) as info:
        Config.load(str(tmp_path / "main.conf"))
    assert info.value.line == 3 and info.value.file.endswith("main.conf") and fragment in str(info.value)


def test_main_file_must_be_regular(tmp_path):
    os.mkfifo(str(tmp_path / "fifo.conf"))
    for path in ("/dev/zero", str(tmp_path), str(tmp_path / "fifo.conf")):
        with pytest.raises(ConfigError, match="open config .* failed: (not a regular file|a directory)"):
            Config.load(path)


def test_file_size_is_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(config_parser, "MAX_FILE_BYTES", 1000)
    (tmp_path / "big.inc").write_text("# " + "x" * 1000 + "\n")
    (tmp_path / "main.conf").write_text("listen 1935;\ninclude big.inc;\n")
    with pytest.raises(ConfigError, match="include .*big.inc failed: 1003 bytes, more than the 1000 allowed") as info:
        Config.load(str(tmp_path / "main.conf"))
    assert info.value.line == 2
    (tmp_path / "big.inc").write_text("# " + "x" * 990 + "\n")
    Config.load(str(tmp_path / "main.conf"))


def test_total_bytes_and_reads_are_bounded(tmp_path, monkeypatch):
    """Each file includes the next one twice: 2**12 reads of small files unless the reads are counted."""
    for n in range(12):
        (tmp_path / ("f%d.inc" % n)).write_text("include f%d.inc f%d.inc;\n" % (n + 1, n + 1))
    (tmp_path / "f12.inc").write_text("# " + "x" * 100 + "\n")
    (tmp_path / "main.conf").write_text("listen 1935;\ninclude f0.inc;\n")
    with pytest.raises(ConfigError, match="more than 256 file reads for one conf"):
        Config.load(str(tmp_path / "main.conf"))
    monkeypatch.setattr(config_parser, "MAX_TOTAL_BYTES", 5000)
    with pytest.raises(ConfigError, match="f12.inc: the conf and its includes are more than 5000 bytes") as info:
        Config.load(str(tmp_path / "main.conf"))
    assert info.value.file.endswith("f11.inc") and info.value.line == 1


def test_include_depth_is_bounded(tmp_path):
    for n in range(20):
        (tmp_path / ("d%d.inc" % n)).write_text("include d%d.inc;\n" % (n + 1))
    (tmp_path / "d20.inc").write_text("daemon off;\n")
    (tmp_path / "main.conf").write_text("listen 1935;\ninclude d0.inc;\n")
    with pytest.raises(ConfigError, match="includes nested more than 16 deep") as info:
        Config.load(str(tmp_path / "main.conf"))
    assert info.value.line == 1 and info.value.file.endswith(".inc")


def test_block_depth_is_bounded():
    ok = "listen 1935;\n" + "a {\n" * 32 + "}\n" * 32
    assert len(list(parse_text(ok).walk())) == 33
    with pytest.raises(ConfigError, match="blocks nested more than 32 deep") as info:
        parse_text("listen 1935;\n" + "a {\n" * 20000, "t.conf")
    assert info.value.line == 34


def test_directive_count_is_bounded(tmp_path, monkeypatch):
    """Checking costs time per vhost: 250,000 distinct vhosts in 4 MB took 15 s before this bound."""
    monkeypatch.setattr(config_parser, "MAX_DIRECTIVES", 1000)
    (tmp_path / "many.inc").write_text("".join("vhost v%d {}\n" % n for n in range(999)))
    (tmp_path / "main.conf").write_text("listen 1935;\ninclude many.inc;\n")  # 2 directives, the include too
    with pytest.raises(ConfigError, match="more than 1000 directives") as info:
        Config.load(str(tmp_path / "main.conf"))
    assert info.value.file.endswith("many.inc") and info.value.line == 999
    (tmp_path / "many.inc").write_text("".join("vhost v%d {}\n" % n for n in range(998)))
    assert len(Config.load(str(tmp_path / "main.conf")).vhosts) == 998


@pytest.mark.parametrize("data,line,fragment", [
    (b"listen 1935;\n\ndaemon \x00off;\n", 3, "invalid character '\\x00'"),
    (b"listen 1935;\n# a comment \x01\n", 2, "invalid character '\\x01'"),
    (b"listen 1935;\nvhost \x7f {}\n", 2, "invalid character '\\x7f'"),
    (b"listen 1935;\nvhost \xbe\xff {}\n", 2, "invalid UTF-8 byte 0xbe"),
    (b"listen 1935;\n\n\nvhost \xed\xa0\x80 {}\n", 4, "invalid UTF-8 byte 0xed"),  # an encoded surrogate
])
def test_text_is_utf8_without_control_characters(tmp_path, data, line, fragment):
    (tmp_path / "t.conf").write_bytes(data)
    with pytest.raises(ConfigError) as info:
        Config.load(str(tmp_path / "t.conf"))
    assert info.value.line == line and fragment in str(info.value), str(info.value)


def test_text_keeps_tabs_crlf_and_non_ascii(tmp_path):
    (tmp_path / "t.conf").write_bytes("listen\t1935;\r\n# caf\u00e9\r\nvhost v\u00e9 {}\r\n".encode())
    assert Config.load(str(tmp_path / "t.conf")).vhost_names() == ("v\u00e9",)
    with pytest.raises(ConfigError, match="invalid character '\\\\udcbe'"):
        parse_text("listen 1935;\nvhost \udcbe {}\n")


def test_error_messages_stay_short():
    with pytest.raises(ConfigError) as info:
        Config.parse_text("listen 1935;\n" + "x" * 1000000 + " 1;\n")
    assert len(str(info.value)) < 200 and "x" * 60 + "..." in str(info.value)
    with pytest.raises(ConfigError) as info:
        Config.parse_text("listen 1935;\nvhost v { \u2028hls { } }\n")
    assert "\u2028" not in str(info.value) and "\\u2028hls" in str(info.value)
