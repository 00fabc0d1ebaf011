"""The train env's state across a resume, without pickles: the run's actions, replayed.

A checkpoint loads with ``torch.load(..., weights_only=True)``, so it cannot hold the simulator
as Python objects (MuJoCo's data, Safety-Gym's layout and its goal RNG, the transforms' step and
return counters), and no env here exposes that state as tensors.  What it can hold is every
action the train env took, ``[*env batch, frames, action]`` floats (1.2 MB at 100k frames of a
3-dimensional action).  On resume the collector's env is built and seeded as the run's was, so
its first reset is the run's; :func:`replay` then steps it through those actions with
``step_and_maybe_reset``, the call the collector itself steps with (resets after an episode's
end included), and MuJoCo being deterministic on one machine, the env ends where the run
stopped: the next batch, and every row after it, are an uninterrupted run's
(``tests/test_interrupt.py``).

Checked, not assumed: the last replayed transition must equal the one the checkpoint recorded
(every ``("next", ...)`` entry, bit for bit).  When it does not (another machine or library
version), when the log is absent (``checkpoint.env_actions=false``, a checkpoint written before
the log existed, an async collector whose env lives in its worker), the env starts a new
episode, a line says so, and the log stops (a later replay could not pass that reset).

Cost: one env step per logged frame on every resume — seconds for the velocity tasks, a few
minutes for 100k frames of a Safety-Gym navigation task (200-600 steps/s); the line before it
says how many steps.  ``checkpoint.env_actions=false`` trades it for a fresh episode.
"""
from __future__ import annotations

import time

import torch
from tensordict import TensorDictBase

__all__ = ["ActionLog", "replay", "restore_env"]


class ActionLog:
    """Every action one seed's train env took since frame 0, and the last transition's
    ``"next"`` entries to check a replay by.  ``state_dict()`` is plain tensors (or ``None``
    once the log is broken: a resume that started a new episode)."""

    def __init__(self):
        self.chunks: list[torch.Tensor] = []
        self.last_next: dict | None = None
        self.complete = True

    def append(self, batch: TensorDictBase) -> None:
        """One collected batch, ``[*env batch, T]`` (time last, as the collector returns it)."""
        if self.complete:
            self.chunks.append(batch["action"].detach().cpu())
            self.last_next = batch[..., -1]["next"].detach().cpu().to_dict()

    def actions(self) -> torch.Tensor | None:
        if not self.chunks:
            return None
        if len(self.chunks) > 1:  # one tensor, so later checkpoints do not concatenate the whole log again
            self.chunks = [torch.cat(self.chunks, dim=-2)]
        return self.chunks[0]

    def state_dict(self) -> dict | None:
        if not self.complete or not self.chunks:
            return None
        return {"actions": self.actions(), "last_next": self.last_next}

    def load_state_dict(self, state: dict | None) -> None:
        self.chunks = [state["actions"]] if state else []
        self.last_next = state["last_next"] if state else None
        self.complete = state is not None

    def stop(self) -> None:
        """The env started a new episode where the run had none: this log no longer replays."""
        self.chunks, self.last_next, self.complete = [], None, False


def _same(replayed: TensorDictBase, recorded: dict, prefix: tuple = ()) -> str | None:
    """The first ``("next", ...)`` entry where the replayed transition differs from the recorded one."""
    for key, value in recorded.items():
        if isinstance(value, dict):
            found = _same(replayed, value, (*prefix, key))
            if found:
                return found
            continue
        got = replayed.get((*prefix, key), None)
        if got is None or got.shape != value.shape or not torch.equal(got.cpu(), value):
            return "/".join(("next", *prefix, key))
    return None


def replay(collector, logs: list[ActionLog], frames: int) -> str | None:
    """Step ``collector``'s freshly reset env through the logged actions (``logs``: one per
    stacked seed, in the order of the env's leading dimension); ``None`` when the last replayed
    transition is the recorded one, else why not (the env is then reset: a new episode)."""
    env = collector.env
    per_seed = [log.actions() for log in logs]
    if any(a is None for a in per_seed) or any(log.last_next is None for log in logs):
        return "the checkpoint holds no log of the env's actions (checkpoint.env_actions was false, or it predates it)"
    actions = per_seed[0] if len(logs) == 1 else torch.stack(per_seed)
    if tuple(actions.shape[:-2]) != tuple(env.batch_size) or actions[..., 0].numel() != frames * len(logs):
        return (f"the action log ({tuple(actions.shape)}) does not fit this env (batch {tuple(env.batch_size)}) and "
                f"{frames} frames")
    carrier = collector._carrier  # the collector's env state between steps: after its first reset here
    out = None
    with torch.no_grad():
        for t in range(actions.shape[-2]):
            carrier.set("action", actions[..., t, :].to(carrier.device or "cpu"))
            out, nxt = env.step_and_maybe_reset(carrier)
            if collector._carrier_has_no_device:  # as the collector's rollout keeps it
                nxt.clear_device_()
            if collector.track_traj_ids:  # trajectory ids carried and advanced at episode ends, as in the rollout
                nxt.set("collector", carrier.get("collector").copy())
                collector._carrier = nxt
                collector._update_traj_ids(out)
            carrier = nxt
    collector._carrier = carrier
    replayed = [out["next"]] if len(logs) == 1 else out["next"].unbind(0)  # stacked seeds: one row each
    for s, (log, got) in enumerate(zip(logs, replayed)):
        differs = _same(got, log.last_next)
        if differs:
            collector.reset()
            seed = f"seed {s}: " if len(logs) > 1 else ""
            return f"{seed}the last replayed transition differs from the recorded one in {differs}"
    return None


def restore_env(collector, logs: list[ActionLog], frames: int, skip: str | None = None) -> None:
    """On resume: :func:`replay` (announced and timed in one line each), or, when it fails or
    ``skip`` says why not, a new episode and every log stopped."""
    reason = skip
    if reason is None:
        t0 = time.time()
        print(f"resume: replaying the run's {frames} env steps to restore the train env "
              "(checkpoint.env_actions=false skips it: the env then starts a new episode)", flush=True)
        reason = replay(collector, logs, frames)
        if reason is None:
            print(f"resume: the train env continues where the run stopped (replayed in {time.time() - t0:.1f} s)",
                  flush=True)
            return
    print(f"resume: the train env starts a new episode ({reason}); rows from here differ from an uninterrupted run's",
          flush=True)
    for log in logs:
        log.stop()
