"""The fenced code blocks of the Markdown documents, and the documents the tests cover.

A block may opt out of being run only with a visible marker on the line before its fence::

    <!-- skip-test: needs a real remote endpoint -->

and the marker must give a reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
QUICKSTART = ROOT / "QUICKSTART.md"
LLM_GUIDE = ROOT / "LLM-GUIDE.md"
LLMS_TXT = ROOT / "llms.txt"
DOCUMENTS = (README, QUICKSTART, LLM_GUIDE)

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>```+|~~~+)(?P<info>.*)$")
SKIP_MARKER = re.compile(r"^\s*<!--\s*skip-test\s*(?::\s*(?P<reason>.*?))?\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced code block: where it starts, its language and its text."""

    path: Path
    line: int  # 1-based line number of the opening fence
    language: str
    code: str
    skip_reason: str | None  # from a skip-test marker on the line before the fence

    @property
    def id(self) -> str:
        """``FILE:LINE``, the test id that points at the block."""
        return f"{self.path.name}:{self.line}"


def blocks(path: Path) -> list[Block]:
    """Every fenced block of the Markdown file ``path``, in order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        language = opening["info"].strip().split(" ")[0] if opening["info"].strip() else ""
        body: list[str] = []
        end = index + 1
        while end < len(lines) and not lines[end].strip().startswith(fence):
            body.append(lines[end].removeprefix(indent))
            end += 1
        marker = SKIP_MARKER.match(lines[index - 1]) if index > 0 else None
        reason = (marker["reason"] or "") if marker else None
        found.append(Block(path, index + 1, language, "\n".join(body) + "\n", reason))
        index = end + 1
    return found


def python_blocks() -> list[Block]:
    """Every ```python block of every covered document."""
    return [block for path in DOCUMENTS for block in blocks(path) if block.language == "python"]
