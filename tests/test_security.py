"""Nothing a run folder holds runs code when it is read: checkpoints and policy files are read
with ``torch.load(..., weights_only=True)`` by every entry point (issue 28)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from algd_components import cli, evaluate, landscape


class Payload:
    """Unpickling this calls os.system: what a crafted checkpoint would do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.fixture()
def crafted(tmp_path, algd_run):
    """A copy of a real run whose checkpoint.pt and policy.pt are crafted pickles."""
    run = tmp_path / "run"
    shutil.copytree(algd_run, run)
    marker = tmp_path / "marker"
    for name in ("checkpoint.pt", "policy.pt"):
        torch.save({"format": "x", "config": {"algo": "algd"}, "state": Payload(marker)}, run / name)
    return run, marker


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_crafted_checkpoint_runs_nothing_on_resume_precheck(crafted, capsys):
    run, marker = crafted
    with pytest.raises(SystemExit) as code:
        cli.precheck("algd", [f"resume={run}", "--cfg", "job"])
    assert code.value.code == 2 and not marker.exists()
    assert "not loaded" in one_error_line(capsys)


def test_crafted_files_run_nothing_in_eval_and_landscape(crafted, capsys):
    run, marker = crafted
    assert evaluate.main([str(run), "--episodes", "1"]) == 2
    assert "is not a policy file" in one_error_line(capsys)
    assert landscape.main([str(run), "-o", str(run / "l.png")]) == 2
    one_error_line(capsys)
    assert not marker.exists()


def test_crafted_checkpoint_with_a_good_policy_runs_nothing_in_landscape(crafted, algd_run, capsys):
    run, marker = crafted
    shutil.copy(algd_run / "policy.pt", run / "policy.pt")  # the policy is fine, the checkpoint is crafted
    assert landscape.main([str(run), "-o", str(run / "l.png")]) == 2
    assert "not loaded" in one_error_line(capsys)
    assert not marker.exists()


def test_crafted_checkpoint_runs_nothing_through_the_console_script(crafted):
    """The whole command, as a user types it: ``algd-train resume=DIR --cfg job``."""
    run, marker = crafted
    proc = subprocess.run([sys.executable, "-c", "from algd_components.cli import train_main; train_main()",
                           f"resume={run}", "--cfg", "job"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and not marker.exists()
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_checkpoints_load_weights_only(algd_run):
    from algd_components.training.checkpoints import CHECKPOINT_FORMAT

    blob = torch.load(algd_run / "checkpoint.pt", weights_only=True)
    assert blob["format"] == CHECKPOINT_FORMAT and isinstance(blob["config"], dict)


def test_no_unsafe_torch_load_in_the_package_its_studies_and_benchmarks():
    root = Path(__file__).resolve().parents[1]
    files = [p for d in ("algd_components", "studies", "benchmarks", "recipes", "examples") for p in (root / d).rglob("*.py")]
    offenders = [f"{p}:{i}" for p in files for i, line in enumerate(p.read_text().splitlines(), 1)
                 if "weights_only=False" in line]
    assert not offenders, offenders
