"""Config checks (algd_components/config.py, algorithms/compose.py): every leaf of every algorithm's
schema refuses its bad values, and the hostile values that once got through, in one line naming
the key, before anything is written."""
import dataclasses

import pytest
from helpers import FAST, make_cfg, read_metrics
from omegaconf import OmegaConf

from algd_components import ConfigError, compose_config, train
from algd_components.cli import precheck



# ----------------------------------------------------------------------- every key's bad values
def _leaves(schema, prefix=""):
    for f in dataclasses.fields(schema):
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if dataclasses.is_dataclass(default):
            yield from _leaves(type(default), f"{prefix}{f.name}.")
        else:
            yield f"{prefix}{f.name}", f, default


def _bad_values(key, field, default):
    """(override value, why) pairs that must be refused for this key."""
    t = str(field.type)
    rng = field.metadata.get("range")
    out = []
    if key in ("algo", "resume", "overwrite", "progress_bar", "lagrangian", "logger.exp_name", "env.name", "network.device"):
        return {"algo": [("nope", "algo='nope'")], "resume": [("nowhere", "no checkpoint found")],
                "overwrite": [("maybe", "overwrite")], "progress_bar": [("maybe", "progress_bar")],
                "env.name": [("SafetyNope-v0", "unknown task 'SafetyNope-v0'")],
                "network.device": [("tpu", "network.device")]}.get(key, [])
    if "List" in t:
        out += [("abc", key), ("[abc]", key), ("[]", key)]
        if rng is not None and rng.ge is not None:
            out.append((f"[{rng.ge - 1:g}]", key))
    elif "bool" in t:
        out.append(("maybe", key))
    elif rng is not None and rng.choices is not None:
        out.append(("nope", key))
    else:
        out.append(("abc", key))
        if rng is not None:
            for bound, delta in ((rng.ge, -1), (rng.gt, 0), (rng.le, 1), (rng.lt, 0)):
                if bound is not None:
                    out.append((f"{bound + delta:g}", key))
    return out


CASES = []


seen_ranges = set()


for _algo in ("algd", "sac_lag", "cal", "ppo_lag"):
    _schema = OmegaConf.get_type(compose_config(_algo))
    for _key, _field, _default in _leaves(_schema):
        for _value, _want in _bad_values(_key, _field, _default):
            first_only = not _value.startswith(("abc", "maybe", "nope"))  # shared ranges: once, with the first algorithm
            if first_only and (_key, _value) in seen_ranges:
                continue
            seen_ranges.add((_key, _value))
            CASES.append((_algo, f"{_key}={_value}", _want))


ANY_VALUE = {"lagrangian", "logger.exp_name"}  # a mapping for the chosen class / any name: nothing to refuse


def test_every_key_of_every_algorithm_is_covered():
    """Every leaf of every algorithm's schema has at least one refused value among the cases (a
    range shared by several algorithms is tried once, with the first that has it)."""
    covered = {case[1].split("=")[0] for case in CASES}
    for algo in ("algd", "sac_lag", "cal", "ppo_lag"):
        leaves = {key for key, _, _ in _leaves(OmegaConf.get_type(compose_config(algo)))}
        assert leaves - ANY_VALUE <= covered, (algo, sorted(leaves - ANY_VALUE - covered))
        assert {case[1].split("=")[0] for case in CASES if case[0] == algo} <= leaves, algo


@pytest.mark.parametrize("algo, override, key", CASES)
def test_bad_value_exit_2_one_line_naming_the_key_and_no_folder(algo, override, key, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        precheck(algo, [override])  # what algd-train and the recipes run before Hydra makes a folder
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    assert key in err, (override, err)
    assert list(tmp_path.iterdir()) == []


# issue 28: values that got through before (a traceback, a folder left, or a run that never ends), each
# refused by the check that algd-train runs before anything is written, naming the key the user set
HOSTILE = [
    ("network.device=mps", "network.device"), ("network.device=meta", "network.device"),
    ("network.device=cuda:7", "network.device"), ("env.seed=-1", "env.seed"),
    ("env.seed=99999999999999999999", "env.seed"), ("env.num_envs=100000", "env.num_envs"),
    ("optim.utd_ratio=1e9", "optim.utd_ratio"), ("collector.frames_per_batch=1000000000000", "collector.frames_per_batch"),
    ("optim.batch_size=100000000", "optim.batch_size"), ("env.name=é", "env.name"),
    ("lagrangian=custom", "lagrangian"),
]


@pytest.mark.parametrize("override, key", HOSTILE)
def test_hostile_values_are_one_line_naming_the_key(override, key, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    extra = ["lagrangian._target_=os.makedirs", f"+lagrangian.name={tmp_path / 'made'}"] if key == "lagrangian" else []
    with pytest.raises(SystemExit) as exit_:
        precheck("algd", [override, *extra])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    assert key in err, (override, err)
    assert list(tmp_path.iterdir()) == []  # no folder: os.makedirs was not called either


@pytest.mark.parametrize(
    "override, key",
    [
        ("collector.total_frames=-5", "collector.total_frames"),
        ("lagrangian.rho=0", "lagrangian.rho"),
        ("optim.batch_size=0", "optim.batch_size"),
        ("env.name=SafetyNope-v0", "unknown task 'SafetyNope-v0'"),
        ("algd.mc_samples=0", "algd.mc_samples"),
        ("algd.dual.rule=sgd", "algd.dual.rule"),
        ("network.device=tpu", "network.device"),
        ("system.retain_freed_memory=maybe", "system.retain_freed_memory"),
        ("system.float32_matmul_precision=low", "system.float32_matmul_precision"),
        ("system.autocast=float16", "system.autocast"),
        ("compile.compile=maybe", "compile.compile"),
        ("compile.mode=fastest", "compile.mode"),
        ("compile.cudagraphs=true", "compile.cudagraphs"),  # FAST runs on network.device=cpu
    ],
)
def test_bad_config_values_give_one_clear_error(tmp_path, override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.").replace("(", r"\(")) as err:
        train(make_cfg("algd", [*FAST, override]), tmp_path / "bad")
    assert "\n" not in str(err.value)
    assert not (tmp_path / "bad").exists()


def test_a_resume_composes_the_defaults_once_and_checks_each_config_once(algd_run, tmp_path, monkeypatch):
    """The pre-check of ``algd-train resume=RUN``, then the training it starts: Hydra composes the
    algorithm's defaults at most once in the process (the resume compares the run's config with
    them), and no config is checked twice (each check reads the machine and builds a Lagrangian)."""
    import importlib
    import shutil

    composing = importlib.import_module("algd_components.algorithms.compose")  # the module, not the function

    run = tmp_path / "run"
    shutil.copytree(algd_run, run)
    composed, checked = [], []
    real_compose, real_check = composing.compose, composing.validate_common
    monkeypatch.setattr(composing, "compose", lambda name, overrides: composed.append(list(overrides)) or
                        real_compose(name, overrides))
    monkeypatch.setattr(composing, "validate_common", lambda cfg: checked.append(OmegaConf.to_yaml(cfg, resolve=True))
                        or real_check(cfg))
    resume = [f"resume={run}", "collector.total_frames=350", "collector.frames_per_batch=50"]
    precheck("algd", resume)  # what algd-train runs first
    train(compose_config("algd", resume), tmp_path / "ignored")  # then the job (Hydra's composition aside)
    assert sum(1 for o in composed if o == ["algo=algd"]) <= 1, composed  # the defaults, if not composed earlier
    assert len(checked) == len(set(checked)), f"{len(checked) - len(set(checked))} configs checked twice"
    assert [int(r["frames"]) for r in read_metrics(run)][-1] == 350
