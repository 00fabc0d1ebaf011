"""The task registry and its command (algd_components/envs.py): listing, unknown names, batched envs."""
import math
import subprocess
import sys

from helpers import ROOT, read_metrics, run_algd



def test_env_list_cli():
    proc = subprocess.run([sys.executable, "-m", "algd_components.envs", "--list"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0
    for name in ("SafetyPointButton1-v0", "SafetyCarPush2-v0", "SafetyHumanoidVelocity-v1", "Ant-v4"):
        assert name in proc.stdout


def test_cli_unknown_task_exits_2_without_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "recipes/algd/train.py"), "env.name=SafetyNope-v0", f"hydra.run.dir={tmp_path}"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert "unknown task 'SafetyNope-v0'" in proc.stderr and "python -m algd_components.envs --list" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_batched_envs_run(tmp_path):
    out, state = run_algd(tmp_path, "env.name=SafetyHalfCheetahVelocity-v1", "env.num_envs=2", "env.vectorize=serial")
    assert state["frames"] == 300
    assert all(math.isfinite(float(r["loss_qvalue"])) for r in read_metrics(out))


def test_envs_list_prints_no_warning():
    out = subprocess.run([sys.executable, "-m", "algd_components.envs", "--list"], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0 and "Warning" not in out.stderr and out.stdout.startswith("task"), out.stderr
