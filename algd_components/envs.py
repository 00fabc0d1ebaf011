"""Environment factory: Safety-Gymnasium navigation, Safety-Gymnasium velocity and the
paper's continuous-cost velocity-constrained MuJoCo tasks, all as TorchRL envs with the
same keys.

Every env built by :func:`make_env` has

* float32 ``observation`` and ``action`` (``DoubleToFloat``),
* ``("next", "reward")`` and ``("next", "cost")``, both float32 of shape ``[1]``,
* ``("next", "episode_reward")`` / ``("next", "episode_cost")`` summed by ``RewardSum``,
* ``step_count`` and truncation at ``max_episode_steps`` (``StepCounter``),
* on Safety-Gym navigation tasks, ``("next", "goal_met")`` and ``("next", "goal_terminated")``
  (:class:`GoalTerminated`).

``python -m algd_components.envs --list`` prints the task names.
"""
from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

import torch
from tensordict import TensorDictBase

from torchrl.data import Composite, Unbounded
from torchrl.envs.gym_like import BaseInfoDictReader
from torchrl.envs import Compose, DoubleToFloat, EnvBase, RewardSum, StepCounter, Transform, TransformedEnv

from .functional import episodic_to_discounted_limit

__all__ = [
    "TaskSpec",
    "TASKS",
    "UnknownTaskError",
    "get_task",
    "make_env",
    "cost_limit_for_critic",
    "episode_cost_limit",
    "CostAsReward",
    "TruncateObservation",
    "GoalTerminated",
]


@dataclass(frozen=True)
class TaskSpec:
    """What the factory knows about a task.

    ``family``: ``"safety_gym"`` (navigation), ``"safety_velocity"`` (safety-gymnasium's
    binary velocity cost) or ``"velocity"`` (the paper's continuous speed cost on gymnasium
    MuJoCo).  ``cost_limit`` is per episode (``limit_kind="episodic"``) or on the
    discounted cost (``"discounted"``).
    """

    name: str
    family: str
    env_id: str
    max_episode_steps: int
    cost_limit: float
    limit_kind: str
    obs_truncate: int | None = None


def _build_tasks() -> dict[str, TaskSpec]:
    tasks: dict[str, TaskSpec] = {}
    # Navigation: the paper's code ran 400-step episodes with an episode cost limit of 10.
    for robot in ("Point", "Car"):
        for task in ("Goal", "Button", "Push"):
            for level in (0, 1, 2):
                name = f"Safety{robot}{task}{level}-v0"
                tasks[name] = TaskSpec(name, "safety_gym", name, 400, 10.0, "episodic")
    # safety-gymnasium velocity tasks: binary cost, 1000-step episodes, the benchmark's
    # usual episode cost limit of 25.
    for robot in ("Hopper", "HalfCheetah", "Ant", "Humanoid"):
        name = f"Safety{robot}Velocity-v1"
        tasks[name] = TaskSpec(name, "safety_velocity", name, 1000, 25.0, "episodic")
    # The paper's continuous flavour: cost = speed, limits on the discounted cost, and the
    # paper code's observation truncation for Ant (27) and Humanoid (45: qpos[2:] + qvel).
    for robot, limit, trunc in (
        ("Hopper", 82.748, None),
        ("HalfCheetah", 151.989, None),
        ("Ant", 103.115, 27),
        ("Humanoid", 20.140, 45),
    ):
        name = f"{robot}-v4"
        tasks[name] = TaskSpec(name, "velocity", name, 1000, limit, "discounted", trunc)
    return tasks


TASKS: dict[str, TaskSpec] = _build_tasks()


class UnknownTaskError(ValueError):
    pass


def get_task(name: str) -> TaskSpec:
    if name not in TASKS:
        raise UnknownTaskError(
            f"unknown task {name!r}; list the valid ones with: python -m algd_components.envs --list"
        )
    return TASKS[name]


def episode_cost_limit(task: TaskSpec, max_episode_steps: int | None = None, cost_limit: float | None = None) -> float:
    """The cost limit a run of ``task`` judges its episodes by: ``cost_limit`` (``env.cost_limit``)
    when given; else the task's, and an episodic limit scaled to the episode length the run uses
    (``task.cost_limit × max_episode_steps / task.max_episode_steps``: an episode cut to 1/10 of
    its steps gets 1/10 of the budget, the same cost per step).  The one rule of the loop, the
    critic's budget, ``algd-eval``, the figures and ``algd-compare``'s summary."""
    if cost_limit is not None:
        return float(cost_limit)
    steps = task.max_episode_steps if max_episode_steps is None else int(max_episode_steps)
    if task.limit_kind == "discounted" or steps == task.max_episode_steps:
        return task.cost_limit
    return task.cost_limit * steps / task.max_episode_steps


def cost_limit_for_critic(task: TaskSpec, gamma: float, max_episode_steps: int, cost_limit: float | None = None) -> float:
    """The budget ``h`` the cost critic's value is compared with.

    Episodic limits ``d`` become ``d (1-γ^T)/((1-γ)T)`` (the released code's Safety-Gym
    budget); discounted limits are used as they are.
    """
    limit = task.cost_limit if cost_limit is None else float(cost_limit)
    if task.limit_kind == "discounted":
        return limit
    return episodic_to_discounted_limit(limit, gamma, max_episode_steps)


class CostAsReward(Transform):
    """Turn safety-gymnasium's ``cost`` observation (``()`` float64) into a reward entry:
    float32 of shape ``[1]`` declared in the env's reward spec, so ``("next", "cost")``
    has the shape of ``("next", "reward")`` and reward transforms (``RewardSum``) take it."""

    def __init__(self, key: str = "cost"):
        super().__init__(in_keys=[key], out_keys=[key])

    def _apply_transform(self, cost: torch.Tensor) -> torch.Tensor:
        return cost.to(torch.float32).unsqueeze(-1)

    def _reset(self, tensordict: TensorDictBase, tensordict_reset: TensorDictBase) -> TensorDictBase:
        # the reset cost is not a reward: drop it so reset tensordicts carry no stale cost
        tensordict_reset.exclude(self.in_keys[0], inplace=True)
        return tensordict_reset

    def transform_output_spec(self, output_spec):
        key = self.in_keys[0]
        obs_spec = output_spec["full_observation_spec"]
        spec = obs_spec[key]
        del obs_spec[key]
        output_spec["full_reward_spec"][key] = Unbounded(shape=(*spec.shape, 1), dtype=torch.float32, device=spec.device)
        return output_spec


class TruncateObservation(Transform):
    """Keep the first ``size`` entries of the observation (the paper code's Ant/Humanoid
    truncation, which drops the contact-force and inertia terms)."""

    def __init__(self, size: int, key: str = "observation"):
        super().__init__(in_keys=[key], out_keys=[key])
        self.size = size

    def _apply_transform(self, obs: torch.Tensor) -> torch.Tensor:
        return obs[..., : self.size]

    def _reset(self, tensordict: TensorDictBase, tensordict_reset: TensorDictBase) -> TensorDictBase:
        return self._call(tensordict_reset)

    def transform_observation_spec(self, observation_spec):
        key = self.in_keys[0]
        spec = observation_spec[key]
        observation_spec[key] = Unbounded(shape=(*spec.shape[:-1], self.size), dtype=spec.dtype, device=spec.device)
        return observation_spec


class GoalMetReader(BaseInfoDictReader):
    """Reads Safety-Gymnasium's ``info["goal_met"]`` (a Python bool, present only on the step
    that meets the goal) into a ``goal_met`` bool entry, ``False`` when absent.  TorchRL's
    ``default_info_dict_reader`` expects numpy values and fails on the bool."""

    _spec = Composite(goal_met=Unbounded((), dtype=torch.bool), shape=[])

    def __call__(self, info_dict: dict, tensordict: TensorDictBase) -> TensorDictBase:
        return tensordict.set("goal_met", torch.tensor(bool(info_dict.get("goal_met", False))))

    @property
    def info_spec(self):
        return self._spec


class GoalTerminated(Transform):
    """``("next", "goal_terminated")``: ``terminated`` or'ed with Safety-Gymnasium's
    ``info["goal_met"]`` (read into ``goal_met`` by the env's info reader).  Goal tasks
    relocate the goal and go on, so the episode does not end; a loss that reads this key as
    its reward's ``terminated`` (``env.goal_terminal=true``) stops bootstrapping the reward at
    a met goal, as the released ALGD and CAL samplers do (``done = True if info["goal_met"]``)."""

    def __init__(self):
        super().__init__(in_keys=["terminated", "goal_met"], out_keys=["goal_terminated"])

    def _call(self, next_tensordict: TensorDictBase) -> TensorDictBase:
        met = next_tensordict.get("goal_met").reshape(next_tensordict.get("terminated").shape)
        return next_tensordict.set("goal_terminated", next_tensordict.get("terminated") | met)

    def _reset(self, tensordict: TensorDictBase, tensordict_reset: TensorDictBase) -> TensorDictBase:
        # every key of the spec at reset too (collectors preallocate from it): no goal is met at a reset
        done = tensordict_reset.get("terminated")
        tensordict_reset.set("goal_met", torch.zeros(done.shape[:-1], dtype=torch.bool, device=done.device))
        return tensordict_reset.set("goal_terminated", torch.zeros_like(done))

    def transform_observation_spec(self, observation_spec):
        return observation_spec

    def transform_output_spec(self, output_spec):
        done = output_spec["full_done_spec"]["terminated"]
        output_spec["full_observation_spec"]["goal_terminated"] = done.clone()
        return output_spec


def _quiet_start() -> None:
    """Drop gymnasium-robotics' import-time notice (a plain print to stderr, once per process
    and env worker) at its source: gymnasium prints what ``farama_notifications`` holds for
    its plugins when it is first imported, which is here (and in each env worker, which builds
    its env through :func:`make_env`)."""
    try:
        import farama_notifications

        farama_notifications.notifications.pop("gymnasium_robotics", None)
    except Exception:  # not installed, or a different layout: nothing to silence
        pass


def _speed_cost_env(env_id: str, **make_kwargs):
    """A gymnasium MuJoCo env whose ``step`` returns safety-gymnasium's 6-tuple with
    cost = |x velocity| (Hopper, HalfCheetah) or the planar speed (Ant, Humanoid)."""
    import gymnasium as gym

    class SpeedCost(gym.Wrapper):
        def step(self, action):
            obs, reward, terminated, truncated, info = self.env.step(action)
            vx = float(info.get("x_velocity", 0.0))
            vy = float(info.get("y_velocity", 0.0))
            cost = math.hypot(vx, vy)
            return obs, reward, cost, terminated, truncated, info

    return SpeedCost(gym.make(env_id, **make_kwargs))


def make_env(
    name: str,
    seed: int | None = None,
    max_episode_steps: int | None = None,
    device: str | torch.device = "cpu",
    render_mode: str | None = None,
) -> EnvBase:
    """Build the TorchRL env for task ``name`` (see :data:`TASKS`); ``render_mode="rgb_array"``
    lets ``env.base_env._env.render()`` return frames (for videos)."""
    task = get_task(name)
    steps = task.max_episode_steps if max_episode_steps is None else int(max_episode_steps)
    if steps < 1:
        raise ValueError(f"max_episode_steps must be >= 1, got {max_episode_steps!r}")
    _quiet_start()
    from torchrl.envs.libs.safety_gymnasium import SafetyGymnasiumEnv, SafetyGymnasiumWrapper

    render = {} if render_mode is None else {"render_mode": render_mode}
    if task.family == "velocity":
        base = SafetyGymnasiumWrapper(_speed_cost_env(task.env_id, **render), device=device)
    else:
        base = SafetyGymnasiumEnv(task.env_id, device=device, **render)
    transforms = [CostAsReward()]
    if task.family == "safety_gym":  # ("next", "goal_met") from the info dict, and goal_terminated from it
        base.set_info_dict_reader(GoalMetReader())
        transforms.append(GoalTerminated())
    if task.obs_truncate is not None:
        transforms.append(TruncateObservation(task.obs_truncate))
    transforms += [
        DoubleToFloat(),
        StepCounter(max_steps=steps),
        RewardSum(in_keys=["reward", "cost"], out_keys=["episode_reward", "episode_cost"]),
    ]
    env = TransformedEnv(base, Compose(*transforms))
    if seed is not None:
        env.set_seed(int(seed))
    return env


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m algd_components.envs", description=__doc__.split("\n")[0])
    parser.add_argument("--list", action="store_true", help="list task names with family, episode length and cost limit")
    args = parser.parse_args(argv)
    if not args.list:
        parser.print_help()
        return 0
    print(f"{'task':28s} {'family':16s} {'steps':>5s} {'cost limit':>11s}")
    for t in TASKS.values():
        print(f"{t.name:28s} {t.family:16s} {t.max_episode_steps:5d} {t.cost_limit:11.3f} ({t.limit_kind})")
    return 0


if __name__ == "__main__":
    from algd_components.console import exit_with

    exit_with(main)
