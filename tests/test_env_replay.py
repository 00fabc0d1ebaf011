"""The train env across a resume (algd_components/training/env_replay.py): the logged actions,
replayed through a fresh env seeded as the run's, end where the run stopped — checked against
the recorded last transition; a log that does not reproduce it gives a new episode and a reason."""
import pytest
import torch

from algd_components.algorithms import algd as recipe
from algd_components.algorithms import compose_config
from algd_components.training import factories
from algd_components.training.env_replay import REPLAY_STOPPED, ActionLog, replay
from algd_components.training.interrupt import StopRequest

FRAMES = 120  # episodes of 50 steps: the replay passes two resets and stops inside the third episode


def collector(task="SafetyPointGoal1-v0", num_envs=1):
    cfg = compose_config("algd", [f"env.name={task}", f"collector.total_frames={FRAMES}", "collector.frames_per_batch=40",
                                  f"collector.init_random_frames={FRAMES}", "env.max_episode_steps=50",
                                  f"env.num_envs={num_envs}", "optim.batch_size=32", "network.device=cpu",
                                  "network.actor_hidden=[8]"])
    train_env, _, _, _, _ = factories.make_envs(cfg)
    actor, _, _ = recipe.make_modules(cfg, train_env.observation_spec["observation"].shape[-1], train_env.action_spec,
                                      torch.device("cpu"))
    return factories.make_collector(cfg, train_env, actor, torch.device("cpu"), 0)


def log_run(*args):
    """A run's action log (random frames, as a warm-up) and the carrier it left the env in."""
    log, first = ActionLog(), collector(*args)
    for batch in first:
        log.append(batch)
    carrier = first._carrier.clone()
    first.shutdown()
    return log, carrier


@pytest.fixture(scope="module")
def logged():
    return log_run()


def reloaded(log: ActionLog) -> ActionLog:
    """``log`` through a checkpoint's plain data, as a resume reads it."""
    again = ActionLog()
    again.load_state_dict(log.state_dict())
    return again


@pytest.mark.parametrize("case", ["PointGoal1", "Hopper, 2 envs"])
def test_replay_ends_where_the_run_stopped(logged, case):
    args = () if case == "PointGoal1" else ("SafetyHopperVelocity-v1", 2)
    log, carrier = logged if case == "PointGoal1" else log_run(*args)
    assert log.actions().shape[:-1] == ((FRAMES,) if not args else (2, FRAMES // 2))
    if not args:  # no early termination on PointGoal1: the run stopped 20 steps into its third episode
        assert carrier["step_count"].item() == FRAMES % 50
    fresh = collector(*args)
    assert replay(fresh, [reloaded(log)], FRAMES) is None
    for key in ("observation", "step_count", "episode_reward", ("collector", "traj_ids")):
        assert torch.equal(fresh._carrier[key], carrier[key]), key  # the next frame is collected from the same state
    fresh.shutdown()


def test_a_log_that_does_not_reproduce_the_run_gives_a_new_episode_and_says_where(logged):
    log, _ = logged
    state = log.state_dict()
    wrong = ActionLog()
    wrong.load_state_dict({**state, "last_next": {**state["last_next"], "observation": state["last_next"]["observation"] + 1e-6}})
    fresh = collector()
    assert replay(fresh, [wrong], FRAMES) == "the last replayed transition differs from the recorded one in next/observation"
    assert fresh._carrier["step_count"].item() == 0  # reset: a new episode
    assert "does not fit this env" in replay(fresh, [reloaded(log)], FRAMES - 1)
    stop = StopRequest()
    stop.signum = 2
    assert replay(fresh, [reloaded(log)], FRAMES, stop) == REPLAY_STOPPED
    fresh.shutdown()


def test_a_stopped_log_says_why_across_checkpoints(logged):
    none = ActionLog()
    none.load_state_dict(None)  # a checkpoint without a log
    assert "holds no log" in none.stopped and none.state_dict() == {"stopped": none.stopped}
    log = reloaded(logged[0])
    log.stop("the last replayed transition differs")
    again = reloaded(reloaded(log))  # two resumes later: the first reason, said once
    assert again.stopped == "the log stopped at an earlier resume: the last replayed transition differs"
    assert replay(None, [again], FRAMES) == again.stopped
