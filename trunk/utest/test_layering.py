"""Enforces the layer rules: core < kernel < protocol < app < main, and sans-IO kernel/protocol.

Walks every module under srs/ with ast and fails on an import of a higher layer, or of an IO /
concurrency module (socket, select, gevent, threading, asyncio...) from core, kernel or protocol.

core, kernel and protocol also read no clock and draw no randomness (``time``, ``datetime``,
``random``, ``secrets``, ``os.urandom``): ``now_ms`` and random bytes are passed in, so their tests
are deterministic. The one exception is core/timeutil.py, which may import ``time`` to turn an
instant the caller gives into calendar fields (``gmtime``/``localtime`` with an argument, for log
lines and ``[2006]``-style path templates): the stdlib has no other way to apply the local time
zone, and reading the clock there stays forbidden.
"""
import ast
import collections
import pathlib

import pytest

SRC = pathlib.Path(__file__).resolve().parent.parent / "src"
LAYERS = ["core", "kernel", "protocol", "app", "main"]
SANS_IO_BANNED = {"socket", "select", "selectors", "gevent", "greenlet", "threading", "asyncio",
                  "subprocess", "signal", "multiprocessing", "ssl"}
# no clock, no randomness (see the module doc): modules, and attributes of modules that are allowed
PURE_BANNED = {"time", "datetime", "random", "secrets"}
PURE_BANNED_ATTRS = {("os", "urandom"), ("os", "getrandom")}
# the one module that may import ``time``, and only to convert an instant it is given
CALENDAR_MODULE = "core/timeutil.py"
CALENDAR_CALLS = {"gmtime", "localtime"}
CALENDAR_ATTRS = CALENDAR_CALLS | {"struct_time"}
PURE_LAYERS = ("core", "kernel", "protocol")


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
        if layer in PURE_LAYERS and parts[0] in SANS_IO_BANNED:
            problems.append(f"line {lineno}: sans-IO layer {layer} imports {name}")
        if layer == "core" and parts[0] == "srs" and name != "srs" and parts[1] != "core":
            problems.append(f"line {lineno}: core imports {name}")
    assert not problems, f"{path}: " + "; ".join(problems)


def clock_and_randomness_uses(path):
    """(line, what) for every import or use of a clock or a random source in ``path``."""
    rel = str(path.relative_to(SRC))
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [(node.module, alias.name) for alias in node.names]
        for module, attr in names:
            top = module.split(".")[0]
            if top in PURE_BANNED and not (rel == CALENDAR_MODULE and module == "time"
                                           and attr in (None, *CALENDAR_ATTRS)):
                yield node.lineno, f"imports {module}" + (f".{attr}" if attr else "")
            if (top, attr) in PURE_BANNED_ATTRS:
                yield node.lineno, f"imports {top}.{attr}"
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if (node.value.id, node.attr) in PURE_BANNED_ATTRS:
                yield node.lineno, f"uses {node.value.id}.{node.attr}"
            if (rel == CALENDAR_MODULE and node.value.id in ("time", "_time")
                    and node.attr not in CALENDAR_ATTRS):
                yield node.lineno, f"uses time.{node.attr} (only gmtime/localtime of a given instant)"
        if (rel == CALENDAR_MODULE and isinstance(node, ast.Call) and not node.args
                and isinstance(node.func, ast.Attribute) and node.func.attr in CALENDAR_CALLS):
            yield node.lineno, f"calls {node.func.attr}() without an instant (reads the clock)"


@pytest.mark.parametrize("path", [p for p, l in modules() if l in PURE_LAYERS],
                         ids=lambda v: str(v.relative_to(SRC)))
def test_pure_layers_read_no_clock_nor_randomness(path):
    problems = [f"line {lineno}: {what}" for lineno, what in clock_and_randomness_uses(path)]
    assert not problems, f"{path}: " + "; ".join(problems)


# No two modules import each other, directly or through others (issue 12 §1: a cycle is resolved, not hidden).
def module_name(path):
    parts = ["srs", *path.relative_to(SRC).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph():
    """module -> the srs modules it imports, at the top or inside a function (a lazy import
    hides a cycle from the interpreter, not from a reader)."""
    names = {module_name(p): p for p, _ in modules()}
    graph = collections.defaultdict(set)
    for name, path in names.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            graph[name].update(t for t in targets if t in names and t != name)
    return graph


def strongly_connected(graph):
    """Tarjan's components of more than one module (iterative: no recursion limit)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    counter = 0
    for root in list(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    component = set()
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        component.add(w)
                        if w == v:
                            break
                    if len(component) > 1:
                        found.append(frozenset(component))
    return found


def test_no_import_cycles():
    cycles = [sorted(c) for c in strongly_connected(import_graph())]
    assert not cycles, f"import cycles (split the shared part into a module both import): {cycles}"


def test_cycle_finder_sees_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert strongly_connected(graph) == [frozenset({"a", "b", "c"})]


def test_only_main_patches_and_handles_signals():
    for path, layer in modules():
        if layer == "main":
            continue
        text = path.read_text()
        assert "monkey.patch_all" not in text, f"{path}: only main monkey-patches"
        assert "signal.signal(" not in text, f"{path}: only main installs signal handlers"
