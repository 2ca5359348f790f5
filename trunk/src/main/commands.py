"""The commands ``pip install .`` puts on PATH (setup.cfg ``console_scripts``): ``srs``, the srs-bench
tools ``sb_*``, the librtmp tools ``srs_*`` and ``srs_ffmpeg``, the PyAV ffmpeg stand-in.

Each runs the module that ``make``'s launcher of the same name runs (srs.main.tools.MODULES), so a
checkout's ``./objs/srs_rtmp_dump`` and an installed ``srs_rtmp_dump`` are the same program. The
stand-in's launcher is ``objs/ffmpeg`` (inside objs/ it shadows nothing); on PATH it is
``srs_ffmpeg``, never ``ffmpeg``, so installing srs cannot hide the system's real ffmpeg.

An entry point ``name = srs.main.commands:name`` resolves through ``__getattr__`` below: the module
to run is imported only then (``srs`` must import the app layer after its monkey patching).
"""
from __future__ import annotations

import importlib
import sys
from typing import Callable

from srs.main.tools import MODULES

# command on PATH -> launcher name in MODULES
COMMANDS = {("srs_ffmpeg" if name == "ffmpeg" else name): name for name in MODULES}
CTRL_C_EXIT = 130  # a shell's code for a program ended by SIGINT


def run(command: str, argv: "list[str]") -> int:
    """Runs ``command`` (a key of COMMANDS) with ``argv``; Ctrl-C is an exit, not a traceback."""
    module = importlib.import_module(MODULES[COMMANDS[command]])
    try:
        return module.main(argv)
    except KeyboardInterrupt:
        return CTRL_C_EXIT


def __getattr__(name: str) -> Callable[[], int]:
    if name not in COMMANDS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return lambda: run(name, sys.argv[1:])
