"""The update schedule (training/schedule.py) and the released-code switches of issue 26:
schedule=released, goal-terminal transitions, the score loss into the chain, CAL's task constants."""
import pytest
import torch
from tensordict import TensorDict

import algd_components as A
from algd_components import compose_config
from algd_components.training.schedule import UpdateSchedule


def released(epoch=400, init=5000, min_buffer=1000):
    return UpdateSchedule(utd_ratio=10, init_frames=init, min_buffer=min_buffer, cap=5, epoch_frames=epoch)


def step_by_step(schedule, steps, start=0):
    """Updates after each of ``steps`` single env steps, the buffer holding every frame."""
    return [schedule.updates(f, 1, f + 1) for f in range(start, start + steps)]


def released_main(warmup, steps, epoch_len, min_pool=1000, repeat=10, cap=5):
    """main.py's train / exploration_before_start / train_policy_repeats, transcribed: the updates
    after each env step (warm-up steps included, as zeros)."""
    out, pool, total_step = [0] * warmup, warmup, 0
    while len(out) < steps:
        train_step = 0  # reset every epoch ...
        for _ in range(epoch_len):
            pool += 1
            n = 0
            if pool > min_pool and not train_step > cap * total_step:  # ... total_step never
                n = repeat
            train_step += n
            out.append(n)
            total_step += 1
    return out[:steps]


def test_released_rule_matches_main_py_loop():
    """The frame that reaches init_random_frames is the first training step (as in every schedule
    here), so our init_random_frames=W is the released loop's W - 1 warm-up steps."""
    ours = step_by_step(released(epoch=40, init=100, min_buffer=10), 100 + 3 * 40)
    assert ours == released_main(99, 220, 40, min_pool=10)
    assert ours[:99] == [0] * 99  # warm-up: no update
    first, later = ours[99:139], ours[139:]
    assert first == [10, 0] * 20  # 5 per step in the first epoch
    assert later == [10] * 81  # 10 after every step after it
    # a pool minimum that binds after the warm-up delays the first update, as there
    assert step_by_step(released(epoch=40, init=100, min_buffer=120), 300) == released_main(99, 300, 40, min_pool=120)


def test_released_rule_any_batch_size_and_min_buffer():
    one = step_by_step(released(epoch=40, init=100), 220)
    batched = released(epoch=40, init=100)
    assert [batched.updates(f, 20, f + 20) for f in range(0, 220, 20)] == [sum(one[i:i + 20]) for i in range(0, 220, 20)]
    # no update while the buffer holds min_size or fewer, whatever the frames
    s = released(epoch=40, init=0, min_buffer=50)
    assert [s.updates(f, 1, f + 1) for f in range(50)] == [0] * 50
    assert s.updates(50, 1, 51) == 10


def test_ratio_rule_is_the_recipes_burst():
    s = UpdateSchedule(utd_ratio=1.0, init_frames=5000)
    assert [s.updates(f, 1000, f + 1000) for f in range(0, 7000, 1000)] == [0, 0, 0, 0, 1000, 1000, 1000]
    assert UpdateSchedule(utd_ratio=0.25).updates(0, 10, 10) == 2
    assert UpdateSchedule(utd_ratio=1e-6).updates(0, 10, 10) == 1


def test_schedule_released_preset_composes_the_released_loop():
    cfg = compose_config("algd", ["schedule=released"])
    assert (cfg.collector.frames_per_batch, cfg.collector.init_random_frames, cfg.collector.warmup_actor) == (1, 5000, "policy")
    assert (cfg.optim.utd_ratio, cfg.optim.update_cap, cfg.replay_buffer.min_size) == (10, 5, 1000)
    assert cfg.optim.target_update_interval == 2
    default = compose_config("algd", [])
    assert (default.collector.frames_per_batch, default.optim.utd_ratio, default.optim.update_cap) == (1000, 1.0, 0.0)
    assert default.collector.warmup_actor == "uniform"


def test_released_schedule_on_a_real_run(tmp_path, monkeypatch):
    """A small real run under schedule=released (shortened: 60 warm-up frames, 20-step epochs, a pool of
    70): the updates after each env step are main.py's, none before the pool holds more than 70, and
    the collector acts with the policy from the first frame."""
    from algd_components import training
    from algd_components.training import factories, loop, schedule

    calls, collectors = [], []
    original = schedule.UpdateSchedule.updates

    def spy(self, frames_before, batch_frames, buffer_len):
        n = original(self, frames_before, batch_frames, buffer_len)
        calls.append((frames_before + batch_frames, buffer_len, n))
        return n

    make = factories.make_collector

    def capture(*args, **kwargs):
        collectors.append(make(*args, **kwargs))
        return collectors[-1]

    counted = []
    real_update = loop.update_step
    monkeypatch.setattr(schedule.UpdateSchedule, "updates", spy)
    monkeypatch.setattr(loop, "make_collector", capture)
    monkeypatch.setattr(loop, "update_step", lambda *a, **k: counted.append(1) or real_update(*a, **k))
    cfg = compose_config("sac_lag", ["schedule=released", "env.name=SafetyPointGoal1-v0", "env.max_episode_steps=20",
                                     "collector.init_random_frames=60", "replay_buffer.min_size=70",
                                     "collector.total_frames=120", "optim.batch_size=16", "logger.eval_iter=120",
                                     "logger.eval_episodes=1", "checkpoint.interval=120", "progress_bar=false",
                                     "network.critic_hidden=[16,16]", "sac.actor_hidden=[16,16]", "logger.backend=",
                                     "network.device=cpu"])
    out = training.train(cfg, tmp_path / "run")
    assert collectors[0].init_random_frames == 0  # warmup_actor=policy: no RandomPolicy frames
    assert len(calls) == 120  # one schedule call per env step
    per_step = [n for _, _, n in calls]
    assert all(n == 0 for _, buf, n in calls if buf <= 70)  # none before the pool holds more than 70
    assert per_step == released_main(59, 120, 20, min_pool=70)
    assert per_step[100:] == [10] * 20  # a later epoch: 10 after every step
    assert sum(counted) == out["updates"] == sum(per_step)


def test_goal_met_ends_the_reward_bootstrap_only(tmp_path):
    """A real PointGoal1 transition where the goal is met (the goal distance forced to 0): the
    episode goes on, ``goal_terminated`` is set, and with env.goal_terminal the ALGD loss stops the
    reward's bootstrap there while the cost critics' goes on."""
    from algd_components.envs import make_env

    env = make_env("SafetyPointGoal1-v0", seed=0)
    td = env.rand_step(env.reset())
    assert not td["next", "goal_met"] and not td["next", "goal_terminated"]
    env.base_env._env.unwrapped.task.dist_goal = lambda: 0.0  # the goal under the robot: met on the next step
    td = env.rand_step(td["next"].exclude("reward", "cost", "goal_met", "goal_terminated").clone())
    assert td["next", "goal_met"] and td["next", "goal_terminated"].all()
    assert not td["next", "done"].any()  # Goal tasks relocate the goal; the episode continues

    from algd_components.algorithms import algd as recipe

    for goal_terminal in (True, False):
        cfg = compose_config("algd", ["env.name=SafetyPointGoal1-v0", f"env.goal_terminal={goal_terminal}",
                                      "algd.ensemble_size=2", "algd.mc_samples=2"])
        spec = env.action_spec
        algo = recipe.build(cfg, env.observation_spec["observation"].shape[-1], spec, 2.455, torch.device("cpu"))
        k = algo.loss.tensor_keys
        assert (k.terminated, k.cost_terminated) == (("goal_terminated", "terminated") if goal_terminal
                                                       else ("terminated", "terminated"))
        batch = td.unsqueeze(0).select("observation", "action", ("next", "observation"), ("next", "reward"),
                                       ("next", "cost"), ("next", "terminated"), ("next", "goal_terminated"))
        nxt = batch["next"]
        not_done = 1.0 - nxt[k.terminated].float()
        cost_not_done = 1.0 - nxt[k.cost_terminated].float()
        y_q, y_c = algo.loss._td_targets(nxt["observation"], nxt["reward"], nxt["cost"], not_done, cost_not_done)
        if goal_terminal:
            assert torch.equal(y_q, nxt["reward"])  # no bootstrap past the goal
        else:
            assert not torch.equal(y_q, nxt["reward"])
        assert not torch.equal(y_c, nxt["cost"].unsqueeze(-2).expand_as(y_c))  # the cost bootstraps either way


def _grad_actor(into_chain: bool):
    torch.manual_seed(0)
    actor = A.VESDEActor(3, 2, num_cells=(16, 16))
    q, c = A.TwinQValue(3, 2, num_cells=(16,)), A.EnsembleCostValue(3, 2, num_members=2, num_cells=(16,))
    loss = A.ALGDLoss(actor, q, c, A.AugmentedLagrangian(rho=1.0), A.DualVariable(), cost_limit=0.5, num_samples=3,
                      score_coef=1.0, energy_coef=0.0, score_grad_into_chain=into_chain)
    td = TensorDict({"observation": torch.randn(6, 3), "action": torch.rand(6, 2) * 2 - 1,
                     "next": {"observation": torch.randn(6, 3), "reward": torch.randn(6, 1), "cost": torch.rand(6, 1),
                              "terminated": torch.zeros(6, 1, dtype=torch.bool)}}, batch_size=[6])
    torch.manual_seed(1)
    out = loss(td)
    out["loss_actor"].backward()
    return out["loss_actor"].detach(), {n: p.grad.clone() for n, p in actor.named_parameters() if p.grad is not None}


def test_score_loss_into_the_chain_changes_only_the_gradient():
    """On a hand-built batch: the same loss value, and extra gradient through a^tau into the
    chain (score network weights that also ran the chain) only with score_grad_into_chain."""
    detached, g0 = _grad_actor(False)
    through, g1 = _grad_actor(True)
    assert torch.equal(detached, through)
    assert g0.keys() == g1.keys()
    assert any(not torch.allclose(g0[n], g1[n]) for n in g0)
    assert compose_config("algd", []).algd.score_grad_into_chain is True  # algd=code: the released update
    assert compose_config("algd", ["algd=paper"]).algd.score_grad_into_chain is False


@pytest.mark.parametrize("task, preset, c, m, draws", [
    ("SafetyPointGoal1-v0", "safety_gym", 10.0, 4, 0), ("SafetyHalfCheetahVelocity-v1", "halfcheetah", 1000.0, 8, 0),
    ("SafetyHopperVelocity-v1", "mujoco", 10.0, 8, 0), ("Ant-v4", "ant", 100.0, 8, 0), ("Humanoid-v4", "humanoid", 1000.0, 8, 4),
])
def test_cal_constants_follow_the_task(task, preset, c, m, draws):
    cfg = compose_config("cal", [f"env.name={task}"])
    assert (cfg.sac.cal_task, cfg.sac.rectification_coef, cfg.sac.ensemble_size, cfg.sac.cost_target_draws) == (preset, c, m, draws)
    assert (cfg.optim.batch_size, cfg.optim.weight_decay, cfg.network.init, cfg.sac.activation) == (12, False, "released", "relu")
    # a named preset overrides the choice
    assert compose_config("cal", [f"env.name={task}", "cal_task=ant"]).sac.rectification_coef == 100.0


def test_cal_max_target_draws_members_with_replacement():
    from algd_components.objectives import CostCriticMixin

    class Ens(torch.nn.Module):
        def members(self, obs, act):
            return torch.arange(8.0).view(1, 8, 1).expand(obs.shape[0], 8, 1)

    class L(CostCriticMixin, torch.nn.Module):
        pass

    loss = L()
    loss.cost_network, loss.cost_gamma, loss.cost_target_mode = Ens(), 1.0, "max"
    loss.target_cost_network_params = TensorDict({})
    obs, ones = torch.zeros(4, 1), torch.ones(4, 1)
    loss.cost_target_draws = 0
    assert torch.equal(loss.cost_target(obs, obs, 0 * ones, ones), 7 * ones)
    loss.cost_target_draws = 4
    torch.manual_seed(0)
    seen = {float(loss.cost_target(obs, obs, 0 * ones, ones)[0]) for _ in range(50)}
    assert max(seen) == 7 and min(seen) < 7  # the max of 4 draws of 8 misses the largest member sometimes
