"""The run folder and resume: what a fresh run refuses (a folder holding another run), what a
resume takes from its checkpoint and what it may change (:data:`SAFE_ON_RESUME`), and the
folder's hygiene (a killed run's temp files; ``overwrite``)."""
from __future__ import annotations

import shutil
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from ..algorithms.compose import default_config
from ..config import ConfigError, flatten, require
from .checkpoints import CHECKPOINT_FILE, POLICY_FILE, read_checkpoint, resolve_checkpoint

__all__ = ["RUN_FILES", "RUN_FOLDERS", "SAFE_ON_RESUME", "override_keys", "owes_work", "resolve_run", "clean_run_dir"]

def _load_checkpoint(resume: str, lazy: bool = False) -> tuple[dict, Path]:
    """The checkpoint ``resume`` names, checked to be one of ours.  ``lazy``: memory-map its
    tensors (a check that reads only the config and counters need not read the replay buffer)."""
    path = resolve_checkpoint(resume)
    try:
        return read_checkpoint(path, lazy), path
    except ConfigError as err:
        raise ConfigError(f"resume={resume!r}: {err}") from None


def owes_work(state) -> bool:
    """A checkpoint's counters say a signal stopped its run inside its last batch: updates or an
    evaluation are owed, and a resume runs them first (even at ``collector.total_frames``)."""
    return bool(state.get("pending_updates") or state.get("eval_due"))


RUN_FILES = (CHECKPOINT_FILE, POLICY_FILE, "metrics.csv", "episodes.csv", "config.yaml", "config_resumed.yaml")
RUN_FOLDERS = ("logs", "videos")
# what a resume may change (the rest of the config is the checkpoint's): budget, logging,
# evaluation, checkpointing, device and the process's allocator
SAFE_ON_RESUME = ("collector.total_frames", "logger.", "checkpoint.", "network.device", "progress_bar",
                  "progress_every_s", "system.num_threads", "system.retain_freed_memory", "resume", "overwrite")


def _fresh_run_dir(cfg: DictConfig, run_dir: Path) -> None:
    """A fresh run refuses a folder holding another run, unless ``overwrite=true``."""
    held = [n for n in (CHECKPOINT_FILE, "metrics.csv") if (run_dir / n).exists()]
    if held and not cfg.overwrite:
        raise ConfigError(f"{run_dir} already holds a run ({', '.join(held)}): resume it with resume={run_dir}, "
                          "choose another folder, or pass overwrite=true to replace it")


def override_keys(overrides) -> tuple[str, ...]:
    """The keys a list of ``key=value`` overrides names (Hydra's ``+``/``~`` prefixes dropped): what
    :func:`resolve_run` applies on a resume even where the value is the algorithm's default
    (``collector.total_frames=100000`` extends a 50k run although 100000 is the default)."""
    return tuple(o.split("=", 1)[0].lstrip("+~") for o in overrides if "=" in o)


def _resume_overrides(cfg: DictConfig, saved: dict, explicit: tuple[str, ...] = ()) -> dict:
    """The values ``cfg`` sets — away from the algorithm's defaults, or under the ``explicit``
    keys (the command line's overrides, which may repeat a default) — that a resume may apply;
    one-line :class:`ConfigError` naming any other that differs from the checkpoint's."""
    defaults = flatten(OmegaConf.to_container(default_config(cfg.algo), resolve=True))
    given = flatten(OmegaConf.to_container(cfg, resolve=True))
    saved_flat = flatten(saved)
    named = lambda k: any(k == e or k.startswith(e + ".") for e in explicit)  # noqa: E731
    changed = {k: v for k, v in given.items() if k not in defaults or defaults[k] != v or named(k)}
    refused = [k for k, v in changed.items() if not k.startswith(SAFE_ON_RESUME) and k in saved_flat and saved_flat[k] != v]
    if refused:
        shown = ", ".join(f"{k} (checkpoint: {saved_flat[k]!r}, given: {given[k]!r})" for k in sorted(refused))
        raise ConfigError(f"resume={cfg.resume!r} cannot change {shown}: a resumed run keeps its config except "
                          "collector.total_frames, logger.*, checkpoint.*, network.device, the progress display, "
                          "system.num_threads and system.retain_freed_memory (start a new run for other values)")
    return {k: v for k, v in changed.items() if k.startswith(SAFE_ON_RESUME)}


def resolve_run(cfg: DictConfig, run_dir, explicit: tuple[str, ...] = (),
                lazy: bool = False) -> tuple[DictConfig, dict | None, Path]:
    """``(cfg, checkpoint or None, run_dir)``.

    Fresh: ``run_dir`` must not hold another run (unless ``overwrite``).  Resume: the
    checkpoint's config — keys it lacks (added since it was written) from ``cfg``, and the
    values ``cfg`` changes among :data:`SAFE_ON_RESUME` applied; any other change is refused —
    and the checkpoint's folder.  ``explicit``: the keys the command line set (see
    :func:`_resume_overrides`); ``lazy``: memory-map the checkpoint (for a check before training).
    """
    auto = cfg.resume == "auto"
    if auto:  # this folder's own run, wherever it stopped (compare, sweeps, requeued jobs)
        held = Path(run_dir) / CHECKPOINT_FILE
        cfg = cfg.copy()
        cfg.resume, cfg.overwrite = (str(held), False) if held.is_file() else (None, True)
    if not cfg.resume:
        run_dir = Path(run_dir)
        _fresh_run_dir(cfg, run_dir)
        return cfg, None, run_dir
    ckpt, path = _load_checkpoint(cfg.resume, lazy)
    saved = ckpt["config"]
    saved_algo = saved.get("algo", cfg.algo)
    require(saved_algo == cfg.algo, "resume", cfg.resume,
            f"a checkpoint of algo={cfg.algo!r}; this one is of algo={saved_algo!r} (resume it with algd-train algo={saved_algo})")
    applied = _resume_overrides(cfg, saved, explicit)
    try:
        merged = OmegaConf.merge(cfg, {k: v for k, v in saved.items() if k != "lagrangian"})
    except Exception as err:
        raise ConfigError(f"resume={cfg.resume!r}: the checkpoint's config does not fit this version's schema "
                          f"({str(err).splitlines()[0]})") from None
    merged.lagrangian = saved.get("lagrangian", cfg.lagrangian)  # whole: its keys depend on the class it builds
    for key, value in applied.items():
        OmegaConf.update(merged, key, value, merge=False)
    merged.resume, merged.overwrite = cfg.resume, False
    frames = ckpt["state"]["frames"]
    total = merged.collector.total_frames
    owed = owes_work(ckpt["state"])
    if total == frames and not (auto or owed):
        raise ConfigError(f"the run in {path.parent} is finished ({frames} frames): to extend it, resume it with a "
                          f"larger budget: algd-train resume={path.parent} collector.total_frames=N (N > {frames})")
    require(isinstance(total, int) and (total > frames or (auto or owed) and total == frames), "collector.total_frames",
            total, f"an integer above the checkpoint's {frames} frames when resuming")
    return merged, ckpt, path.parent


def clean_run_dir(run_dir: Path, overwrite: bool) -> None:
    """Remove temp files a killed run left (``atomic_save``'s ``.<name>*.tmp``); with
    ``overwrite``, also the previous run's files, logs and videos."""
    prefixes = tuple(f".{n}" for n in RUN_FILES)
    for tmp in [*run_dir.glob(".*.tmp"), *run_dir.glob("logs/**/.*.tmp")]:
        if tmp.name.startswith(prefixes) or tmp.parent != run_dir:
            tmp.unlink(missing_ok=True)
    if overwrite:
        for name in RUN_FILES:
            (run_dir / name).unlink(missing_ok=True)
        for name in RUN_FOLDERS:
            shutil.rmtree(run_dir / name, ignore_errors=True)
