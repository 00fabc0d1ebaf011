"""The console scripts a new user meets first: ``--help`` and what importing the package costs."""
import subprocess
import sys

import pytest

from algd_components import algorithms
from algd_components.cli import help_text, train_main
from algd_components.compare import main as compare_main


@pytest.fixture
def extra_algorithm():
    """A user's algorithm, registered the way docs/components.md shows (here: ALGD's parts)."""
    from algd_components.algorithms import algd

    algorithms.register("my_algo", config="algd", build=algd.build, make_policy=algd.make_policy,
                        validate=algd.validate, description="my algorithm, registered by a test")
    yield "my_algo"
    from algd_components.algorithms import base

    base._REGISTRY.pop("my_algo")


def test_train_help_names_itself_every_algorithm_and_its_groups(extra_algorithm, capsys):
    train_main(["--help"])
    out = capsys.readouterr().out
    assert out.startswith("algd-train:") and "powered by Hydra" not in out
    for name in algorithms.names():
        assert f"  {name} " in out, name
    assert "my algorithm, registered by a test" in out
    cal_line = out[out.index("  cal "):].split("\n")[1]
    assert "cal_task=auto" in cal_line and "cal_task" not in out[out.index("  sac_lag "):].split("\n")[1]
    assert "config of algo=algd" in out and "docs/recipes.md" in out


def test_help_of_one_algorithm_shows_its_config():
    text = help_text("algd-train", "cal", ["env.name=SafetyHalfCheetahVelocity-v1"])
    config = text[text.index("config of algo=cal"):]
    assert "cal_task: halfcheetah" in config and "name: SafetyHalfCheetahVelocity-v1" in config


def test_compare_help_lists_every_algorithm(extra_algorithm, capsys):
    with pytest.raises(SystemExit) as done:
        compare_main(["--help"])
    out = capsys.readouterr().out
    assert done.value.code == 0 and "algd-compare" in out
    for name in algorithms.names():
        assert f"  {name} " in out, name


def test_importing_the_math_pulls_in_no_hydra_nor_collectors():
    code = ("import sys, algd_components.functional; "
            "print(sorted(m for m in ('hydra', 'torchrl.collectors', 'algd_components.training') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr[-1000:]


def test_package_names_resolve_lazily():
    import algd_components as A

    assert A.ALGDLoss.__name__ == "ALGDLoss" and callable(A.train) and "load_policy" in dir(A)
    with pytest.raises(AttributeError):
        A.no_such_name  # noqa: B018


@pytest.mark.parametrize("module, args", [("algd_components.envs", ["--list"]), ("algd_components.runs", ["--help"]),
                                          ("algd_components.evaluate", ["--help"])])
def test_a_listing_read_by_a_reader_that_stops_early_ends_without_a_traceback(module, args):
    """``python -m algd_components.envs --list | head -2``: the pipe closes before the listing is
    written; the tool ends with status 1 and nothing on stderr (it printed a BrokenPipeError traceback)."""
    proc = subprocess.Popen([sys.executable, "-m", module, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before the first line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 1 and err == "", err
