"""The README's Python examples run as written (they skip where their frameworks are missing)."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def python_blocks():
    """(section title, code) for every ```python block of the README."""
    text = README.read_text()
    blocks = []
    for match in re.finditer(r"```python\n(.*?)```", text, re.S):
        title = re.findall(r"^## (.+)$", text[:match.start()], re.M)[-1]
        blocks.append((title, match.group(1)))
    return blocks


def test_the_readme_has_examples():
    assert any(title.startswith("Porting weights") for title, _ in python_blocks())


@pytest.mark.parametrize("title, code", python_blocks(), ids=lambda v: v.split("(")[0].strip()[:40])
def test_readme_example_runs(title, code):
    for imported in re.findall(r"^import (.+)$", code, re.M)[0].split(","):
        module = imported.split(" as ")[0].strip()
        if module != "lstm_ref":
            pytest.importorskip(module)
    exec(compile(code, f"README.md ({title})", "exec"), {})
