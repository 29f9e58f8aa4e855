"""Sample arguments, requests and answers for every operation, built from the spec itself.

The tests of generated code check it against the contract, not against itself: the wire
names, locations and shapes expected here are read from the facts of `refold-openapi.yaml`,
the committed `codegen/spec-facts.json` (through the generator's loader, which only parses
it and resolves `$ref`/`allOf`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from functools import cache
from typing import Any
from urllib.parse import quote

import attrs

from codegen.cli import default_spec
from codegen.load import Spec, load_spec
from refold_async._operation import Operation

__all__ = [
    "SAMPLE_DATETIME",
    "SAMPLE_URL",
    "Call",
    "answer",
    "build_call",
    "sample",
    "spec",
    "spec_params",
    "success_schema",
]

SAMPLE_DATETIME = "2024-05-06T07:08:09Z"
SAMPLE_URL = "https://hooks.example.invalid/x"
LINKED_ACCOUNT = "acct-9"
UNKNOWN_KEY = "keyTheSpecDoesNotKnow"


@cache
def spec() -> Spec:
    """The API contract's facts (the committed snapshot)."""
    return load_spec(default_spec())


def sample(schema: Mapping[str, Any], *, depth: int = 0) -> Any:
    """A JSON value that fits `schema`, with every declared property filled in."""
    node = spec().merged(spec().deref(schema))
    if depth > 8:
        return "deep"
    for key in ("oneOf", "anyOf"):
        if key in node:
            return sample(node[key][0], depth=depth + 1)
    if node.get("enum"):
        return node["enum"][0]
    kind = node.get("type")
    kind = next((k for k in kind if k != "null"), None) if isinstance(kind, list) else kind
    if kind == "string":
        if node.get("format") == "uri" or node.get("pattern") == "^https?://":
            return SAMPLE_URL
        return SAMPLE_DATETIME if node.get("format") == "date-time" else "text"
    scalars = {"integer": 7, "number": 1.5, "boolean": True}
    if kind in scalars:
        return scalars[kind]
    if kind == "array":
        return [sample(node.get("items", {}), depth=depth + 1)]
    if kind == "object" or "properties" in node or "additionalProperties" in node:
        return _sample_object(node, depth)
    return "anything"


def _sample_object(node: Mapping[str, Any], depth: int) -> dict[str, Any]:
    properties = node.get("properties") or {}
    if properties:
        return {name: sample(prop, depth=depth + 1) for name, prop in properties.items()}
    extra = node.get("additionalProperties")
    value = sample(extra, depth=depth + 1) if isinstance(extra, Mapping) and extra else "value"
    return {"key": value}


@cache
def _raw_operations() -> dict[str, tuple[str, str, Mapping[str, Any], list[Mapping[str, Any]]]]:
    found: dict[str, tuple[str, str, Mapping[str, Any], list[Mapping[str, Any]]]] = {}
    for path, item in spec().data["paths"].items():
        for method, node in item.items():
            if isinstance(node, Mapping) and "operationId" in node:
                params = [
                    spec().deref(p)
                    for p in [*item.get("parameters", []), *node.get("parameters", [])]
                ]
                found[node["operationId"]] = (path, method.upper(), node, params)
    return found


def _json_schema(node: Mapping[str, Any]) -> Mapping[str, Any] | None:
    content = spec().deref(node).get("content", {})
    media = content.get("application/json")
    return None if media is None else media.get("schema", {})


def success_schema(op_id: str) -> Mapping[str, Any] | None:
    """The JSON schema of the operation's first 2xx answer, or `None` if it has no body."""
    responses = _raw_operations()[op_id][2]["responses"]
    code = min(c for c in responses if str(c).startswith("2"))
    return _json_schema(responses[code])


def _param_schema(op_id: str, location: str, wire: str) -> Mapping[str, Any]:
    _, _, node, params = _raw_operations()[op_id]
    if location == "body":
        body = spec().merged(spec().deref(_json_schema(node["requestBody"]) or {}))
        return body.get("properties", {}).get(wire, {})
    return next(p for p in params if p["in"] == location and p["name"] == wire).get("schema", {})


def spec_params(op_id: str) -> set[tuple[str, str]]:
    """(location, wire name) of every parameter and body property the spec declares."""
    _, _, node, params = _raw_operations()[op_id]
    found = {(str(p["in"]), str(p["name"])) for p in params}
    if "requestBody" in node:
        body = spec().merged(spec().deref(_json_schema(node["requestBody"]) or {}))
        if body.get("properties"):
            found.update(("body", name) for name in body["properties"])
    return found


@attrs.frozen
class Call:
    """One call of a generated method, and the request it must produce."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    json: Any
    has_json: bool


def _argument(op_id: str, location: str, wire: str, name: str) -> tuple[Any, str]:
    """The Python value to pass and the text it must have on the wire."""
    schema = spec().merged(spec().deref(_param_schema(op_id, location, wire)))
    if location == "path":
        value = str(schema["enum"][0]) if schema.get("enum") else f"{name}/x y"
        return value, quote(value, safe="")
    if location in ("header", "query") and wire == "linked_account_id":  # one account per call
        return LINKED_ACCOUNT, LINKED_ACCOUNT
    if sorted(schema.get("enum") or []) == ["false", "true"]:
        return True, "true"
    if schema.get("format") == "date-time":
        moment = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.timezone.utc)
        return moment, SAMPLE_DATETIME
    value = sample(schema)
    if isinstance(value, str) and not schema.get("enum"):
        value = f"{wire} v"
    return value, str(value)


def build_call(op: Operation[Any]) -> Call:
    """Arguments for every declared parameter of `op`, and the request they must make."""
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    path, query, headers, body = op.path, [], {}, {}
    for param in op.params:
        value, wire_text = _argument(op.id, param.location, param.wire_name, param.name)
        if param.location == "path":
            args.append(value)
            path = path.replace("{" + param.wire_name + "}", wire_text)
            continue
        kwargs[param.name] = value
        if param.location == "query":
            query.append((param.wire_name, wire_text))
        elif param.location == "header":
            headers[param.wire_name] = wire_text
        else:
            body[param.wire_name] = sample(_param_schema(op.id, "body", param.wire_name))
            kwargs[param.name] = body[param.wire_name]
    json_body: Any = body or None
    if op.has_body and not body:
        node = _raw_operations()[op.id][2]["requestBody"]
        kwargs["body"] = json_body = sample(_json_schema(node) or {})
    return Call(tuple(args), kwargs, path, sorted(query), headers, json_body, op.has_body)


def answer(op: Operation[Any]) -> Any:
    """A 2xx JSON answer for `op` (with a key the spec does not know, in objects)."""
    schema = success_schema(op.id)
    if schema is None:
        return None
    value = sample(schema)
    for obj in (value, *(value if isinstance(value, list) else [])):
        if isinstance(obj, dict):
            obj[UNKNOWN_KEY] = {"nested": [1, 2]}
    return value
