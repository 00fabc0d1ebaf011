"""Every Python block in the README and the docs runs as written (in a scratch folder)."""
import re
import shutil
from pathlib import Path

import pytest

from algd_components import compose_config, train
from conftest import FAST

ROOT = Path(__file__).resolve().parents[1]
DOCS = ["README.md", "docs/components.md", "docs/recipes.md"]


def blocks(path):
    return re.findall(r"```python\n(.*?)```", (ROOT / path).read_text(), re.S)


@pytest.fixture(scope="module")
def hopper_run(tmp_path_factory):
    """The run folder the README's loading example names (runs/hopper), trained tiny."""
    out = tmp_path_factory.mktemp("docs") / "hopper"
    train(compose_config("algd", [*FAST, "env.name=SafetyHopperVelocity-v1"]), out)
    return out


@pytest.mark.parametrize("path, index", [(p, i) for p in DOCS for i in range(len(blocks(p)))])
def test_python_block_runs(path, index, tmp_path, monkeypatch, request):
    monkeypatch.chdir(tmp_path)
    code = blocks(path)[index]
    if "runs/hopper" in code:
        shutil.copytree(request.getfixturevalue("hopper_run"), tmp_path / "runs" / "hopper")
    exec(compile(code, f"{path} (block {index + 1})", "exec"), {"__name__": "__doc_example__"})


def test_the_docs_have_the_three_ways_in():
    assert len(blocks("README.md")) >= 1 and len(blocks("docs/components.md")) >= 5
    text = (ROOT / "docs/components.md").read_text()
    for way in ("**1. Run an algorithm.**", "**2. Import one loss module**", "**3. Register your own Lagrangian or algorithm"):
        assert way in text
