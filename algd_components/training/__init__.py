"""Training machinery, one file per job: :mod:`.loop` (the loop), :mod:`.checkpoints` (checkpoint and policy files), :mod:`.metrics`
(metrics.csv, evaluation, loggers), :mod:`.factories` (envs, collector, replay buffer).
How one update runs is :mod:`algd_components.updates` (the algorithms' builders choose it)."""
from .checkpoints import POLICY_FILE, atomic_save, save_checkpoint, save_policy
from .record import RunState
from .run import train
from .metrics import METRIC_COLUMNS, TIME_COLUMNS, EpisodeTracker, MetricsCSV, evaluate, run_episodes

__all__ = ["train", "RunState", "METRIC_COLUMNS",
           "TIME_COLUMNS", "MetricsCSV", "EpisodeTracker", "evaluate", "run_episodes", "atomic_save", "save_checkpoint",
           "save_policy", "POLICY_FILE"]
