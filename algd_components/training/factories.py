"""Builders of what the loop steps: train and eval envs, the collector, the replay buffer."""
from __future__ import annotations

from functools import partial

from omegaconf import DictConfig
from torchrl.collectors import Collector
from torchrl.data import LazyTensorStorage, TensorDictReplayBuffer

from ..envs import cost_limit_for_critic, episode_cost_limit, get_task, make_env

__all__ = ["make_envs", "make_batched_env", "train_env_factory", "make_collector", "make_replay_buffer"]


def make_envs(cfg: DictConfig):
    """Train env, eval env, the task spec, the episode length and the critic budget h."""
    task = get_task(cfg.env.name)
    steps = cfg.env.max_episode_steps or task.max_episode_steps
    train_env = make_batched_env(task.name, cfg.env.num_envs, cfg.env.vectorize, cfg.env.seed, steps)
    eval_env = make_env(task.name, seed=cfg.env.seed + 10_000, max_episode_steps=steps)
    h = cost_limit_for_critic(task, cfg.optim.cost_gamma, steps, episode_cost_limit(task, steps, cfg.env.cost_limit))
    return train_env, eval_env, task, steps, h


def make_batched_env(name: str, num_envs: int, vectorize: str, seed: int, steps: int):
    """One env, or ``num_envs`` copies in a TorchRL ``ParallelEnv`` (worker processes) or
    ``SerialEnv`` (one process); worker ``i`` is seeded ``seed + i``."""
    from torchrl.envs import EnvCreator, ParallelEnv, SerialEnv

    if num_envs == 1:
        return make_env(name, seed=seed, max_episode_steps=steps)
    batched = (ParallelEnv if vectorize == "parallel" else SerialEnv)(
        num_envs, EnvCreator(lambda: make_env(name, max_episode_steps=steps))
    )
    batched.set_seed(seed)
    return batched


def train_env_factory(cfg: DictConfig, task_name: str, steps: int):
    """A picklable factory of the training env (for a collector's worker process)."""
    from torchrl.envs import EnvCreator

    return EnvCreator(partial(make_batched_env, task_name, cfg.env.num_envs, cfg.env.vectorize, cfg.env.seed, steps))


def make_collector(cfg: DictConfig, env, actor, device, frames_done: int, env_factory=None, **collector_kwargs):
    """TorchRL's ``Collector`` stepping ``env`` in this process, or, given ``env_factory``
    (``collector.async_collection``), an ``AsyncCollector``: a worker process builds its own env
    with it and collects the next batch while this process runs the updates on the last one
    (the batch then comes from the policy as it was one batch ago)."""
    c = cfg.collector
    kwargs = dict(
        frames_per_batch=c.frames_per_batch,
        total_frames=c.total_frames - frames_done,
        # warmup_actor=policy: the policy acts from the first frame (updates still wait for init_random_frames)
        init_random_frames=max(0, c.init_random_frames - frames_done) if c.get("warmup_actor", "uniform") == "uniform" else 0,
        policy_device=device,
        env_device="cpu",
        storing_device=device,
    )
    if env_factory is not None:
        from torchrl.collectors import AsyncCollector

        # one math thread for the worker: on a small machine the updates need the rest
        return AsyncCollector(env_factory, actor, num_threads=1, **kwargs)
    return Collector(env, actor, auto_register_policy_transforms=False, **kwargs, **collector_kwargs)


def make_replay_buffer(cfg: DictConfig, device) -> TensorDictReplayBuffer:
    return TensorDictReplayBuffer(
        storage=LazyTensorStorage(cfg.replay_buffer.size, device=device),
        batch_size=cfg.optim.batch_size,
    )
