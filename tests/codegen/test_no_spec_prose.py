"""Generated code carries the spec's facts, never its prose (docstrings are our own words).

This check needs the official spec's prose, so it runs where the official file is at hand
(CI); without it, `test_facts.py` still proves the committed snapshot holds no prose.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from codegen.cli import official_spec

ROOT = Path(__file__).resolve().parents[2]
SPEC, _ = official_spec()  # `REFOLD_SPEC`, else ../shared/refold-openapi.yaml
GENERATED = [
    *sorted((ROOT / "refold_async" / "resources").glob("*.py")),
    *sorted((ROOT / "refold_async" / "models").glob("*.py")),
    *sorted((ROOT / "refold_sync" / "resources").glob("*.py")),
    ROOT / "refold_async" / "operations.py",
]
SHORTEST_PHRASE = 6  # words: shorter runs are names and common phrasing, not copied prose


def _prose(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in {"summary", "description"} and isinstance(value, str):
                yield value
            else:
                yield from _prose(value)
    elif isinstance(node, list):
        for item in node:
            yield from _prose(item)


def _docstrings(path: Path) -> str:
    tree = ast.parse(path.read_text())
    nodes = [
        tree,
        *(
            n
            for n in ast.walk(tree)
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        ),
    ]
    return "\n".join(ast.get_docstring(node) or "" for node in nodes)


def _phrases(text: str) -> set[str]:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return {
        " ".join(words[i : i + SHORTEST_PHRASE]) for i in range(len(words) - SHORTEST_PHRASE + 1)
    }


def test_no_six_word_phrase_of_spec_prose_in_generated_code() -> None:
    """No run of six words from any summary or description appears in a generated docstring
    (nor in the facts snapshot)."""
    if not SPEC.exists():
        pytest.skip(f"the official spec's prose is needed for this check: {SPEC} (set REFOLD_SPEC)")
    spec_phrases: set[str] = set()
    for text in _prose(yaml.safe_load(SPEC.read_text())):
        spec_phrases |= _phrases(text)
    copied = {
        path.relative_to(ROOT).as_posix(): sorted(_phrases(_docstrings(path)) & spec_phrases)[:3]
        for path in GENERATED
    }
    reference = (ROOT / "api.md").read_text(encoding="utf-8")
    copied["api.md"] = sorted(_phrases(reference) & spec_phrases)[:3]
    # The committed facts snapshot carries none of the prose either.
    facts = (ROOT / "codegen" / "spec-facts.json").read_text(encoding="utf-8")
    copied["codegen/spec-facts.json"] = sorted(_phrases(facts) & spec_phrases)[:3]
    assert not {path: found for path, found in copied.items() if found}
