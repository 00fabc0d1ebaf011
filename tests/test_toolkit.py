"""The toolkit at the algorithm level: the registry, loading a trained policy, algd-eval, and
the command line's one-line answers to bad input."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from algd_components.training.checkpoints import read_checkpoint
from torchrl.envs.utils import ExplorationType, set_exploration_type

from algd_components import ConfigError, algorithms, compose_config, load_policy, train
from algd_components.envs import make_env
from helpers import FAST, FAST_SAC, ROOT


@pytest.fixture(scope="module")
def sac_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sac") / "run"
    train(compose_config("sac_lag", [*FAST_SAC, "env.name=SafetyHopperVelocity-v1"]), out)
    return out


# ----------------------------------------------------------------------- registry
def test_builtin_algorithms_are_registered_with_their_variants():
    assert {"algd", "lgd", "sac_lag", "sac_auglag", "cal", "ppo_lag"} <= set(algorithms.names())
    assert compose_config("lgd").lagrangian.name == "standard"
    assert compose_config("sac_auglag").lagrangian.name == "augmented"
    assert compose_config("cal").sac.rectification_coef == 10.0
    with pytest.raises(ConfigError, match=r"algo='nope' is not allowed: one of \[.*'algd'"):
        algorithms.get("nope")


def test_user_algorithm_registered_from_outside_trains(tmp_path):
    """A user's variant: ALGD's builders with a config preset of its own, selected by name."""
    def build(cfg, obs_dim, action_spec, h, device):
        algo = algorithms.algd.build(cfg, obs_dim, action_spec, h, device)
        build.calls += 1
        return algo

    build.calls = 0
    algorithms.register("test_algd_beta2", config="algd", build=build, make_policy=algorithms.algd.make_policy,
                        validate=algorithms.algd.validate, overrides=["algd.beta=2.0", "lagrangian=standard"],
                        replace=True)
    cfg = compose_config("test_algd_beta2", [*FAST, "env.name=SafetyHopperVelocity-v1", "collector.total_frames=150"])
    assert (cfg.algo, cfg.algd.beta, cfg.lagrangian.name) == ("test_algd_beta2", 2.0, "standard")
    state = train(cfg, tmp_path / "run")
    assert state["frames"] == 150 and build.calls == 1
    assert load_policy(tmp_path / "run").info["algo"] == "test_algd_beta2"
    with pytest.raises(ValueError, match="already registered"):
        algorithms.register("test_algd_beta2", config="algd", build=build, make_policy=algorithms.algd.make_policy)


PLUGIN = """def register():
    from algd_components import algorithms
    algorithms.register("algd_plugin", config="algd", build=algorithms.algd.build,
                        make_policy=algorithms.algd.make_policy, validate=algorithms.algd.validate,
                        overrides=["algd.beta=5.0"], description="ALGD from a plugin")
"""


def test_an_entry_point_registers_an_algorithm_for_the_console_scripts(tmp_path):
    """docs/components.md: a console script is a new process, so an algorithm registered in a user's
    Python session is unknown there; a package's entry point in the group algd_components.algorithms
    registers it when a name is first not found (here a package installed as a bare dist-info)."""
    (tmp_path / "algd_plugin_pkg.py").write_text(PLUGIN)
    dist = tmp_path / "algd_plugin_pkg-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: algd-plugin-pkg\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[algd_components.algorithms]\nalgd_plugin = algd_plugin_pkg:register\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    proc = subprocess.run([str(Path(sys.executable).parent / "algd-train"), "algo=algd_plugin", "--help"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-1500:]
    assert "algd_plugin  ALGD from a plugin" in proc.stdout and "algo: algd_plugin" in proc.stdout
    assert "  beta: 5.0" in proc.stdout  # the variant's override composed


# ----------------------------------------------------------------------- policies
def test_policy_file_is_small_weights_only_and_acts_like_the_trained_actor(algd_run):
    blob = torch.load(algd_run / "policy.pt", weights_only=True)
    assert blob["algo"] == "algd" and blob["frames"] == 300
    assert (algd_run / "policy.pt").stat().st_size < (algd_run / "checkpoint.pt").stat().st_size / 5
    policy = load_policy(algd_run)
    env = make_env("SafetyHopperVelocity-v1", seed=1, max_episode_steps=30)
    env.set_seed(1)
    a = env.rollout(30, policy)["action"]
    env.set_seed(1)
    b = env.rollout(30, policy)["action"]
    assert torch.equal(a, b)  # deterministic by default: same states, same actions
    # the same weights as the checkpoint's actor
    ckpt = read_checkpoint(algd_run / "checkpoint.pt")
    for k, v in policy.policy.state_dict().items():
        assert torch.equal(v, ckpt["loss"][f"actor.{k}"]), k
    stochastic = load_policy(algd_run / "checkpoint.pt", deterministic=False)  # the checkpoint's path works too
    td = env.reset()
    with set_exploration_type(ExplorationType.DETERMINISTIC):  # the caller's setting does not leak in
        s1, s2 = stochastic(td.clone())["action"], stochastic(td.clone())["action"]
    assert not torch.equal(s1, s2)


def test_sac_policy_loads_deterministic(sac_run):
    policy = load_policy(sac_run, algo="sac_lag")
    td = make_env("SafetyHopperVelocity-v1", seed=0).reset()
    assert torch.equal(policy(td.clone())["action"], policy(td.clone())["action"])


def test_bad_policy_sources_are_one_line(algd_run, tmp_path):
    cases = [
        (tmp_path, "no policy file found"),
        (algd_run / "metrics.csv", "is not a policy file of this package .not a file torch.save wrote"),
    ]
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    cases.append((junk, "is not a policy file of this package"))
    ckpt_copy = tmp_path / "copy.pt"
    ckpt_copy.write_bytes((algd_run / "checkpoint.pt").read_bytes())
    cases.append((ckpt_copy, "a training checkpoint: give its run folder"))
    other = tmp_path / "other.pt"
    torch.save({"format": "something else"}, other)
    cases.append((other, "is not a policy file of this package"))
    for source, message in cases:
        with pytest.raises(ConfigError, match=message) as err:
            load_policy(source)
        assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="holds a policy of algo='algd', not algo='sac_lag'"):
        load_policy(algd_run, algo="sac_lag")


# ----------------------------------------------------------------------- algd-eval
def test_evaluate_prints_episodes_and_summary(algd_run, capsys):
    from algd_components.evaluate import main

    assert main([str(algd_run), "--episodes", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    # the run's episodes are 50 steps: the task's 25 per 1000 steps, scaled to them (envs.episode_cost_limit)
    assert len(result["episodes"]) == 2 and result["summary"]["cost_limit"] == 25.0 * 50 / 1000
    for e in result["episodes"]:
        assert e["violation"] == (e["cost"] > 1.25) and e["length"] <= 50
    assert main([str(algd_run), "--episodes", "2"]) == 0
    text = capsys.readouterr().out
    assert "violation rate:" in text and text.count("\n") == 7
    assert main([str(algd_run.parent / "nothing"), "--episodes", "1"]) == 2
    assert "no policy file found" in capsys.readouterr().err


# ----------------------------------------------------------------------- the command line
def _cli(tmp_path, *args, module="algd_components.cli"):
    return subprocess.run([sys.executable, "-m", module, *args], cwd=tmp_path, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("args, message", [
    (["algo=nope"], "algo='nope' is not allowed"),
    (["optim.lr=abc"], "optim.lr"),
    (["optim.lrr=1"], "optim.lrr: not a config key"),
    (["network.critic_hidden=[]"], "network.critic_hidden=[] is not allowed"),
    (["network.critic_hidden=[-5]"], "network.critic_hidden=[-5] is not allowed"),
    (["optim.cost_weight_decay=[1e-4]"], "optim.cost_weight_decay=[0.0001] is not allowed: 3 values"),
    (["algd.mc_samples=0"], "algd.mc_samples=0 is not allowed: an integer >= 1 (N)"),
    (["resume=nowhere"], "no checkpoint found"),
])
def test_cli_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, args, message):
    proc = _cli(tmp_path, *args)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert message in proc.stderr and proc.stderr.strip().count("\n") == 0, proc.stderr
    assert list(tmp_path.iterdir()) == []  # no outputs/ folder, no .hydra


def test_resume_of_another_algorithms_checkpoint_is_one_line(sac_run, tmp_path):
    with pytest.raises(ConfigError, match="this one is of algo='sac_lag'"):
        train(compose_config("algd", [*FAST, f"resume={sac_run}"]), tmp_path)
    proc = subprocess.run([sys.executable, str(ROOT / "recipes/algd/train.py"), f"resume={sac_run}"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "algo='sac_lag'" in proc.stderr and proc.stderr.strip().count("\n") == 0
    junk = tmp_path / "junk.pt"
    torch.save({"hello": 1}, junk)
    with pytest.raises(ConfigError, match="not a training checkpoint of this version"):
        train(compose_config("algd", [*FAST, f"resume={junk}"]), tmp_path)


def test_cli_trains_from_any_folder_and_resumes_by_the_runs_algorithm(tmp_path):
    fast = [*FAST_SAC, "env.name=SafetyHopperVelocity-v1", "collector.total_frames=150"]
    proc = _cli(tmp_path, "algo=sac_lag", *fast, "hydra.run.dir=run")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "run" / "policy.pt").is_file()
    proc = _cli(tmp_path, "resume=run", "collector.total_frames=200", "progress_bar=false")  # no algo=: the run's
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert torch.load(tmp_path / "run" / "policy.pt", weights_only=True)["frames"] == 200


def test_cli_multirun_sweeps_seeds_and_checks_every_job_first(tmp_path):
    fast = [*FAST_SAC, "env.name=SafetyHopperVelocity-v1", "collector.total_frames=100", "collector.init_random_frames=50"]
    proc = _cli(tmp_path, "algo=sac_lag", "-m", "env.seed=0,1", "optim.batch_size=16,0")
    assert proc.returncode == 2 and "optim.batch_size=0" in proc.stderr and list(tmp_path.iterdir()) == []
    proc = _cli(tmp_path, "algo=sac_lag", "-m", "env.seed=0,1", *fast, "hydra.sweep.dir=sweep")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.parent.name for p in (tmp_path / "sweep").glob("*/metrics.csv")) == ["0", "1"]
