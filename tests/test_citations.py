"""Comments and docstrings cite what is in the repository: `docs/architecture.md`, never
a design file or an issue number that a reader of the repository cannot see."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUTSIDE = re.compile(r"\bDESIGN\b|\bSTYLE §|(?:[Ii]ssue |\()#\d{1,3}\b")
CITED = re.compile(r"docs/architecture\.md §(\d+)")


def _sources() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "*.py", "*.jinja", "*.toml"],  # noqa: S607 - git from PATH
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [ROOT / name for name in listed if (ROOT / name).is_file()]


def test_no_source_cites_a_file_or_issue_outside_the_repository() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in _sources()
        if path.name != "test_citations.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert found == []


def test_every_cited_section_exists() -> None:
    sections = set(
        re.findall(r"^## (\d+)\. ", (ROOT / "docs" / "architecture.md").read_text(), re.M)
    )
    cited = {number for path in _sources() for number in CITED.findall(path.read_text())}
    assert cited, "no citation found: the pattern is stale"
    assert cited <= sections, sorted(cited - sections)
