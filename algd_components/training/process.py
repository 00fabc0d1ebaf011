"""What a training process sets up before it builds anything, and how it shares the machine:
torch's threads (one share of the cores per parallel job), the allocator, log levels, headless
rendering, and whether the progress display may redraw a bar."""
from __future__ import annotations

import contextlib
import logging
import os
import sys

import torch
from omegaconf import DictConfig

from ..allocator import retain_freed_memory

__all__ = ["PARALLEL_JOBS_ENV", "auto_num_threads", "setup_process", "progress_bar_wanted"]

PARALLEL_JOBS_ENV = "ALGD_PARALLEL_JOBS"  # set by algd-compare --jobs for its workers


def auto_num_threads() -> int:
    """Torch threads when ``system.num_threads=0``: the machine's cores divided by the jobs
    sharing it — ``algd-compare --jobs N`` (``ALGD_PARALLEL_JOBS``), or a ``-m`` sweep on the
    joblib launcher (its ``n_jobs``) or the submitit_local one (its ``cpus_per_task``, else
    the sweep's jobs) — else 0, torch's default.  Why: jobs whose threads outnumber the cores
    slow each other's updates far more than they gain (measured in docs/scaling.md)."""
    cores = os.cpu_count() or 1
    jobs = int(os.environ.get(PARALLEL_JOBS_ENV, "0") or 0)
    if not jobs:
        try:
            from hydra.core.hydra_config import HydraConfig

            hc = HydraConfig.get()
            launcher = hc.launcher.get("_target_", "")
            if "JoblibLauncher" in launcher:
                n = hc.launcher.get("n_jobs", -1)
                jobs = cores if n in (None, -1) or n <= 0 else n
            elif "LocalLauncher" in launcher and "submitit" in launcher:
                if hc.launcher.get("cpus_per_task"):
                    return int(hc.launcher.cpus_per_task)
                jobs = cores
        except (ValueError, AttributeError, ImportError):  # not inside a Hydra job
            return 0
    return max(1, cores // jobs) if jobs else 0


def setup_process(cfg: DictConfig) -> None:
    """What a training process sets before building anything: the allocator, torch's threads,
    log levels, headless rendering for videos."""
    if cfg.system.retain_freed_memory:
        retain_freed_memory()
    threads = cfg.system.num_threads or auto_num_threads()
    if threads:
        torch.set_num_threads(threads)
    logging.getLogger("torchrl").setLevel(logging.INFO if cfg.logger.torchrl_info else logging.WARNING)
    logging.getLogger("OpenGL").setLevel(logging.WARNING)  # PyOpenGL's INFO notice when videos render
    if cfg.logger.video_every:
        os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering; must precede MuJoCo's first import


def progress_bar_wanted() -> bool:
    """A redrawn bar only on a terminal, with one run at a time writing to it: not in
    ``algd-compare --jobs`` workers nor in a Hydra multirun (plain lines there)."""
    if not sys.stdout.isatty() or os.environ.get(PARALLEL_JOBS_ENV):
        return False
    with contextlib.suppress(Exception):
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
            return False
    return True
