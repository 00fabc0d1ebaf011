"""The reuse the design promises: a method built outside the package, and the energy-landscape
picture of a trained run."""
import csv
import math
import subprocess
import sys

import pytest
import torch

from algd_components import compose_config, train
from algd_components.landscape import main as landscape
from helpers import FAST, FAST_SAC, ROOT


def test_a_method_built_outside_the_package_trains_on_a_real_task(tmp_path):
    """examples/lagrangian_qsm.py: its own score target, ALGD's parts, registered and trained by
    the package's loop for 1000 frames on SafetyHopperVelocity-v1."""
    assert len((ROOT / "examples" / "lagrangian_qsm.py").read_text().splitlines()) <= 100
    fast = [o for o in FAST if not o.startswith(("collector.total_frames", "logger.eval_iter", "checkpoint.interval"))]
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "lagrangian_qsm.py"), *fast,
                           "env.name=SafetyHopperVelocity-v1", "collector.total_frames=1000", "logger.eval_iter=500",
                           "checkpoint.interval=500", "hydra.run.dir=run"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = list(csv.DictReader(open(tmp_path / "run" / "metrics.csv")))
    assert [int(r["frames"]) for r in rows] == [500, 1000]
    assert all(math.isfinite(float(r[k])) for r in rows for k in ("loss_actor", "score_loss", "loss_cost", "lambda"))
    assert torch.load(tmp_path / "run" / "policy.pt", weights_only=True)["algo"] == "lqsm"


def test_landscape_of_a_trained_run_and_the_synthetic_example(algd_run, tmp_path):
    for state in ("reset:3", "buffer:10", ",".join(["0.1"] * 11)):
        out = tmp_path / f"{state[:6]}.png"
        assert landscape([str(algd_run), "--state", state, "--dims", "0", "2", "--grid", "21", "-o", str(out)]) == 0
        assert out.stat().st_size > 20_000
    assert landscape(["--synthetic", "-o", str(tmp_path / "s.png")]) == 0 and (tmp_path / "s.png").stat().st_size > 20_000


@pytest.mark.parametrize("args, message", [
    (["--state", "buffer:99999"], "--state='buffer:99999' is not allowed"),
    (["--state", "1,2,3"], "11 comma-separated numbers"),
    (["--dims", "0", "0"], "two different action dimensions in 0..2"),
    (["--dims", "0", "7"], "two different action dimensions in 0..2"),
])
def test_landscape_rejects_a_bad_state_or_dimension_in_one_line(algd_run, tmp_path, capsys, args, message):
    assert landscape([str(algd_run), *args, "-o", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert not (tmp_path / "x.png").exists()


def test_landscape_needs_an_algd_family_run(tmp_path, capsys):
    train(compose_config("sac_lag", [*FAST_SAC, "env.name=SafetyHopperVelocity-v1", "collector.total_frames=150"]),
          tmp_path / "sac")
    assert landscape([str(tmp_path / "sac"), "-o", str(tmp_path / "x.png")]) == 2
    assert "needs an ALGD-family run" in capsys.readouterr().err
