"""Python code blocks in the docs run as written."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def blocks(path, marker):
    text = (ROOT / path).read_text()
    return [b for b in re.findall(r"```python\n(.*?)```", text, re.S) if marker in b]


@pytest.mark.parametrize("path", ["README.md", "docs/components.md"])
def test_example_runs(path):
    found = blocks(path, "loss(td)")
    assert found, f"no example in {path}"
    for code in found:
        exec(compile(code, path, "exec"), {})
