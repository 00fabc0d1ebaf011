"""What the terminal shows while a run trains: frames and updates, the phase, the last evaluation.

Work is counted as frames collected plus updates run, out of ``collector.total_frames`` plus the
updates the schedule will run (:func:`expected_updates`): an update costs far more than a frame,
so a bar over frames alone reached 50 % in seconds and then stood still through minutes of
updates.  The display moves during updates, names the phase (``collecting``, ``updating``,
``evaluating``, ``saving``) and reaches 100 % only when the run ends.

* stdout a terminal (and one run at a time): one tqdm line, redrawn in place;
* otherwise (a file, a pipe, ``algd-compare --jobs``, a Hydra launcher): one plain line every
  ``progress_every_s`` seconds and at the end, each naming its run, so that runs side by side
  never interleave a bar;
* ``progress_bar=false``: nothing.
"""
from __future__ import annotations

import dataclasses
import sys
import time

__all__ = ["Progress", "expected_updates"]


def expected_updates(schedule, frames: int, total_frames: int, frames_per_batch: int, buffer_size: int,
                     updates: int = 0) -> int:
    """The updates a run at ``frames`` (with ``updates`` made) will have made at ``total_frames``
    under ``schedule`` (an :class:`~.schedule.UpdateSchedule`, copied: its counters are not touched)."""
    sim = dataclasses.replace(schedule)
    while frames < total_frames:
        n = min(frames_per_batch, total_frames - frames)
        updates += sim.updates(frames, n, min(frames + n, buffer_size))
        frames += n
    return updates


def _short(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


class Progress:
    """The progress display of one run (module docstring).  ``label`` names the run in plain
    lines; ``total_updates`` is None where the number of updates is not known ahead (on-policy)."""

    def __init__(self, label: str, total_frames: int, total_updates: int | None, frames: int = 0, updates: int = 0,
                 enabled: bool = True, every_s: float = 10.0, bar: bool | None = None, stream=None):
        self.label, self.total_frames, self.total_updates = label, total_frames, total_updates
        self.frames, self.updates, self.phase, self.last_eval = frames, updates, "collecting", ""
        self.enabled, self.every_s, self.stream = enabled, every_s, stream or sys.stdout
        self.bar = None
        self.start, self.start_updates = time.monotonic(), updates
        self._next_line = self.start + every_s
        self._last_draw = self.start  # the bar's last redraw (monotonic clock, as every time here)
        if bar is None:
            bar = self.stream.isatty() if hasattr(self.stream, "isatty") else False
        if enabled and bar:
            import tqdm

            self.bar = tqdm.tqdm(total=self._total(), initial=self._done(), file=self.stream, unit="step",
                                 bar_format="{l_bar}{bar}| {postfix} [{elapsed}<{remaining}]", dynamic_ncols=True)
            self._refresh()

    def _total(self) -> int:
        return self.total_frames + (self.total_updates or 0)

    def _done(self) -> int:
        return self.frames + (self.updates if self.total_updates is not None else 0)

    def _text(self) -> str:
        ups = (self.updates - self.start_updates) / max(time.monotonic() - self.start, 1e-9)
        total_u = f"/{self.total_updates}" if self.total_updates is not None else ""
        return (f"frames {self.frames}/{self.total_frames} · updates {self.updates}{total_u} ({ups:.1f}/s) · "
                f"{self.phase}" + (f" · {self.last_eval}" if self.last_eval else ""))

    def _refresh(self) -> None:
        if self.bar is not None:
            self.bar.n = min(self._done(), self._total() - 1) if self.phase != "done" else self._total()
            self.bar.set_postfix_str(self._text(), refresh=True)
            self._last_draw = time.monotonic()
        elif self.enabled and (time.monotonic() >= self._next_line or self.phase == "done"):
            pct = 100.0 if self.phase == "done" else min(99.9, 100.0 * self._done() / max(self._total(), 1))
            print(f"[{self.label}] {pct:5.1f}% {self._text()} · {_short(time.monotonic() - self.start)}",
                  file=self.stream, flush=True)
            self._next_line = time.monotonic() + self.every_s

    def write(self, line: str) -> None:
        """One line of text above the bar (printed as is without one)."""
        if self.bar is not None:
            self.bar.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)

    def set_phase(self, phase: str) -> None:
        self.phase = phase
        self._refresh()

    def add_frames(self, n: int) -> None:
        self.frames += n
        self._refresh()

    def add_update(self) -> None:
        """One update done: cheap (a clock read) unless a redraw is due."""
        self.updates += 1
        if self.bar is not None:
            if time.monotonic() - self._last_draw >= 0.5:
                self._refresh()
        elif self.enabled and time.monotonic() >= self._next_line:
            self._refresh()

    def evaluated(self, ret: float, cost: float, lam: float) -> None:
        self.last_eval = f"eval return {ret:.1f} cost {cost:.1f} λ {lam:.3g}"
        self._refresh()

    def close(self, finished: bool) -> None:
        """End the display: at 100 % when the run ``finished``, where it stands otherwise."""
        if finished:
            self.phase = "done"
            self._refresh()
        if self.bar is not None:
            self.bar.close()
