"""Ctrl-C and ``kill`` keep the work: the first SIGINT or SIGTERM asks the loop to stop at the
next update boundary and save; a second one stops at once.

The training loop polls :attr:`StopRequest.requested` between updates and between batches; when
set, it abandons the batch's remaining updates (they are owed: the checkpoint records them and a
resume runs them first), writes ``checkpoint.pt`` and ``policy.pt``, prints one line and the
process exits with ``128 + signal`` (130 for SIGINT, 143 for SIGTERM).  A second signal raises
:class:`Interrupted` wherever the loop is; every file is written atomically
(``checkpoints.atomic_save``), so that leaves the previous checkpoint whole.

Why not ``KeyboardInterrupt``: it arrives anywhere — inside a ``torch.save``, a collector
reset, an optimiser step — and Hydra prints it as a 30-line traceback.
"""
from __future__ import annotations

import signal
import threading

__all__ = ["StopRequest", "Interrupted", "stop_on_signals"]


class Interrupted(Exception):
    """A second signal, or a signal before training started: stop now (exit ``128 + signum``)."""

    def __init__(self, signum: int, message: str):
        super().__init__(message)
        self.signum = signum

    def __reduce__(self):
        return type(self), (self.signum, str(self))


class StopRequest:
    """What the signal handlers set: the first signal's number, or ``None``."""

    def __init__(self):
        self.signum: int | None = None

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def exit_code(self) -> int:
        return 128 + (self.signum or 0)


class stop_on_signals:
    """Context manager installing SIGINT/SIGTERM handlers that fill a :class:`StopRequest`
    (main thread only; elsewhere, e.g. inside a launcher's worker thread, it does nothing) and
    restoring the previous handlers on exit."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.stop = StopRequest()
        self._previous = {}

    def _handle(self, signum, frame):
        if self.stop.requested:  # the second one: stop now
            raise Interrupted(signum, f"stopped at once by a second {signal.Signals(signum).name}")
        self.stop.signum = signum

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for s in self.SIGNALS:
                self._previous[s] = signal.signal(s, self._handle)
        return self.stop

    def __exit__(self, *exc) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous.clear()
