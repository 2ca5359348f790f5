"""Top functions of a py-spy ``record --format raw`` profile (collapsed stacks).

Each line is ``frame;frame;...;leaf COUNT`` with frames as ``function (file:line)``. Self time
is the leaf's share of the samples; total time counts a function once per stack it is in.
Line numbers are dropped so a function's lines add up; paths are shortened to the package.
"""
from __future__ import annotations

import re
from collections import Counter

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def short_frame(frame: str) -> str:
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m.group("file")
    for marker in ("/src/", "/site-packages/", "/lib/python"):
        i = path.rfind(marker)
        if i >= 0:
            path = path[i + len(marker):]
            if marker == "/lib/python":
                path = path.split("/", 1)[-1]
            break
    return f"{m.group('func')} ({path})"


def top_functions(raw: str, n: int = 15, rate_hz: int = 100, seconds: float = 10.0) -> dict:
    """``{"samples", "active_pct", "top": [{"name", "self_pct", "total_pct"}]}``."""
    self_c: Counter = Counter()
    total_c: Counter = Counter()
    samples = 0
    for line in raw.splitlines():
        line = line.strip()
        if not line:
            continue
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        c = int(count)
        frames = [short_frame(f) for f in stack.split(";") if f]
        # py-spy puts the thread ("process 1:"/"thread (0x..)") first when asked; skip non-frames
        frames = [f for f in frames if "(" in f]
        if not frames:
            continue
        samples += c
        self_c[frames[-1]] += c
        for f in set(frames):
            total_c[f] += c
    top = []
    for name, c in self_c.most_common(n):
        top.append({"name": name, "self_pct": 100.0 * c / max(1, samples),
                    "total_pct": 100.0 * total_c[name] / max(1, samples)})
    return {"samples": samples, "active_pct": 100.0 * samples / max(1, rate_hz * seconds),
            "top": top}
