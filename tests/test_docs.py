"""Every Python block in the README and the docs runs as written (in a scratch folder); the
README's commands run in the order a user types them, each python block after them in the same
folder, so the paths they share must agree."""
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import FAST

ROOT = Path(__file__).resolve().parents[1]
DOCS = ["README.md", "docs/components.md", "docs/recipes.md"]


def blocks(path):
    return re.findall(r"```python\n(.*?)```", (ROOT / path).read_text(), re.S)


def readme_commands() -> list[list[str]]:
    """The README's "Three ways in" commands, each line (continuations joined, comments dropped)
    as argv, made tiny: training budgets from ``FAST``, one evaluation episode, and the compare
    line cut to its first algorithm and seed (it checks the command and the paths, not learning)."""
    block = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S)[1]
    commands = []
    for line in block.replace("\\\n", " ").splitlines():
        argv = shlex.split(line, comments=True)
        if not argv:
            continue
        if argv[0] == "algd-train" and "--help" not in argv:
            argv += FAST
        elif argv[0] == "algd-eval":
            argv[argv.index("--episodes") + 1] = "1"
        elif argv[0] == "algd-compare":
            for flag in ("--algos", "--seeds"):
                i = argv.index(flag) + 1
                while i + 1 < len(argv) and not argv[i + 1].startswith("--"):
                    del argv[i + 1]
            assert argv.index("--set") == max(i for i, a in enumerate(argv) if a.startswith("--")), argv
            argv += FAST  # after the README's own --set values: later overrides win
        commands.append(argv)
    return commands


def test_readme_commands_then_its_python_blocks(tmp_path, monkeypatch):
    """What a user types from the README, in order, in one folder: the train command's folder is
    the one ``algd-eval``, the plot and ``load_policy`` read."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    commands = readme_commands()
    assert [c[0] for c in commands][:3] == ["algd-train", "algd-train", "algd-eval"], commands
    for argv in commands:
        if argv[0] == "python":
            argv = [sys.executable, *argv[1:]]
        proc = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, (argv, proc.stdout[-1500:], proc.stderr[-1500:])
        if argv[0] == "algd-train" and "--help" in argv:  # names itself and every algorithm
            assert proc.stdout.startswith("algd-train:") and "sac_lag" in proc.stdout and "cal_task" in proc.stdout
        elif argv[0] == "algd-train":  # says where the run goes and, at the end, where its files are
            run = (tmp_path / "runs" / "hopper").resolve()
            assert f"new run in {run}" in proc.stdout and f"metrics {run / 'metrics.csv'}" in proc.stdout, proc.stdout
            assert not (run / "cli.log").exists() and not [d for d in run.rglob("*") if d.is_dir() and not any(d.iterdir())]
    monkeypatch.chdir(tmp_path)
    for index, code in enumerate(blocks("README.md")):
        exec(compile(code, f"README.md (block {index + 1})", "exec"), {"__name__": "__doc_example__"})


# an example that calls a loss with target critics and no updater would teach a loop whose targets never move
# (TorchRL warns): every example makes the updater with the loss
@pytest.mark.filterwarnings("error:No target network updater:UserWarning")
@pytest.mark.parametrize("path, index", [(p, i) for p in DOCS[1:] for i in range(len(blocks(p)))])
def test_python_block_runs(path, index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = blocks(path)[index]
    exec(compile(code, f"{path} (block {index + 1})", "exec"), {"__name__": "__doc_example__"})


def test_the_docs_have_the_three_ways_in():
    assert len(blocks("README.md")) >= 1 and len(blocks("docs/components.md")) >= 5
    text = (ROOT / "docs/components.md").read_text()
    for way in ("**1. Run an algorithm.**", "**2. Import one loss module**", "**3. Register your own Lagrangian or algorithm"):
        assert way in text
