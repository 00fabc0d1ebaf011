"""One process per run folder: an exclusive OS file lock held for the run's lifetime.

``lock_run_dir(run_dir)`` takes ``fcntl.flock(LOCK_EX | LOCK_NB)`` on ``run_dir/.lock`` (the
file holds the holder's PID, for the message) before anything else is written there.  The
kernel releases the lock when the process ends, however it ends — a ``kill -9`` leaves the
file but never a held lock, so a stale lock cannot block a resume.  A second process gets a
one-line :class:`~algd_components.config.ConfigError` naming the holder.  Within a process
the lock is taken once per folder (the CLI's check and the training loop share it).

Why not a marker file or Hydra: a marker file survives a crash and blocks the resume it should
allow; Hydra's launchers do not guard a folder against a second job.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from ..config import ConfigError

__all__ = ["LOCK_FILE", "lock_run_dir", "release_run_dir", "run_lock"]

LOCK_FILE = ".lock"
_held: dict[Path, int] = {}  # folder -> open descriptor holding its lock, in this process


def lock_run_dir(run_dir: str | Path) -> Path:
    """Create ``run_dir`` if needed and hold its lock until the process ends (or
    :func:`release_run_dir`); raises a one-line :class:`ConfigError` if another process holds it
    or the folder cannot be created or written."""
    run_dir = Path(run_dir).resolve()
    if run_dir in _held:
        return run_dir
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise ConfigError(f"run folder {run_dir} cannot be created or written ({err.strerror or err})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise ConfigError(f"run folder {run_dir} is in use by another run (process {holder}); wait for it to end "
                          "or choose another folder") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    _held[run_dir] = fd
    return run_dir


def release_run_dir(run_dir: str | Path) -> None:
    """Give the lock back (the process keeps running; tests and in-process sweeps)."""
    fd = _held.pop(Path(run_dir).resolve(), None)
    if fd is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


@contextlib.contextmanager
def run_lock(run_dir: str | Path):
    """Hold ``run_dir``'s lock for the block; released at its end unless this process already
    held it before (the CLI takes it before Hydra writes into the folder)."""
    path = Path(run_dir).resolve()
    held = path in _held
    lock_run_dir(path)
    try:
        yield path
    finally:
        if not held:
            release_run_dir(path)
