"""README's two set-up commands, QUICKSTART's CLI lines, llms.txt and every document's links.

README.md's first ```bash block installs dotdo and runs the tour; its Python part (``dotdo demo``)
runs here in a subprocess, and must exit 0 having printed a line per namespace. The block after
``<!-- test-command -->`` is what CI runs: it must parse and run pytest. Every ``dotdo ...`` line
in QUICKSTART.md's shell blocks must parse with the real command-line parsers.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from dotdo import cli
from dotdo.server import dev

from .conftest import isolated_environ
from .doc_blocks import DOCUMENTS, LLM_GUIDE, LLMS_TXT, QUICKSTART, README, ROOT, blocks

NAMESPACES = ("secrets", "db", "collections", "auth", "logs", "rpc")
SHELL = ("bash", "console", "sh")


def readme_commands() -> tuple[str, str]:
    """README's set-up command and its test command (the block after the marker)."""
    lines = README.read_text(encoding="utf-8").splitlines()
    shell = [block for block in blocks(README) if block.language in SHELL]
    marked = [block for block in shell if lines[block.line - 2].strip() == "<!-- test-command -->"]
    assert len(marked) == 1, "README.md needs exactly one <!-- test-command --> block"
    assert shell[0] is not marked[0], "README.md's first shell block must be the set-up command"
    return shell[0].code.strip(), marked[0].code.strip()


def steps(command: str) -> list[list[str]]:
    """The ``&&``-separated commands of one shell line, each split into words."""
    assert "\n" not in command, f"one line expected: {command!r}"
    return [shlex.split(part) for part in command.split("&&")]


def extras() -> set[str]:
    with (ROOT / "pyproject.toml").open("rb") as file:
        return set(tomllib.load(file)["project"]["optional-dependencies"])


def check_pip_step(step: list[str]) -> None:
    assert step[:2] == ["pip", "install"], step
    for word in step[2:]:
        found = re.fullmatch(r"\.\[(?P<extras>[\w,-]+)\]", word)
        if found:
            assert set(found["extras"].split(",")) <= extras(), f"unknown extra in {word}"


def test_setup_command_installs_and_runs_the_demo(tmp_path: Path) -> None:
    setup, _ = readme_commands()
    install, demo = steps(setup)
    check_pip_step(install)
    assert demo[0] == "dotdo", "the set-up command's Python part is a `dotdo` command"
    finished = subprocess.run(
        [sys.executable, "-m", "dotdo", *demo[1:]],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=isolated_environ(tmp_path),
        check=False,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    printed = finished.stdout.splitlines()
    for namespace in NAMESPACES:
        assert any(line.split()[:1] == [namespace] for line in printed), (
            f"`dotdo demo` printed no line for {namespace}:\n{finished.stdout}"
        )


def test_test_command_parses_and_runs_pytest() -> None:
    _, command = readme_commands()
    parts = steps(command)
    check_pip_step(parts[0])
    runners = [part for part in parts if part[:3] == ["python", "-m", "pytest"]]
    assert len(runners) == 1, f"the test command must run `python -m pytest`: {command}"
    for part in parts:
        if part[:2] == ["npm", "ci"]:
            prefix = part[part.index("--prefix") + 1]
            assert (ROOT / prefix / "package.json").is_file(), f"no package.json in {prefix}"


def cli_lines() -> list[tuple[str, list[str]]]:
    found = []
    for block in blocks(QUICKSTART):
        if block.language not in SHELL:
            continue
        for offset, line in enumerate(block.code.splitlines(), start=1):
            if block.language == "console" and not line.startswith("$ "):
                continue  # output, not a command
            command = line.removeprefix("$ ").split("  #")[0].strip()
            if command.startswith("dotdo "):
                found.append((f"{block.id}+{offset}", shlex.split(command, comments=True)[1:]))
    return found


@pytest.mark.parametrize(("where", "argv"), cli_lines(), ids=[where for where, _ in cli_lines()])
def test_quickstart_cli_lines_parse(where: str, argv: list[str]) -> None:
    if argv[:1] == ["dev"]:
        dev._parser().parse_args(argv[1:])
    else:
        options = cli._parser().parse_args(argv)
        assert getattr(options, "handler", None) is not None, f"{where}: not a full command"


def slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    return {slug(match) for match in re.findall(r"^#+\s+(.*)$", text, re.MULTILINE)}


@pytest.mark.parametrize("document", [*DOCUMENTS, LLMS_TXT], ids=lambda path: path.name)
def test_relative_links_resolve(document: Path) -> None:
    text = document.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        path = (document.parent / file) if file else document
        assert path.exists(), f"{document.name}: broken link {target}"
        if anchor:
            assert anchor in anchors(path), f"{document.name}: no heading for {target}"


def test_readme_links_every_document() -> None:
    text = README.read_text(encoding="utf-8")
    for name in ("QUICKSTART.md", "LLM-GUIDE.md", "docs/ARCHITECTURE.md", "docs/platform.md"):
        assert f"]({name})" in text, f"README.md should link {name}"


def test_llms_txt_points_to_the_guide_first() -> None:
    text = LLMS_TXT.read_text(encoding="utf-8")
    assert text.startswith("# dotdo\n")
    assert re.search(r"^> ", text, re.MULTILINE), "llms.txt needs a > summary line"
    links = re.findall(r"^- \[[^\]]+\]\(([^)]+)\)", text, re.MULTILINE)
    assert links[0] == LLM_GUIDE.name
