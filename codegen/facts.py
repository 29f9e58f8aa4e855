"""The spec's facts without its prose: what `codegen/spec-facts.json` holds.

The official OpenAPI file's words (descriptions, summaries, titles, examples) are not
ours to commit; its facts are: paths, methods, parameters, schemas, enums, required
flags, defaults, formats, constraints, security. `extract_facts` keeps exactly those, so
the repository carries the whole contract the generator needs and a fresh clone
generates, checks and tests without the official file.

The generator always reads facts: a full spec is reduced by `extract_facts` first, the
committed snapshot is already reduced (extraction is idempotent), so both inputs produce
the same bytes, header hash included. `canonical_json` is the one serialization: key
order as the spec wrote it (property and operation order are facts the generated code
follows), two-space indent, a final newline.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["NAME_MAPS", "PROSE_KEYS", "canonical_json", "extract_facts", "is_prose_key"]

PROSE_KEYS = frozenset(
    {
        "description",
        "summary",
        "title",
        "example",
        "examples",
        "externalDocs",
        "contact",
        "license",
        "termsOfService",
    }
)
"""Keywords whose values are words or sample data for readers, never facts."""

_PROSE_EXTENSION = re.compile(r"^x-.*(description|summary|title|example|doc|note|comment|prose)")

NAME_MAPS = frozenset(
    {
        "paths",
        "webhooks",
        "schemas",
        "properties",
        "patternProperties",
        "$defs",
        "definitions",
        "dependentSchemas",
        "responses",
        "parameters",
        "requestBodies",
        "headers",
        "securitySchemes",
        "links",
        "callbacks",
        "pathItems",
        "content",
        "encoding",
        "variables",
    }
)
"""Keywords whose value (when an object) maps names the spec chose to child objects: the
names are facts even where one reads `description` or `title` (a property may)."""

_VERBATIM = frozenset({"enum", "const", "default", "required", "security", "mapping"})
"""Keywords whose value is data, copied as is (a `default` object may hold any key)."""


def is_prose_key(key: str) -> bool:
    """Whether keyword `key` (in a keyword object, not a name map) carries prose."""
    return key in PROSE_KEYS or bool(_PROSE_EXTENSION.match(key))


def extract_facts(document: Mapping[str, Any]) -> dict[str, Any]:
    """The facts of an OpenAPI `document`: every keyword but the prose ones, recursively."""
    return _keywords(document)


def canonical_json(facts: Mapping[str, Any]) -> str:
    """The snapshot's one serialization (its sha256 is what generated files name)."""
    return json.dumps(facts, indent=2, ensure_ascii=False, default=_scalar) + "\n"


def _keywords(node: Mapping[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in node.items():
        name = str(key)
        if is_prose_key(name):
            continue
        if name in _VERBATIM:
            result[name] = value
        elif name == "scopes" and isinstance(value, Mapping):
            # OAuth scopes map each name (a fact) to a sentence (prose).
            result[name] = {str(scope): "" for scope in value}
        elif name in NAME_MAPS and isinstance(value, Mapping):
            result[name] = {str(k): _value(v) for k, v in value.items()}
        else:
            result[name] = _value(value)
    return result


def _value(value: Any) -> Any:
    if isinstance(value, Mapping):
        return _keywords(value)
    if isinstance(value, list):
        return [_value(item) for item in value]
    return value


def _scalar(value: object) -> str:
    # YAML reads unquoted dates as date objects; JSON has only their text.
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not a JSON value: {value!r}")
