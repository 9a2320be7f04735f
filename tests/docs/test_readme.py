"""The README's and the documentation's Python examples run as written (they skip where their
frameworks are missing)."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").rglob("*.md"))]


def python_blocks(page):
    """(title, code) for every ```python block of a page: the title is the nearest heading
    above the block."""
    text = page.read_text()
    blocks = []
    for match in re.finditer(r"```python\n(.*?)```", text, re.S):
        headings = re.findall(r"^#{1,3} (.+)$", text[:match.start()], re.M)
        blocks.append((headings[-1] if headings else page.stem, match.group(1)))
    return blocks


# The dated records' blocks are the scripts that measured them (seconds each): they run with
# the slow tests (--grid=full); the guide's and the README's run in the default suite.
RECORDS = ("docs/findings/", "docs/calibration/")
EXAMPLES = [pytest.param(page.relative_to(ROOT).as_posix(), title, code,
                         marks=[pytest.mark.slow] if page.relative_to(ROOT).as_posix().startswith(
                             RECORDS) else [],
                         id=f"{page.relative_to(ROOT).as_posix()}:{title.split('(')[0].strip()[:40]}")
            for page in PAGES for title, code in python_blocks(page)]


def test_the_readme_and_the_docs_have_examples():
    pages = {example.values[0] for example in EXAMPLES}
    assert "README.md" in pages and "docs/frameworks.md" in pages and "docs/concepts.md" in pages
    assert any(example.values[1].startswith("Porting weights") for example in EXAMPLES)


@pytest.mark.parametrize("page, title, code", EXAMPLES)
def test_example_runs(page, title, code):
    imported = [name.split(" as ")[0].strip() for line in re.findall(r"^import (.+)$", code, re.M)
                for name in line.split(",")]
    imported += re.findall(r"^from (\S+) import", code, re.M)
    for module in imported:  # a framework or test package missing: skip, naming it
        if module.split(".")[0] != "lstm_ref":
            pytest.importorskip(module.split(".")[0])
    exec(compile(code, f"{page} ({title})", "exec"), {"__name__": "docs_example"})
