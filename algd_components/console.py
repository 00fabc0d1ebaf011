"""How the package's listing tools end (``python -m algd_components.envs --list``, ``... .runs``,
``algd-eval``): their output is often piped into ``head``, and a reader that stops early must not cost
a traceback. The training commands are not wrapped: a closed pipe there stops a run, which must not
pass silently."""
from __future__ import annotations

import os
import sys
from typing import Callable


def exit_with(main: Callable[[], int]) -> None:
    """``sys.exit(main())``, except that a closed stdout (``| head``) ends the process quietly with
    status 1, as Unix tools do, instead of a ``BrokenPipeError`` traceback."""
    try:
        code = main()
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's last flush
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 1
    sys.exit(code)
