"""Builders and cross-key checks more than one algorithm uses."""
from __future__ import annotations

import torch
from omegaconf import DictConfig, OmegaConf
from tensordict.nn import TensorDictModule
from torchrl.data import Bounded
from torchrl.modules import ProbabilisticActor, TanhNormal

from ..config import ConfigError, check_ranges, require
from ..dual import DualVariable
from ..envs import get_task
from ..lagrangians import Lagrangian
from ..lagrangians import make_lagrangian as _make_lagrangian

__all__ = ["goal_terminal_keys", "make_lagrangian", "make_dual", "pick_device", "validate_common", "check_dual", "check_cost_weight_decay",
           "check_replay_buffer", "check_memory", "available_memory_bytes", "cost_weight_decay", "released_init_"]


def make_lagrangian(cfg: DictConfig) -> Lagrangian:
    """The ``lagrangian`` node built (a registered name or a ``_target_``); a bad one is a
    one-line :class:`ConfigError`."""
    try:
        return _make_lagrangian(OmegaConf.to_container(cfg.lagrangian, resolve=True))
    except (ValueError, TypeError) as err:
        raise ConfigError(f"lagrangian: {err}") from None


def make_dual(node: DictConfig, device) -> DualVariable:
    """A :class:`DualVariable` from a ``DualConfig`` node."""
    return DualVariable(init_value=float(node.init), rule=node.rule, lr=float(node.lr)).to(device)


def goal_terminal_keys(cfg: DictConfig, loss) -> None:
    """``env.goal_terminal`` on a Safety-Gym navigation task: the loss's reward stops
    bootstrapping at a met goal (``("next", "goal_terminated")``, :class:`~algd_components.envs.GoalTerminated`)
    while its cost critics keep ``terminated`` — the released ALGD and CAL code cut only the
    reward's mask there (their cost mask is all ones on Safety-Gym)."""
    if cfg.env.get("goal_terminal", False) and get_task(cfg.env.name).family == "safety_gym":
        loss.set_keys(terminated="goal_terminated", cost_terminated="terminated")


def pick_device(name: str | None, key: str = "network.device") -> torch.device:
    """``""``/``None`` → CUDA when available, else CPU; otherwise the named device, checked to
    exist and be usable here (a one-line :class:`ConfigError` naming ``key`` otherwise)."""
    if not name:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError):
        raise ConfigError(f"{key}={name!r} is not allowed: a device: '', 'cpu' or 'cuda[:N]'") from None
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if not count:
            raise ConfigError(f"{key}={name!r} is not allowed: CUDA is not available here; use '' or 'cpu'")
        if (dev.index or 0) >= count:
            raise ConfigError(f"{key}={name!r} is not allowed: this machine has {count} CUDA device(s), cuda:0.."
                              f"cuda:{count - 1}")
    elif dev.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise ConfigError(f"{key}={name!r} is not allowed: Apple's MPS is not available here; use '' or 'cpu'")
    elif dev.type != "cpu":
        raise ConfigError(f"{key}={name!r} is not allowed: a device that trains: '', 'cpu', 'cuda[:N]' or 'mps'")
    return dev


ENV_WORKER_BYTES = 300e6  # one ParallelEnv worker process with a MuJoCo task: ~250-300 MB resident
MAX_UPDATES = 1e8


def validate_common(cfg: DictConfig) -> None:
    """Every key's range (from the schema), then the checks across keys that every
    algorithm shares."""
    check_ranges(cfg)
    try:
        get_task(cfg.env.name)
    except ValueError as err:
        raise ConfigError(f"env.name: {err}") from None
    pick_device(cfg.network.device)
    lag = cfg.lagrangian  # free-form (its keys depend on the class); the built-in one's rho checked here
    if lag.get("name") == "augmented" and "rho" in lag:
        rho = lag.rho
        require(isinstance(rho, (int, float)) and not isinstance(rho, bool) and rho > 0 and rho != float("inf"),
                "lagrangian.rho", rho, "a number > 0")
    make_lagrangian(cfg)
    c = cfg.collector
    # evaluation seeds are env.seed + 10000 + frames (RunRecord.eval_seed), seeds of S stacked ones env.seed + s:
    # all must be valid numpy seeds, [0, 2^32)
    top = 2**32 - 10_000 - c.total_frames - cfg.env.num_seeds
    require(0 <= cfg.env.seed < top, "env.seed", cfg.env.seed,
            f"an integer in [0, {top}) (seeds, evaluation seeds env.seed + 10000 + frames included, must be < 2^32)")
    free = available_memory_bytes(torch.device("cpu"))
    workers = max(1, int((free or 8e9) // ENV_WORKER_BYTES))
    require(cfg.env.num_envs <= workers, "env.num_envs", cfg.env.num_envs,
            f"an integer <= {workers} on this machine (each env copy is a worker process of about "
            f"{ENV_WORKER_BYTES / 1e6:.0f} MB; {(free or 0) / 1e9:.1f} GB available)")
    if not cfg.resume:  # (a resume's frame budget is checked against its checkpoint's config)
        require(c.frames_per_batch <= c.total_frames, "collector.frames_per_batch", c.frames_per_batch,
                f"an integer <= collector.total_frames ({c.total_frames})")
    if not cfg.get("ppo"):
        updates = cfg.optim.utd_ratio * c.total_frames
        require(updates <= MAX_UPDATES, "optim.utd_ratio", cfg.optim.utd_ratio,
                f"at most {MAX_UPDATES:.0e} updates in a run: optim.utd_ratio x collector.total_frames is {updates:.3g} "
                "(at ~50 ms an update on a CPU, 10^8 updates take two months)")
    if cfg.env.num_seeds > 1:  # stacked seeds (algd_components.training.seeds)
        why = f"with env.num_seeds={cfg.env.num_seeds} (stacked seeds)"
        require(cfg.env.num_envs == 1, "env.num_envs", cfg.env.num_envs, f"1 {why}: each seed steps one env")
        require(not c.async_collection, "collector.async_collection", c.async_collection, f"false {why}")
        require(not cfg.logger.video_every, "logger.video_every", cfg.logger.video_every, f"0 {why}")
        require(cfg.resume in (None, "auto"), "resume", cfg.resume,
                f"null or 'auto' {why}: each seed's folder resumes its own checkpoint (resume one seed alone "
                "with resume=RUN/seed<N>)")
    o = cfg.optim
    if o.get("update_cap", 0):  # the released per-step rule runs round(utd_ratio) updates after a step
        require(float(o.utd_ratio).is_integer(), "optim.utd_ratio", o.utd_ratio,
                f"a whole number with optim.update_cap={o.update_cap:g} (the updates after each env step)")
    require(cfg.replay_buffer.get("min_size", 0) < cfg.replay_buffer.size, "replay_buffer.min_size",
            cfg.replay_buffer.get("min_size", 0), f"an integer below replay_buffer.size ({cfg.replay_buffer.size})")
    require(c.init_random_frames % c.frames_per_batch == 0, "collector.init_random_frames", c.init_random_frames,
            f"a multiple of collector.frames_per_batch ({c.frames_per_batch}): the collector rounds it up otherwise")
    if cfg.logger.video_every:
        import importlib.util

        missing = [m for m in ("imageio", "imageio_ffmpeg") if importlib.util.find_spec(m) is None]
        require(not missing, "logger.video_every", cfg.logger.video_every,
                f"0 here: videos need {missing} (pip install 'algd-components[video]')")
    backend = cfg.logger.backend
    if backend in ("tensorboard", "wandb"):
        import importlib.util

        package = {"tensorboard": "tensorboard", "wandb": "wandb"}[backend]
        require(importlib.util.find_spec(package) is not None, "logger.backend", backend,
                f"'csv' or '' here: the {package!r} package is not installed (pip install 'algd-components[{package}]')")


def check_dual(cfg: DictConfig, node: DictConfig, prefix: str) -> None:
    """Checks of a dual-variable node across its keys and the task."""
    require(node.rule != "log_adam" or node.init > 0, f"{prefix}.init", node.init,
            f"> 0 with {prefix}.rule=log_adam (it stores log lambda)")
    task = get_task(cfg.env.name)
    require(node.source != "episode" or task.limit_kind == "episodic", f"{prefix}.source", node.source,
            f"'batch' or 'policy' for {task.name}, whose limit is on the discounted cost")
    require(node.source != "episode" or cfg.env.num_seeds == 1, f"{prefix}.source", node.source,
            f"'batch' or 'policy' with env.num_seeds={cfg.env.num_seeds} (stacked seeds step each λ in one "
            "vectorised update, not from a host number per seed)")


def check_cost_weight_decay(cfg: DictConfig) -> None:
    """``optim.cost_weight_decay`` needs one value per cost-ensemble layer."""
    layers = len(cfg.network.critic_hidden) + 1
    wd = list(cfg.optim.cost_weight_decay)
    require(len(wd) == layers, "optim.cost_weight_decay", wd,
            f"{layers} values, one per cost-ensemble layer (network.critic_hidden has {layers - 1} hidden layers)")


def check_replay_buffer(cfg: DictConfig) -> None:
    """Off-policy algorithms: the buffer holds a batch, and holds one by the first update
    (sampling is with replacement, so a smaller buffer would train on duplicates silently)."""
    size, batch = cfg.replay_buffer.size, cfg.optim.batch_size
    require(size >= batch, "optim.batch_size", batch, f"an integer <= replay_buffer.size ({size})")
    c = cfg.collector
    # updates start with the first collected batch that reaches init_random_frames (a multiple of the batch)
    first = max(c.init_random_frames, c.frames_per_batch)
    require(min(first, size) >= batch, "collector.init_random_frames", c.init_random_frames,
            f"enough frames for one batch before the first update: the buffer holds {min(first, size)} frames then "
            f"(collector.frames_per_batch={c.frames_per_batch}), fewer than optim.batch_size={batch}")


def available_memory_bytes(device: torch.device) -> int | None:
    """Free memory where the update runs: the GPU's free memory, or the host's MemAvailable."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def check_memory(cfg: DictConfig, need_bytes: float, key: str, what: str) -> None:
    """Refuse a config whose update needs more memory than is available (one line with the
    estimate); print one warning line when it needs more than half."""
    import sys

    free = available_memory_bytes(pick_device(cfg.network.device))
    if free is None:
        return
    gb = lambda b: f"{b / 2**30:.1f} GB"  # noqa: E731
    value = OmegaConf.select(cfg, key)
    require(need_bytes <= free, key, value,
            f"a smaller value: one update would need about {gb(need_bytes)} ({what}), more than the {gb(free)} available")
    if need_bytes > free / 2:
        print(f"warning: one update will need about {gb(need_bytes)} ({what}) of the {gb(free)} available", file=sys.stderr)


def cost_weight_decay(cfg: DictConfig) -> list[float]:
    """Per-layer weight decay of the cost ensemble, or zeros with ``optim.weight_decay=false``."""
    wd = [float(w) for w in cfg.optim.cost_weight_decay]
    return wd if cfg.optim.weight_decay else [0.0] * len(wd)


def released_init_(*xavier_modules: torch.nn.Module, cost_ensemble=None) -> None:
    """``network.init=released``: Xavier-uniform weights and zero biases for every linear layer
    of ``xavier_modules`` (``nn.Linear`` and ``EnsembleMLP`` alike), truncated normal
    (std ``1/(2 sqrt(in))``) for ``cost_ensemble``, as the authors' code initialises them."""
    from ..nn import EnsembleMLP, init_linear_

    for module in xavier_modules:
        for m in module.modules():
            if isinstance(m, torch.nn.Linear):
                init_linear_(m.weight, m.bias, m.in_features, "xavier")
            elif isinstance(m, EnsembleMLP):
                m.reset_parameters("xavier")
    if cost_ensemble is not None:
        cost_ensemble.net.reset_parameters("trunc_normal")


# ---------------------------------------------------------------- builders shared by SAC-Lag/CAL and PPO-Lag
def action_bounds(action_spec, act_dim: int) -> Bounded:
    """A per-row action box: a batched env's spec is ``[n_envs, d]`` with identical rows."""
    low = action_spec.space.low.reshape(-1, act_dim)[0]
    high = action_spec.space.high.reshape(-1, act_dim)[0]
    return Bounded(low=low, high=high, shape=(act_dim,))


def tanh_normal_actor(net, bounds: Bounded, **kwargs) -> ProbabilisticActor:
    # TanhNormal squashes to [-1, 1] unless told the bounds (the spec alone does not tell it)
    return ProbabilisticActor(
        TensorDictModule(net, in_keys=["observation"], out_keys=["loc", "scale"]),
        in_keys=["loc", "scale"], spec=bounds, distribution_class=TanhNormal,
        distribution_kwargs={"low": bounds.space.low, "high": bounds.space.high}, **kwargs,
    )
