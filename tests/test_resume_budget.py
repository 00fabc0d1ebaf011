"""A resume applies every key its command names, even at the algorithm's default: extending a
50k run with ``collector.total_frames=100000`` (the default) must extend it.  Before this, a
resume counted only values away from the defaults as given, so ``algd-train resume=RUN
collector.total_frames=100000`` answered "resume it with a larger budget", and ``algd-compare``'s
second leg of the goal study (issue 27) returned at once and reported the run unfinished."""
import signal
import subprocess
import sys

import pytest

from algd_components import compose_config, train
from algd_components.compare import run_all
from algd_components.training import loop, seeds
from helpers import FAST_SAC

# on Hopper: a Safety-Gym task rebuilds its MuJoCo model at every reset (~0.5 s); the budget logic is the same
TINY = [*FAST_SAC, "env.name=SafetyHopperVelocity-v1", "collector.total_frames=100", "collector.init_random_frames=50",
        "logger.eval_iter=50", "checkpoint.interval=50", "env.max_episode_steps=20"]
DEFAULT_FRAMES = compose_config("sac_lag", []).collector.total_frames


def test_algd_train_extends_a_run_to_the_default_budget(tmp_path):
    run = tmp_path / "run"
    train(compose_config("sac_lag", TINY), run)
    proc = subprocess.Popen([sys.executable, "-c", "from algd_components.cli import train_main; train_main()",
                             "algo=sac_lag", f"resume={run}", f"collector.total_frames={DEFAULT_FRAMES}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = proc.stdout.readline()  # the start-up line, or nothing when the resume is refused
    proc.send_signal(signal.SIGTERM)  # stop the extended run: it would go on to the default budget
    proc.wait(timeout=120)
    assert f"resuming at 100 frames in {run}" in first, (first, proc.stderr.read()[-2000:])


class Resumed(Exception):
    """Raised by the patched loop: the run reached training with this budget."""


@pytest.mark.parametrize("stack", [False, True])
def test_compare_extends_its_runs_to_the_default_budget(tmp_path, monkeypatch, stack):
    out = tmp_path / "cmp"
    run_all(["sac_lag"], ["SafetyHopperVelocity-v1"], [0, 1] if stack else [0], out, TINY, stack_seeds=stack)

    def seen(cfgs, ckpts, run_dirs, stop):
        raise Resumed([c.collector.total_frames for c in cfgs], [k["state"]["frames"] for k in ckpts])

    monkeypatch.setattr(loop, "train_loop", seen)
    monkeypatch.setattr(seeds, "train_loop", seen)
    with pytest.raises(Resumed) as got:
        run_all(["sac_lag"], ["SafetyHopperVelocity-v1"], [0, 1] if stack else [0], out,
                [*TINY, f"collector.total_frames={DEFAULT_FRAMES}"], stack_seeds=stack)
    n = 2 if stack else 1
    assert got.value.args == ([DEFAULT_FRAMES] * n, [100] * n)
