"""The committed facts snapshot `codegen/spec-facts.json`: facts only, canonical, and current.

Generation, the drift check and the tests read the snapshot, so a clone with nothing
beside it is complete. Where the official spec is at hand (`REFOLD_SPEC`, or
`../shared/refold-openapi.yaml` as in CI), the snapshot must equal its facts and both
must generate the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codegen import cli
from codegen.cli import FACTS, main, official_spec
from codegen.facts import canonical_json, extract_facts
from codegen.load import facts_text, load_spec

HERE = Path(__file__).parent
MINI = HERE / "fixtures" / "mini.yaml"
MINI_OVERRIDES = HERE / "fixtures" / "mini_overrides.toml"

# This test's own idea of prose, written out rather than imported from the extractor.
PROSE = {"description", "summary", "title", "example", "examples", "externalDocs", "contact"}
PROSE_EXTENSION = re.compile(r"^x-.*(description|summary|title|example|doc|prose)")
# Keywords whose object value is keyed by names the API chose (a property may be called
# `description`): those keys are facts.
NAMED = {"paths", "schemas", "properties", "responses", "parameters", "content", "headers"}
NAMED |= {"securitySchemes", "requestBodies", "encoding", "variables", "links", "callbacks"}


def _keyword_keys(node: Any, path: str = "#") -> Iterator[tuple[str, str]]:
    """(pointer, key) for every keyword of every keyword object under `node`."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield path, key
            if key in ("enum", "default", "const", "required", "security", "mapping"):
                continue
            if key in NAMED and isinstance(value, dict):
                for name, child in value.items():
                    yield from _keyword_keys(child, f"{path}/{key}/{name}")
            else:
                yield from _keyword_keys(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _keyword_keys(item, f"{path}/{index}")


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)
    elif isinstance(node, str):
        yield node


def _tree(root: Path) -> dict[str, str]:
    files = [*root.rglob("*.py"), *root.glob("*.md")]
    return {p.relative_to(root).as_posix(): p.read_text() for p in sorted(files)}


def test_snapshot_holds_no_prose_keys() -> None:
    """No description, summary, title, example(s) or prose extension key anywhere."""
    facts = json.loads(FACTS.read_text(encoding="utf-8"))
    found = [
        f"{pointer}/{key}"
        for pointer, key in _keyword_keys(facts)
        if key in PROSE or PROSE_EXTENSION.match(key)
    ]
    assert found == []
    # The walk does see the keys that are names: a property called `description` stays.
    assert "description" in facts["components"]["schemas"]["RefoldWebhook"]["properties"]


def test_snapshot_holds_no_sentences() -> None:
    """No string in the snapshot reads like prose (five or more words with spaces)."""
    facts = json.loads(FACTS.read_text(encoding="utf-8"))
    assert [s for s in _strings(facts) if len(s.split()) >= 5] == []


def test_extract_drops_prose_and_keeps_facts() -> None:
    """Prose keywords go; names, enums, defaults, formats, bounds and security stay."""
    document = {
        "openapi": "3.1.0",
        "info": {"title": "T", "version": "2", "description": "About.", "contact": {"n": 1}},
        "tags": [{"name": "Things", "description": "All the things."}],
        "paths": {
            "/things/{id}": {
                "get": {
                    "operationId": "getThing",
                    "summary": "Get a thing.",
                    "security": [{"Org API Key": []}],
                    "parameters": [
                        {
                            "name": "id",
                            "in": "path",
                            "required": True,
                            "description": "Its id.",
                            "example": "t-1",
                            "schema": {"type": "string", "maxLength": 24, "examples": ["t-1"]},
                        }
                    ],
                    "responses": {200: {"description": "OK", "content": {}}},
                }
            }
        },
        "components": {
            "schemas": {
                "Thing": {
                    "title": "A thing",
                    "type": "object",
                    "required": ["description"],
                    "x-doc-note": "words",
                    "x-nullable": True,
                    "properties": {
                        "description": {"type": "string", "description": "The text."},
                        "kind": {"enum": ["a", "b"], "default": {"description": "data"}},
                        "at": {"type": "string", "format": "date-time", "title": "When"},
                    },
                }
            }
        },
    }
    facts = extract_facts(document)
    assert facts["info"] == {"version": "2"}
    assert facts["tags"] == [{"name": "Things"}]
    operation = facts["paths"]["/things/{id}"]["get"]
    assert operation == {
        "operationId": "getThing",
        "security": [{"Org API Key": []}],
        "parameters": [
            {
                "name": "id",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "maxLength": 24},
            }
        ],
        "responses": {"200": {"content": {}}},
    }
    thing = facts["components"]["schemas"]["Thing"]
    assert thing == {
        "type": "object",
        "required": ["description"],
        "x-nullable": True,
        "properties": {
            "description": {"type": "string"},
            "kind": {"enum": ["a", "b"], "default": {"description": "data"}},
            "at": {"type": "string", "format": "date-time"},
        },
    }
    assert extract_facts(facts) == facts  # idempotent: the snapshot reads as itself


def test_snapshot_is_canonical_and_names_its_own_hash() -> None:
    """The committed bytes are the canonical form, and their sha256 is the generated files'."""
    text = FACTS.read_text(encoding="utf-8")
    assert facts_text(FACTS) == text
    assert canonical_json(json.loads(text)) == text
    sha = hashlib.sha256(FACTS.read_bytes()).hexdigest()
    assert load_spec(FACTS).sha256 == sha
    operations = (cli.ROOT / "refold_async" / "operations.py").read_text(encoding="utf-8")
    assert f'SPEC_SHA256 = "{sha}"' in operations


def test_a_spec_and_its_facts_generate_the_same_bytes(tmp_path: Path) -> None:
    """The mini spec (with prose) and its snapshot give byte-identical generated trees."""
    facts = tmp_path / "mini-facts.json"
    assert main(["snapshot", "--spec", str(MINI), "--facts", str(facts)]) == 0
    assert "description" in MINI.read_text()
    assert '"description"' not in facts.read_text()
    trees = []
    for source in (MINI, facts):
        out = tmp_path / source.suffix.strip(".")
        args = ["--spec", str(source), "--overrides", str(MINI_OVERRIDES), "--out", str(out)]
        assert main(["generate", *args]) == 0
        trees.append(_tree(out))
    assert trees[0] == trees[1]
    assert len(trees[0]) > 5


def test_snapshot_check_reports_drift(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A snapshot that lost or changed a fact fails `snapshot --check` with a diff."""
    facts = tmp_path / "mini-facts.json"
    args = ["snapshot", "--spec", str(MINI), "--facts", str(facts)]
    assert main(args) == 0
    assert main([*args, "--check"]) == 0
    assert "equals the facts of" in capsys.readouterr().out
    facts.write_text(facts.read_text().replace('"maximum": 100', '"maximum": 50'))
    assert main([*args, "--check"]) == 1
    out = capsys.readouterr().out
    changed = [line.replace(" ", "") for line in out.splitlines() if "maximum" in line]
    assert changed == ['-"maximum":50', '+"maximum":100']
    assert "python -m codegen snapshot" in out


def test_snapshot_check_skips_without_the_official_spec(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """In a clone with nothing beside it, the check says why it skipped, and passes."""
    monkeypatch.delenv("REFOLD_SPEC", raising=False)
    monkeypatch.setattr(cli, "ROOT", tmp_path / "clone")
    assert main(["snapshot", "--check"]) == 0
    out = capsys.readouterr().out
    assert "snapshot check skipped" in out
    assert str(tmp_path / "shared" / "refold-openapi.yaml") in out


def test_a_named_spec_must_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--spec` or `$REFOLD_SPEC` naming a missing file is an error, not a skip."""
    missing = tmp_path / "missing.yaml"
    assert main(["snapshot", "--check", "--spec", str(missing)]) == 2
    monkeypatch.setenv("REFOLD_SPEC", str(missing))
    assert main(["snapshot", "--check"]) == 2


OFFICIAL, _ = official_spec()
needs_official = pytest.mark.skipif(
    not OFFICIAL.exists(), reason=f"the official spec is not at {OFFICIAL} (set REFOLD_SPEC)"
)


@needs_official
def test_snapshot_equals_the_official_specs_facts() -> None:
    """The committed snapshot is exactly what the official spec's facts are today."""
    assert main(["snapshot", "--check"]) == 0


@needs_official
def test_the_official_spec_generates_the_committed_tree(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Generating from the official spec instead of the snapshot changes no byte."""
    assert main(["generate", "--check", "--spec", str(OFFICIAL)]) == 0
    assert "up to date" in capsys.readouterr().out
