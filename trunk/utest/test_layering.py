"""Enforces the layer rules: core < kernel < protocol < app < main, and sans-IO kernel/protocol.

Walks every module under srs/ with ast and fails on an import of a higher layer, or of an IO /
concurrency module (socket, select, gevent, threading, asyncio...) from core, kernel or protocol.
"""
import ast
import pathlib

import pytest

SRC = pathlib.Path(__file__).resolve().parent.parent / "src"
LAYERS = ["core", "kernel", "protocol", "app", "main"]
SANS_IO_BANNED = {"socket", "select", "selectors", "gevent", "greenlet", "threading", "asyncio",
                  "subprocess", "signal", "multiprocessing", "ssl", "random", "secrets"}


def modules():
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        layer = rel.parts[0] if len(rel.parts) > 1 else None
        yield path, layer


def imports_of(path):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                # relative imports resolve inside the same package: map them to srs.<layer>
                rel = path.relative_to(SRC).parts
                base = ["srs", *rel[:-1]][: max(1, len(rel) - node.level + 1)]
                yield node.lineno, ".".join(base + ([node.module] if node.module else []))
            elif node.module:
                yield node.lineno, node.module


@pytest.mark.parametrize("path,layer", [(p, l) for p, l in modules() if l in LAYERS],
                         ids=lambda v: str(v.relative_to(SRC)) if isinstance(v, pathlib.Path) else "")
def test_layer_imports(path, layer):
    rank = LAYERS.index(layer)
    problems = []
    for lineno, name in imports_of(path):
        parts = name.split(".")
        if parts[0] == "srs" and len(parts) > 1 and parts[1] in LAYERS:
            if LAYERS.index(parts[1]) > rank:
                problems.append(f"line {lineno}: {layer} imports higher layer {name}")
        if layer in ("core", "kernel", "protocol") and parts[0] in SANS_IO_BANNED:
            problems.append(f"line {lineno}: sans-IO layer {layer} imports {name}")
        if layer == "core" and parts[0] == "srs" and name != "srs" and parts[1] != "core":
            problems.append(f"line {lineno}: core imports {name}")
    assert not problems, f"{path}: " + "; ".join(problems)


def test_only_main_patches_and_handles_signals():
    for path, layer in modules():
        if layer == "main":
            continue
        text = path.read_text()
        assert "monkey.patch_all" not in text, f"{path}: only main monkey-patches"
        assert "signal.signal(" not in text, f"{path}: only main installs signal handlers"
