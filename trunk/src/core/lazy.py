"""Heavy third-party modules imported on their first use, not at start.

PyAV (the FFmpeg libraries), pyOpenSSL with cryptography, and pylibsrtp add ~38 MB to every server
process, about half of an idle server's RSS, yet a server without WebRTC, MP4 DVR or snapshots never
calls them. The modules that need them hold a ``lazy_module`` instead: importlib's ``LazyLoader``
runs the real import on the first attribute access, and the module object then is the real one.
"""
from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy_module(name: str) -> ModuleType:
    """``name``, imported on first attribute access (at once if it is imported already).
    A package's submodule is an attribute of the loaded package: ``lazy_module("OpenSSL").SSL``."""
    module = sys.modules.get(name)
    if module is not None:
        return module
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ImportError(f"No module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module


def ensure_loaded(module: ModuleType) -> ModuleType:
    """Run a lazy module's import now, in this thread. Before Python 3.12 ``LazyLoader`` has no lock:
    code about to use the module from several OS threads at once loads it first."""
    getattr(module, "__name__")
    return module
