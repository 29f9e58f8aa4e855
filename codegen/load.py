"""Reading the API contract: its facts (`facts.py`), their sha256, `$ref` lookup and `allOf` merging.

The input is the official OpenAPI file (YAML or JSON) or the committed facts snapshot
`codegen/spec-facts.json`; either way the generator sees only the facts, so both give the
same generated code. Nothing here knows about Python code; `normalize.py` turns what this
module reads into the IR.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import attrs
import yaml  # type: ignore[import-untyped, unused-ignore]  # types-PyYAML is not a dependency

from .facts import canonical_json, extract_facts

__all__ = ["SCHEMA_PREFIX", "Spec", "facts_text", "load_spec", "schema_ref_name"]

SCHEMA_PREFIX = "#/components/schemas/"
Node = Mapping[str, Any]


@attrs.frozen
class Spec:
    """A loaded OpenAPI document.

    Attributes:
        data: The spec's facts (`facts.extract_facts`), as JSON values.
        sha256: The hex sha256 of the facts' canonical JSON (the bytes of the committed
            `codegen/spec-facts.json`), recorded in every generated file.
    """

    data: Mapping[str, Any]
    sha256: str

    def deref(self, node: Node) -> Node:
        """Follow `$ref` links (of any component kind) until a concrete node."""
        seen: set[str] = set()
        while "$ref" in node:
            ref = str(node["$ref"])
            if ref in seen:
                raise ValueError(f"circular $ref {ref}")
            seen.add(ref)
            node = self._lookup(ref)
        return node

    def _lookup(self, ref: str) -> Node:
        if not ref.startswith("#/"):
            raise ValueError(f"only local $refs are supported, got {ref}")
        node: Any = self.data
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        if not isinstance(node, Mapping):
            raise ValueError(f"$ref {ref} does not point at an object")
        return cast("Node", node)

    def schemas(self) -> Mapping[str, Node]:
        """The component schemas, by name."""
        components: Mapping[str, Any] = self.data.get("components", {})
        schemas: Mapping[str, Node] = components.get("schemas", {})
        return schemas

    def merged(self, schema: Node) -> Node:
        """`schema` with its `allOf` parts merged into one object schema.

        Properties and `required` lists are unioned, in order; other keys of later
        parts win. `$ref` parts are resolved first. A schema without `allOf` is
        returned unchanged.
        """
        if "allOf" not in schema:
            return schema
        result: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        properties: dict[str, Any] = dict(result.pop("properties", {}))
        required: list[str] = list(result.pop("required", []))
        for part in schema["allOf"]:
            resolved = self.merged(self.deref(part))
            properties.update(resolved.get("properties", {}))
            required.extend(r for r in resolved.get("required", []) if r not in required)
            result.update(
                {k: v for k, v in resolved.items() if k not in ("properties", "required")}
            )
        result["properties"] = properties
        if required:
            result["required"] = required
        result.setdefault("type", "object")
        return result


def schema_ref_name(node: Node) -> str | None:
    """The component schema name a `$ref` node points at, or `None`."""
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith(SCHEMA_PREFIX):
        return ref[len(SCHEMA_PREFIX) :]
    return None


def facts_text(path: Path) -> str:
    """The canonical JSON of the facts of the OpenAPI file or facts snapshot at `path`."""
    raw = path.read_bytes()
    data: object = json.loads(raw) if path.suffix == ".json" else yaml.safe_load(raw)
    if not isinstance(data, Mapping) or "paths" not in data:
        raise ValueError(f"{path} is not an OpenAPI document")
    return canonical_json(extract_facts(cast("Mapping[str, Any]", data)))


def load_spec(path: Path) -> Spec:
    """Read the facts of the OpenAPI file or facts snapshot at `path`."""
    text = facts_text(path)
    data: Mapping[str, Any] = json.loads(text)
    return Spec(data=data, sha256=hashlib.sha256(text.encode("utf-8")).hexdigest())
