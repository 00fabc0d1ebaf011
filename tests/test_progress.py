"""The progress display (training/progress.py), the start-up and end lines, and the resume
keys a user may change freely (system.num_threads, the display)."""
import io
import re

import pytest

from algd_components import train
from algd_components import ConfigError, compose_config
from algd_components.training.progress import Progress, expected_updates
from algd_components.training.schedule import UpdateSchedule
from helpers import FAST_SAC


def test_plain_lines_move_during_updates_and_end_at_100():
    out = io.StringIO()  # not a terminal: plain lines
    p = Progress("algd T seed0", total_frames=100, total_updates=100, enabled=True, every_s=0.0, stream=out)
    p.add_frames(50)
    p.set_phase("updating")
    for _ in range(50):
        p.add_update()
    p.set_phase("evaluating")
    p.add_frames(50)
    p.set_phase("updating")
    for _ in range(50):
        p.add_update()
    p.close(finished=True)
    lines = out.getvalue().splitlines()
    updating = [ln for ln in lines if "updating" in ln]
    assert len(updating) >= 50 and all(ln.startswith("[algd T seed0]") for ln in lines), lines[:5]
    percents = [float(re.search(r"\]\s+([\d.]+)%", ln).group(1)) for ln in lines]
    assert percents == sorted(percents) and max(percents[:-1]) < 100.0 and percents[-1] == 100.0
    assert "frames 100/100 · updates 100/100" in lines[-1] and "done" in lines[-1]


def test_the_bar_redraws_during_updates():
    """On a terminal the bar's text follows the updates (at most every 0.5 s), not only the frames."""
    import time

    out = io.StringIO()
    p = Progress("r", total_frames=100, total_updates=100, stream=out, bar=True)
    p.add_frames(50)
    p.set_phase("updating")
    p.add_update()
    time.sleep(0.6)
    p.add_update()
    assert "updates 2/100" in out.getvalue()
    p.close(finished=True)


def test_a_line_written_during_the_bar_is_a_line_of_its_own():
    """The resume's lines (training/env_replay.py) go above the bar, not into it; without a bar as is."""
    out = io.StringIO()
    p = Progress("r", total_frames=100, total_updates=100, stream=out, bar=True)
    p.write("resume: replaying")
    assert "\rresume: replaying\n" in out.getvalue()  # the bar's line cleared first, then redrawn below it
    p.close(finished=False)
    plain = io.StringIO()
    Progress("r", total_frames=100, total_updates=100, stream=plain, enabled=False).write("resume: replaying")
    assert plain.getvalue() == "resume: replaying\n"


def test_an_interrupted_display_does_not_claim_100():
    out = io.StringIO()
    p = Progress("r", total_frames=100, total_updates=100, every_s=0.0, stream=out)
    p.add_frames(50)
    p.close(finished=False)
    assert "100.0%" not in out.getvalue()


def test_expected_updates_is_what_a_run_made(algd_run):
    """The display's total: the schedule simulated over the run equals the updates it ran."""
    import csv

    import yaml
    from omegaconf import OmegaConf

    cfg = OmegaConf.create(yaml.safe_load((algd_run / "config.yaml").read_text()))
    rows = list(csv.DictReader(open(algd_run / "metrics.csv")))
    sched = UpdateSchedule.from_config(cfg, cfg.env.max_episode_steps)
    assert expected_updates(sched, 0, cfg.collector.total_frames, cfg.collector.frames_per_batch,
                            cfg.replay_buffer.size) == int(rows[-1]["updates"]) > 0


def test_a_run_says_where_it_goes_shows_its_updates_and_ends_at_100(tmp_path, capsys):
    run = tmp_path / "run"
    base = [*FAST_SAC, "env.name=SafetyHopperVelocity-v1", "collector.total_frames=100", "collector.init_random_frames=50",
            "logger.eval_iter=50", "checkpoint.interval=50", "env.max_episode_steps=20", "progress_bar=true",
            "progress_every_s=0.001"]
    train(compose_config("sac_lag", base), run)
    lines = capsys.readouterr().out.splitlines()
    assert f"new run in {run}:" in lines[0], lines[0]
    shown = [ln for ln in lines if ln.startswith("[sac_lag SafetyHopperVelocity-v1 seed0]")]
    assert any("updating" in ln and "updates 0/" not in ln for ln in shown), shown
    assert "100.0%" in shown[-1] and "updates 100/100" in shown[-1], shown[-1]
    assert lines[-1].startswith("done: sac_lag") and str(run / "metrics.csv") in lines[-1] and "limit 0.5" in lines[-1]
    assert not [d for d in run.rglob("*") if d.is_dir() and not any(d.iterdir())], "no empty folders"
    # resume: the thread count and the display change freely; a finished run says so
    train(compose_config("sac_lag", [*base, "collector.total_frames=150", f"resume={run}", "system.num_threads=1",
                                     "progress_bar=false"]), tmp_path / "unused")
    out = capsys.readouterr().out
    assert "resuming at 100 frames" in out and "1 threads" in out and "done: sac_lag" in out and "[sac_lag" not in out
    with pytest.raises(ConfigError, match=r"is finished \(150 frames\): to extend it.*collector.total_frames=N"):
        train(compose_config("sac_lag", [*base, "collector.total_frames=150", f"resume={run}"]), tmp_path / "unused")
