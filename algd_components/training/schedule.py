"""How many gradient updates follow each collected batch: the off-policy update schedule.

Two rules, one object:

* **ratio** (``optim.update_cap=0``, every recipe's default): after a batch of ``T`` frames,
  ``max(1, round(T · optim.utd_ratio))`` updates, once the frames collected so far reach
  ``collector.init_random_frames`` and the replay buffer holds more than
  ``replay_buffer.min_size``.  ``collector.frames_per_batch`` sets how finely updates
  interleave with collection: 1000 (the default) collects 1000 frames and then runs their
  updates in one burst; 1 updates after every env step.
* **released** (``optim.update_cap > 0``; ``schedule=released`` sets it to 5): the authors'
  loop (ALGD's and CAL's ``main.py``: ``train`` and ``train_policy_repeats``), decided per
  env step.  Step ``n`` (``n = 0`` at the frame that reaches ``init_random_frames``) is
  followed by ``round(utd_ratio)`` updates (``num_train_repeat``, 10) unless the updates
  already made in this epoch exceed ``update_cap × n``; the epoch counter restarts every
  ``epoch_frames`` steps (the task's episode length: the released ``epoch_length``, 400 on
  Safety-Gym, 1000 on MuJoCo) while ``n`` never does, so the cap binds in the first epoch
  only (10 updates after every 2nd step there: 5 per step) and from the second epoch on
  every step is followed by 10.

Why written here and not taken from TorchRL: TorchRL's collectors decide when frames are
collected, not how many updates follow them; its recipes hard-code ``utd_ratio`` loops.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["UpdateSchedule"]


@dataclass
class UpdateSchedule:
    """The number of updates after each batch (module docstring); :attr:`epoch_updates` is the
    released rule's per-epoch count (``train_policy_steps``), carried by checkpoints."""

    utd_ratio: float
    init_frames: int = 0
    min_buffer: int = 0
    cap: float = 0.0
    epoch_frames: int = 1000
    epoch_updates: int = 0

    @classmethod
    def from_config(cls, cfg, epoch_frames: int, epoch_updates: int = 0) -> "UpdateSchedule":
        o = cfg.optim
        return cls(float(o.utd_ratio), int(cfg.collector.init_random_frames), int(cfg.replay_buffer.get("min_size", 0)),
                   float(o.get("update_cap", 0.0)), int(epoch_frames), int(epoch_updates))

    def updates(self, frames_before: int, batch_frames: int, buffer_len: int) -> int:
        """Updates to run after a batch of ``batch_frames`` frames that brought the run from
        ``frames_before`` frames to ``frames_before + batch_frames`` and the replay buffer to
        ``buffer_len`` transitions."""
        if not self.cap:
            if frames_before + batch_frames < self.init_frames or buffer_len <= self.min_buffer:
                return 0
            return max(1, round(batch_frames * self.utd_ratio))
        repeat, total = round(self.utd_ratio), 0
        for i in range(batch_frames):  # the released rule, one env step at a time
            frames = frames_before + i + 1
            step = frames - self.init_frames  # main.py's total_step at this step's update check
            if step < 0:
                continue
            if step % self.epoch_frames == 0:  # a new epoch: train_policy_steps = 0
                self.epoch_updates = 0
            if buffer_len - (batch_frames - i - 1) <= self.min_buffer:  # len(pool) > min_pool_size
                continue
            if self.epoch_updates > self.cap * step:  # train_step > max_train_repeat_per_step * total_step
                continue
            total += repeat
            self.epoch_updates += repeat
        return total
