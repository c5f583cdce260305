"""Every ```python block of README.md, QUICKSTART.md and LLM-GUIDE.md runs and passes.

Each block runs on its own against a fresh in-process platform (see ``run_blocks.py``); the test
id is ``FILE:LINE`` of the block's opening fence. A block is skipped only when the line before
its fence is ``<!-- skip-test: REASON -->`` with a reason.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .conftest import BlockRuns
from .doc_blocks import DOCUMENTS, SKIP_MARKER, Block, blocks, python_blocks

# Languages that would hide Python from this test if they were allowed.
PYTHON_ALIASES = re.compile(r"^(py|py3|python3|Python|ipython|pycon)$")


@pytest.mark.parametrize("block", python_blocks(), ids=lambda block: block.id)
def test_python_block_runs(block: Block, block_runs: BlockRuns) -> None:
    if block.skip_reason is not None:
        pytest.skip(f"{block.id}: {block.skip_reason}")
    result = block_runs.result(block)
    assert result["status"] == "passed", (
        f"{block.id} failed:\n{result['error']}\n--- what it printed ---\n{result['output']}"
    )


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda path: path.name)
def test_skip_markers_give_a_reason_and_sit_on_a_python_block(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        if "skip-test" not in line:
            continue
        marker = SKIP_MARKER.match(line)
        assert marker is not None, f"{path.name}:{number}: write <!-- skip-test: REASON -->"
        assert len((marker["reason"] or "").split()) >= 2, (
            f"{path.name}:{number}: a skipped block must say why it cannot run"
        )
        following = lines[number] if number < len(lines) else ""
        assert following.startswith("```python"), (
            f"{path.name}:{number}: the marker must be directly above a ```python fence"
        )


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda path: path.name)
def test_every_fence_names_its_language_and_python_is_spelt_python(path: Path) -> None:
    for block in blocks(path):
        assert block.language, f"{block.id}: give the fence a language (```python, ```bash...)"
        assert not PYTHON_ALIASES.match(block.language), (
            f"{block.id}: use ```python so the block is tested"
        )
