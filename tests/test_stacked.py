"""Stacked seeds (algd_components/stacked.py): the one update function, ``update_step``, on the
S seeds' ``VmappedLoss`` equals S single-seed ``update_step`` calls given the same batches and
the same noise."""
from __future__ import annotations

import pytest
import torch
from tensordict import TensorDict
from torchrl.data import Bounded

from algd_components import algorithms
from algd_components import compose_config
import functools

from algd_components.stacked import (StackedLosses, StackedSoftUpdate, VmappedLoss, gather_optimizer_state,
                                     scatter_optimizer_state, stack_optimizers)
from algd_components.updates import update_step

OBS, ACT, B, S = 7, 2, 32, 2
SMALL = ["network.device=cpu", "network.critic_hidden=[32,32]", "optim.batch_size=32"]
CASES = {
    "algd_code": ("algd", ["network.actor_hidden=[32,32]"]),
    "algd_paper": ("algd", ["algd=paper", "network.actor_hidden=[32,32]"]),
    "sac_lag": ("sac_lag", ["sac.actor_hidden=[32,32]"]),
    "cal": ("cal", ["sac.actor_hidden=[32,32]"]),
}


def _build(algo, overrides, seed, adam_eps=None):
    cfg = compose_config(algo, SMALL + overrides)
    torch.manual_seed(seed)
    built = algorithms.get(algo).build(cfg, OBS, Bounded(-1, 1, shape=(ACT,)), 2.5, torch.device("cpu"))
    if adam_eps is not None:
        for opt in built.optimizers.values():
            for group in opt.param_groups:
                group["eps"] = adam_eps
    return built


# Adam's step lr·m̂/(sqrt(v̂)+eps) has slope up to lr/eps in the gradient where the gradient is ~0:
# at torch's eps=1e-8 that is 3e4 at lr=3e-4. With L2 decay a gradient can cancel to ~1e-9 by
# chance (seen on an AMD EPYC, cal, cost critic: g = -7.3629e-6 against 6e-5 × w = 7.3642e-6),
# and a float32 rounding difference of 2.5e-10 between the vmapped and the plain backward then
# moved that weight by 5.7e-6 after one step. The equality test is about stacking, not about
# that conditioning, so it runs Adam at eps=1e-4 (slope at most lr/eps = 3): same code paths,
# differences stay at float32 rounding.
EQ_EPS = 1e-4


def _batch(seed):
    g = torch.Generator().manual_seed(seed)
    return TensorDict({
        "observation": torch.randn(B, OBS, generator=g), "action": torch.rand(B, ACT, generator=g) * 2 - 1,
        "next": {"observation": torch.randn(B, OBS, generator=g), "reward": torch.randn(B, 1, generator=g),
                 "cost": (torch.rand(B, 1, generator=g) < 0.3).float(),
                 "terminated": torch.rand(B, 1, generator=g) < 0.1, "done": torch.zeros(B, 1, dtype=torch.bool)},
    }, [B]).update({("next", "goal_terminated"): torch.zeros(B, 1, dtype=torch.bool)})


def _stacked_update(stack, algo0, randomness, targets=True):
    """What the training loop runs for S seeds: update_step on the VmappedLoss."""
    optimizers = stack_optimizers(stack, algo0.optimizers)
    target = StackedSoftUpdate(stack, algo0.target_updater) if targets else None
    update = functools.partial(update_step, VmappedLoss(stack, randomness), optimizers, target)
    update.optimizers = optimizers
    return update


def _stacked(algo, overrides, randomness="same", adam_eps=None):
    algos = [_build(algo, overrides, s, adam_eps) for s in range(S)]
    stack = StackedLosses([a.loss for a in algos])
    return algos, stack, _stacked_update(stack, algos[0], randomness)


@pytest.mark.parametrize("case", sorted(CASES))
def test_stacked_update_equals_single_seed_updates(case):
    """Same batches and the same noise (``randomness="same"`` shares one draw; each single-seed
    update re-seeds the generator the same way): losses, parameters, targets, λ and the
    optimisers' state agree to float32 tolerance after several updates (targets move on
    every k-th update under algd=code / cal)."""
    algo, overrides = CASES[case]
    singles = [_build(algo, overrides, s, EQ_EPS) for s in range(S)]
    algos, stack, update = _stacked(algo, overrides, adam_eps=EQ_EPS)
    for it in range(4):
        batches = [_batch(100 * it + s) for s in range(S)]
        torch.manual_seed(1000 + it)
        out = update(torch.stack(batches))
        for s, single in enumerate(singles):
            torch.manual_seed(1000 + it)
            ref = update_step(single.loss, single.optimizers, single.target_updater, batches[s])
            for key, value in ref.items():
                if value.numel() == 1:
                    torch.testing.assert_close(out[key][s], value, rtol=1e-5, atol=1e-6, msg=f"{key}, seed {s}, update {it}")
    stack.scatter()
    for s, single in enumerate(singles):
        want, got = single.loss.state_dict(), algos[s].loss.state_dict()
        assert want.keys() == got.keys()
        for key in want:
            torch.testing.assert_close(got[key], want[key], rtol=1e-5, atol=1e-6, msg=key)
    for name, opt in update.optimizers.items():
        scatter_optimizer_state(opt, [a.optimizers[name] for a in algos])
        for s, single in enumerate(singles):
            want = single.optimizers[name].state_dict()["state"]
            got = algos[s].optimizers[name].state_dict()["state"]
            assert want.keys() == got.keys()
            for i in want:
                for k in want[i]:
                    torch.testing.assert_close(got[i][k], want[i][k], rtol=1e-5, atol=1e-6, msg=f"{name} {i} {k}")


@pytest.mark.parametrize("case", ["algd_code", "sac_lag"])
def test_different_randomness_gives_each_seed_its_own_noise(case):
    """Two seeds with identical weights and batches: under ``randomness="different"`` their
    sampled actions, hence their actor losses, differ; under ``"same"`` they agree (SAC-Lag:
    through TorchRL's TanhNormal, whose draw vmap refuses as torch writes it)."""
    algo, overrides = CASES[case]
    for randomness, equal in (("same", True), ("different", False)):
        algos = [_build(algo, overrides, 0) for _ in range(S)]
        stack = StackedLosses([a.loss for a in algos])
        update = _stacked_update(stack, algos[0], randomness, targets=False)
        out = update(torch.stack([_batch(0)] * S))
        assert torch.equal(out["loss_actor"][0], out["loss_actor"][1]) is equal, randomness


def test_scatter_gather_round_trip_and_optimizer_state():
    """gather() after changing one seed's own tensors puts them in the stack; scatter() writes
    the stack back; optimiser state goes to the seeds and comes back unchanged."""
    algos, stack, update = _stacked("algd", CASES["algd_code"][1], randomness="different")
    update(torch.stack([_batch(s) for s in range(S)]))
    stack.scatter()
    lam = algos[1].loss.dual.lagrange_multiplier
    with torch.no_grad():
        lam.fill_(3.5)
    stack.gather()
    assert stack.stacked(lam)[1].item() == 3.5 and stack.stacked(lam)[0].item() != 3.5
    for name, opt in update.optimizers.items():
        before = {p: {k: v.clone() for k, v in st.items()} for p, st in opt.state.items()}
        scatter_optimizer_state(opt, [a.optimizers[name] for a in algos])
        opt.state.clear()
        gather_optimizer_state(opt, [a.optimizers[name] for a in algos])
        assert before.keys() == opt.state.keys()
        for p, st in before.items():
            for k, v in st.items():
                assert torch.equal(opt.state[p][k], v), (name, k)


def test_refuses_what_cannot_be_stacked():
    algos = [_build("sac_lag", CASES["sac_lag"][1] + ["sac.dual.source=episode"], s) for s in range(S)]
    stack = StackedLosses([a.loss for a in algos])
    with pytest.raises(ValueError, match="episode"):
        VmappedLoss(stack)
    other = _build("sac_lag", CASES["sac_lag"][1] + ["network.critic_hidden=[16,16]"], 1)
    with pytest.raises(ValueError, match="build them with the same config"):
        StackedLosses([algos[0].loss, other.loss])


@pytest.mark.parametrize("case", ["algd_code", "sac_lag"])
def test_stacked_policy_acts_with_each_seeds_parameters(case):
    """Deterministic actions of the stacked policy equal each seed's own policy's; a policy
    that is not loss 0's is refused (it would act with unstacked values for every seed)."""
    from torchrl.envs.utils import ExplorationType, set_exploration_type

    from algd_components.stacked import StackedPolicy

    algo, overrides = CASES[case]
    algos, stack, update = _stacked(algo, overrides, randomness="different")
    update(torch.stack([_batch(s) for s in range(S)]))
    stack.scatter()
    policy = StackedPolicy(stack, algos[0].policy)
    obs = torch.randn(OBS).expand(S, OBS)
    with set_exploration_type(ExplorationType.DETERMINISTIC):
        actions = policy(TensorDict({"observation": obs}, [S]))["action"]
        for s in range(S):
            own = algos[s].policy(TensorDict({"observation": obs[s]}, []))["action"]
            torch.testing.assert_close(actions[s], own, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(actions[0], actions[1])
    with pytest.raises(ValueError, match="not loss 0's"):
        StackedPolicy(stack, algos[1].policy)


def test_stacked_seeds_resume_continues_each_seeds_env_exactly(tmp_path):
    """Stacked seeds stopped at a checkpoint and resumed: each seed's env is replayed from its own
    action log (training/env_replay.py), so every row is the uninterrupted stacked run's."""
    from algd_components import train
    from algd_components.training import TIME_COLUMNS
    from helpers import FAST_SAC, make_cfg, read_metrics

    args = [*FAST_SAC, "env.name=SafetyHopperVelocity-v1", "env.num_seeds=2"]
    train(make_cfg("sac_lag", args), tmp_path / "whole")
    train(make_cfg("sac_lag", [*args, "collector.total_frames=150"]), tmp_path / "part")
    train(make_cfg("sac_lag", [*args, "resume=auto"]), tmp_path / "part")
    same = lambda r: {k: v for k, v in r.items() if k not in TIME_COLUMNS}  # noqa: E731
    for s in (0, 1):
        whole, part = read_metrics(tmp_path / "whole" / f"seed{s}"), read_metrics(tmp_path / "part" / f"seed{s}")
        assert [int(r["frames"]) for r in part] == [150, 300]
        assert [same(r) for r in part] == [same(r) for r in whole], s
