"""The train env across a resume (algd_components/training/env_replay.py): the logged actions,
replayed through a fresh env seeded as the run's, end where the run stopped — checked against
the recorded last transition; a log that does not reproduce it gives a new episode and a reason."""
import pytest
import torch

from algd_components.algorithms import algd as recipe
from algd_components.algorithms import compose_config
from algd_components.training import factories
from algd_components.training.env_replay import ActionLog, replay

FRAMES = 120  # episodes of 50 steps: the replay passes two resets


def collector(task="SafetyPointGoal1-v0"):
    cfg = compose_config("algd", [f"env.name={task}", f"collector.total_frames={FRAMES}", "collector.frames_per_batch=40",
                                  f"collector.init_random_frames={FRAMES}", "env.max_episode_steps=50",
                                  "optim.batch_size=32", "network.device=cpu",
                                  "network.actor_hidden=[8]"])
    train_env, _, _, _, _ = factories.make_envs(cfg)
    actor, _, _ = recipe.make_modules(cfg, train_env.observation_spec["observation"].shape[-1], train_env.action_spec,
                                      torch.device("cpu"))
    return factories.make_collector(cfg, train_env, actor, torch.device("cpu"), 0)


@pytest.fixture(scope="module")
def logged():
    """A run's action log (random frames, as a warm-up) and the carrier it left the env in."""
    log, first = ActionLog(), collector()
    for batch in first:
        log.append(batch)
    carrier = first._carrier.clone()
    first.shutdown()
    return log, carrier


def test_replay_ends_where_the_run_stopped(logged):
    log, carrier = logged
    assert log.actions().shape == (FRAMES, 2) and log.last_next["step_count"].item() == FRAMES - 100
    fresh = collector()
    assert replay(fresh, [log], FRAMES) is None
    for key in ("observation", "step_count", "episode_reward", ("collector", "traj_ids")):
        assert torch.equal(fresh._carrier[key], carrier[key]), key  # the next frame is collected from the same state
    fresh.shutdown()


def test_a_log_that_does_not_reproduce_the_run_gives_a_new_episode_and_says_where(logged):
    log, _ = logged
    wrong = ActionLog()
    wrong.load_state_dict(log.state_dict())
    wrong.last_next = {**log.last_next, "observation": log.last_next["observation"] + 1e-6}
    fresh = collector()
    assert replay(fresh, [wrong], FRAMES) == "the last replayed transition differs from the recorded one in next/observation"
    assert fresh._carrier["step_count"].item() == 0  # reset: a new episode
    assert "does not fit this env" in replay(fresh, [log], FRAMES - 1)
    none = ActionLog()
    assert none.state_dict() is None and "no log" in replay(fresh, [none], FRAMES)
    fresh.shutdown()


def test_a_stopped_log_saves_nothing(logged):
    log = ActionLog()
    log.load_state_dict(logged[0].state_dict())
    log.stop()
    assert log.state_dict() is None
