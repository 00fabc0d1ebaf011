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
(every ``("next", ...)`` entry, bit for bit; state the observation does not show, such as the
hopper's x position, is checked only through what it does to later observations).  When it
does not (another machine or library build: found at the end of the replay), or when there is
no log (``checkpoint.env_actions=false``, a checkpoint written before the log existed, an async
collector, whose env lives in its worker), the env starts a new episode, a line says why, and
the log stops for the rest of the run (a later replay could not pass that reset); the checkpoint
then records why.

Cost: one env step per frame already collected, on every resume; ``benchmarks/replay_time.py``
measures it (docs/recipes.md, "Checkpoints, crashes and resume").  A signal during the replay
stops the run at once with nothing written: the checkpoint it resumed from is still the run's.
"""
from __future__ import annotations

import time

import torch
from tensordict import TensorDictBase

__all__ = ["REPLAY_STOPPED", "ActionLog", "replay", "restore_env"]

REPLAY_STOPPED = "stopped by a signal during the replay"


class ActionLog:
    """Every action one seed's train env took since frame 0, and the last transition's
    ``"next"`` entries to check a replay by.  ``state_dict()`` is plain tensors and strings."""

    def __init__(self):
        self.chunks: list[torch.Tensor] = []
        self._last_batch: TensorDictBase | None = None  # the collector yields a fresh batch each time
        self._last_next: dict | None = None  # as loaded from a checkpoint
        self.stopped: str | None = None  # why the log no longer replays

    def append(self, batch: TensorDictBase) -> None:
        """One collected batch, ``[*env batch, T]`` (time last, as the collector returns it); kept
        where it is (no copy, no host sync): :meth:`state_dict` moves what it keeps."""
        if self.stopped is None:
            self.chunks.append(batch["action"].detach())
            self._last_batch = batch

    @property
    def last_next(self) -> dict | None:
        if self._last_batch is not None:
            self._last_next = self._last_batch[..., -1]["next"].detach().cpu().clone().to_dict()
            self._last_batch = None
        return self._last_next

    def actions(self) -> torch.Tensor | None:
        if not self.chunks:
            return None
        if len(self.chunks) > 1:  # one tensor, so later checkpoints do not concatenate the whole log again
            self.chunks = [torch.cat(self.chunks, dim=-2).cpu()]
        return self.chunks[0].cpu()

    def state_dict(self) -> dict | None:
        if self.stopped is not None:
            return {"stopped": self.stopped}
        if not self.chunks:
            return None
        return {"actions": self.actions(), "last_next": self.last_next}

    def load_state_dict(self, state: dict | None) -> None:
        self.__init__()
        if state is None:
            self.stopped = ("the checkpoint holds no log of the env's actions (checkpoint.env_actions was false, "
                            "or it predates the log)")
        elif "stopped" in state:
            earlier = "the log stopped at an earlier resume: "
            self.stopped = state["stopped"] if state["stopped"].startswith(earlier) else earlier + state["stopped"]
        else:
            self.chunks, self._last_next = [state["actions"]], state["last_next"]

    def stop(self, reason: str) -> None:
        """The env started a new episode where the run had none: this log no longer replays."""
        self.__init__()
        self.stopped = reason


def _differs(replayed: TensorDictBase, recorded: dict, prefix: tuple = ()) -> str | None:
    """The first ``("next", ...)`` entry where the replayed transition differs from the recorded one."""
    for key, value in recorded.items():
        if isinstance(value, dict):
            found = _differs(replayed, value, (*prefix, key))
            if found:
                return found
            continue
        got = replayed.get((*prefix, key), None)
        if got is None or got.shape != value.shape or not torch.equal(got.cpu(), value):
            return "/".join(("next", *prefix, key))
    return None


def replay(collector, logs: list[ActionLog], frames: int, stop=None) -> str | None:
    """Step ``collector``'s freshly reset env through the logged actions (``logs``: one per
    stacked seed, in the order of the env's leading dimension); ``None`` when the last replayed
    transition is the recorded one, else why not (the env is then reset: a new episode), or
    :data:`REPLAY_STOPPED` when ``stop.requested`` turned true (checked at every step)."""
    for log in logs:
        if log.stopped is not None:
            return log.stopped
    env = collector.env
    per_seed = [log.actions() for log in logs]
    actions = per_seed[0] if len(logs) == 1 else torch.stack(per_seed)
    if tuple(actions.shape[:-2]) != tuple(env.batch_size) or actions[..., 0].numel() != frames * len(logs):
        return (f"the action log ({tuple(actions.shape)}) does not fit this env (batch {tuple(env.batch_size)}) and "
                f"{frames} frames")
    carrier = collector._carrier  # the collector's env state between steps: after its first reset here
    out = None
    with torch.no_grad():
        for t in range(actions.shape[-2]):
            if stop is not None and stop.requested:
                return REPLAY_STOPPED
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
        differs = _differs(got, log.last_next)
        if differs:
            collector.reset()
            seed = f"seed {s}: " if len(logs) > 1 else ""
            return f"{seed}the last replayed transition differs from the recorded one in {differs}"
    return None


def restore_env(collector, logs: list[ActionLog], frames: int, skip: str | None = None, stop=None, say=print) -> bool:
    """On resume: :func:`replay` (announced and timed in one line each, through ``say``), or, when
    it fails or ``skip`` says why not, a new episode and every log stopped.  ``False``: a signal
    stopped the replay (the caller ends the run; nothing was written)."""
    reason = skip or next((log.stopped for log in logs if log.stopped is not None), None)
    if reason is None:
        t0 = time.time()
        say(f"resume: replaying the run's {frames} env steps to restore the train env "
            "(checkpoint.env_actions=false skips it: the env then starts a new episode)")
        reason = replay(collector, logs, frames, stop)
        if reason == REPLAY_STOPPED:
            return False
        if reason is None:
            say(f"resume: the train env continues where the run stopped (replayed in {time.time() - t0:.1f} s)")
            return True
    say(f"resume: the train env starts a new episode ({reason}); rows from here differ from an uninterrupted run's")
    for log in logs:
        log.stop(reason)
    return True
