"""docs/testing.md shows only code that runs: every ``python`` block on the page is a verbatim
excerpt of a file in this folder (the app, or its tests, which the suite runs)."""

from __future__ import annotations

import re
from pathlib import Path

HERE = Path(__file__).parent
PAGE = HERE.parents[1] / "docs" / "testing.md"
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.S | re.M)


def test_every_python_block_of_the_testing_page_is_in_an_example_file() -> None:
    sources = {path.name: path.read_text() for path in HERE.glob("*.py")}
    blocks = BLOCK.findall(PAGE.read_text())
    assert len(blocks) >= 10, "the page lost its examples"
    for block in blocks:
        found = [name for name, text in sources.items() if block in text]
        assert found, f"this block of docs/testing.md is in no file of {HERE}:\n{block}"
