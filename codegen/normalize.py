"""The spec plus `overrides.toml` become the IR (`ir.Api`) that templates render.

Facts (paths, parameter names, types, enum values) come from the spec; names and
docstrings come from the overrides, never from the spec's prose. Problems are collected
as `GeneratorIssue`s rather than raised, so one run reports all of them.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal, cast

import attrs

from .docs import args_section, raises_section, returns_section
from .ir import (
    Api,
    GeneratorIssue,
    Model,
    ModelModule,
    Operation,
    Param,
    Resource,
    TypeExpr,
    ValueCheck,
)
from .load import Node, Spec
from .naming import constant_name, is_identifier, snake_name
from .schemas import ANY, JSON_OBJECT, SchemaTypes, is_model_schema, union_sites

# Python 3.10 has no tomllib; the tomli backport reads TOML the same way.
tomllib = importlib.import_module("tomllib" if sys.version_info >= (3, 11) else "tomli")

__all__ = ["Overrides", "build_api", "load_overrides"]

METHODS = ("get", "post", "put", "patch", "delete", "head")
ORG_KEY_SCHEME = "Org API Key"
BEARER_SCHEME = "Linked Account Token"
LINKED_ACCOUNT_HEADER = "linked_account_id"
MULTIPART = "multipart/form-data"
SHARED_MODULE = "_shared"
# Argument names a generated method reserves for itself and for `CallOptions`.
_RESERVED = frozenset({"self", "options", "extra_headers", "extra_query", "extra_body", "timeout"})
_LOCATION_RANK = {"path": 0, "query": 1, "header": 2, "body": 3}
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
Location = Literal["path", "query", "header", "body"]


@attrs.frozen
class Overrides:
    """The project's names and words (see the comments at the top of overrides.toml)."""

    resources: Mapping[str, Mapping[str, str]]
    models: Mapping[str, str]
    enums: Mapping[str, str]
    operations: Mapping[str, Mapping[str, Any]]
    secret_fields: frozenset[str] = frozenset()
    bounds: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict)
    arg_docs: Mapping[str, str] = attrs.field(factory=dict)
    args: Mapping[str, Mapping[str, str]] = attrs.field(factory=dict)


def load_overrides(path: Path) -> Overrides:
    """Read overrides.toml."""
    data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    return Overrides(
        resources=data.get("resources", {}),
        models=data.get("models", {}),
        enums=data.get("enums", {}),
        operations=data.get("operations", {}),
        secret_fields=frozenset(data.get("secrets", {}).get("fields", [])),
        bounds=data.get("bounds", {}),
        arg_docs=data.get("arg_docs", {}),
        args=data.get("args", {}),
    )


def build_api(spec: Spec, overrides: Overrides) -> Api:
    """Normalize `spec` with `overrides` into the IR."""
    return _Builder(spec, overrides).build()


def auth_scope(security: list[Mapping[str, Any]]) -> str:
    """The `AuthScope` member name for an operation's `security` list (docs/architecture.md §1)."""
    schemes = {name for requirement in security for name in requirement}
    if not schemes:
        return "NONE"
    if schemes == {ORG_KEY_SCHEME}:
        return "ORG_KEY"
    if schemes == {BEARER_SCHEME}:
        return "SESSION_TOKEN"
    return "KEY_OR_TOKEN"


def auth_sentence(scope: str, linked_account: bool, org_level: bool = False) -> str:
    """The docstring's `Auth:` line, in words."""
    if org_level:
        return "the org API key (with `linked_account_id` to act for one linked account), or a session token."
    if scope == "NONE":
        return "none."
    if scope == "SESSION_TOKEN":
        return "a linked account's session token (a client with an API key and a linked account mints one)."
    key = (
        "the org API key plus a linked account (`linked_account_id`)"
        if linked_account
        else "the org API key"
    )
    if scope == "ORG_KEY":
        return key + "."
    return key + (
        ", or that account's session token." if linked_account else ", or a session token."
    )


@attrs.frozen
class _RawOperation:
    path: str
    method: str
    node: Node
    params: tuple[Node, ...]


class _Builder:
    def __init__(self, spec: Spec, overrides: Overrides) -> None:
        self.spec = spec
        self.overrides = overrides
        self.types = SchemaTypes(
            spec, overrides.models, overrides.enums, secret_fields=overrides.secret_fields
        )
        self.issues: list[GeneratorIssue] = []
        self._bounds_used: set[str] = set()
        self._arg_docs_used: set[str] = set()

    def build(self) -> Api:
        raw = list(self._raw_operations())
        self._register_inline_models(raw)
        self._check_overrides_used(raw)
        self.types.name_enums()
        models = self.types.build_models()
        resources = self._resources(raw)
        for key in sorted(set(self.overrides.bounds) - self._bounds_used):
            self._issue("warning", key, "[bounds] names a parameter no operation has")
        for key in sorted(set(self.overrides.arg_docs) - self._arg_docs_used):
            self._issue("warning", key, "[arg_docs] names a parameter no operation has")
        return Api(
            sha256=self.spec.sha256,
            resources=resources,
            model_modules=self._model_modules(models, raw),
            enums=tuple(sorted(self.types.enums.values(), key=lambda e: e.name)),
            issues=tuple(self.issues + self.types.issues),
            unions=tuple(
                (pointer, self.types.unions.get(pointer, False))
                for _, pointer in union_sites(self.spec.data)
            ),
        )

    def _issue(self, level: Literal["error", "warning"], where: str, message: str) -> None:
        self.issues.append(GeneratorIssue(level, where, message))

    def _register_inline_models(self, raw: list[_RawOperation]) -> None:
        for op in raw:
            name = self._override(op).get("response_model")
            if name:
                schema = self._response_schema(op) or {}
                part = "One entry of" if schema.get("type") == "array" else "The whole of"
                origin = f"{part} the `{op.node.get('operationId')}` answer"
                self.types.add_inline_model(str(name), schema, origin)

    def _check_overrides_used(self, raw: list[_RawOperation]) -> None:
        ids = {op.node.get("operationId") for op in raw}
        for op_id in sorted(set(self.overrides.operations) - ids):
            self._issue("warning", op_id, "overrides.toml names an operation the spec lacks")
        for name in sorted(self.overrides.secret_fields):
            if snake_name(name) != name:
                # Matching is on the Python field name, so a wire spelling would match nothing.
                self._issue("error", name, "[secrets] names a field; use its snake_case name")

    # -- reading the spec ---------------------------------------------------------------

    def _raw_operations(self) -> Iterator[_RawOperation]:
        for path, item in self.spec.data["paths"].items():
            shared = [self.spec.deref(p) for p in item.get("parameters", [])]
            for method in METHODS:
                if method in item:
                    node = item[method]
                    own = [self.spec.deref(p) for p in node.get("parameters", [])]
                    keys = {(p["in"], p["name"]) for p in own}
                    params = [p for p in shared if (p["in"], p["name"]) not in keys] + own
                    yield _RawOperation(path, method.upper(), node, tuple(params))

    def _override(self, op: _RawOperation) -> Mapping[str, Any]:
        return self.overrides.operations.get(op.node.get("operationId", ""), {})

    def _json_schema(self, node: Node) -> Node | None:
        content = self.spec.deref(node).get("content", {})
        media = content.get("application/json") or next(iter(content.values()), None)
        return None if media is None else media.get("schema", {})

    def _response_schema(self, op: _RawOperation) -> Node | None:
        responses = op.node.get("responses", {})
        success = sorted(code for code in responses if str(code).startswith("2"))
        return self._json_schema(responses[success[0]]) if success else None

    # -- operations ---------------------------------------------------------------------

    def _resources(self, raw: list[_RawOperation]) -> tuple[Resource, ...]:
        by_tag: dict[str, list[Operation]] = {}
        for op in raw:
            built = self._operation(op)
            if built is not None:
                by_tag.setdefault(op.node["tags"][0], []).append(built)
        resources: list[Resource] = []
        for tag, ops in by_tag.items():
            names = self.overrides.resources[tag]
            self._check_unique(tag, [o.name for o in ops], "method")
            resources.append(
                Resource(
                    tag=tag,
                    attr=names["attr"],
                    stem=names["stem"],
                    module=names["attr"],
                    operations=tuple(ops),
                )
            )
        return tuple(sorted(resources, key=lambda r: r.attr))

    def _operation(self, op: _RawOperation) -> Operation | None:
        op_id = str(op.node.get("operationId", ""))
        tags: list[str] = op.node.get("tags") or []
        override = self._override(op)
        if not op_id or not tags or tags[0] not in self.overrides.resources or not override:
            self._issue(
                "error", f"{op.method} {op.path}", "needs an operationId, a tag and overrides"
            )
            return None
        auth = auth_scope(op.node.get("security", self.spec.data.get("security", [])))
        linked = any(p["in"] == "header" and p["name"] == LINKED_ACCOUNT_HEADER for p in op.params)
        params, has_body, body_required = self._params(op, override)
        multipart = self._multipart(op)
        returns, item = self._returns(op, bool(override.get("paginate")))
        doc = str(override.get("doc", ""))
        org_level = bool(override.get("org_level"))
        self._check_doc(op_id, doc, op.path)
        args = self._args_doc(op_id, params, multipart=multipart)
        return Operation(
            id=op_id,
            constant=constant_name(op_id),
            method=op.method,
            path=op.path,
            auth=auth,
            linked_account=linked,
            org_level=org_level,
            resource=self.overrides.resources[tags[0]]["attr"],
            name=str(override["name"]),
            doc=f"{doc}\n\n`{op.method} {op.path}`\nAuth: {auth_sentence(auth, linked, org_level)}"
            f"\n\n{args}"
            + "".join(
                f"\n\n{section}"
                for section in (
                    returns_section(returns.text, item.text if item is not None else None),
                    raises_section(
                        not_found=self._may_be_missing(op),
                        needs_credential=auth != "NONE",
                        needs_linked_account=linked
                        and not org_level
                        and auth in ("ORG_KEY", "KEY_OR_TOKEN"),
                        decodes=returns.text not in ("None", "Any"),
                    ),
                )
                if section
            ),
            paginated=item is not None,
            returns=returns,
            item=item,
            params=params,
            has_body=has_body,
            body_required=body_required,
            multipart=multipart,
        )

    def _may_be_missing(self, op: _RawOperation) -> bool:
        """A 404 is likely: the spec lists one, or the path names a resource by its id."""
        return "404" in {str(code) for code in op.node.get("responses", {})} or (
            "{" in op.path and op.method in ("GET", "PUT", "PATCH", "DELETE")
        )

    def _multipart(self, op: _RawOperation) -> bool:
        """The request body may also be `multipart/form-data` (file uploads)."""
        body = op.node.get("requestBody")
        return body is not None and MULTIPART in self.spec.deref(body).get("content", {})

    def _args_doc(self, op_id: str, params: tuple[Param, ...], *, multipart: bool) -> str:
        """The `Args:` section: our words from overrides.toml, then the facts."""
        own: Mapping[str, str] = self.overrides.args.get(op_id, {})
        names = {p.name for p in params} | ({"files"} if multipart else set())
        for name in sorted(set(own) - names):
            self._issue("error", op_id, f"[args] describes {name!r}, which it does not take")
        hand: dict[str, str] = {}
        for p in params:
            key = f"{p.location}:{p.wire_name}"
            if p.name in own:
                hand[p.name] = str(own[p.name])
            elif key in self.overrides.arg_docs and not p.is_whole_body:
                self._arg_docs_used.add(key)
                hand[p.name] = str(self.overrides.arg_docs[key])
        for name, text in hand.items():
            if any(bad in text for bad in ('"""', "\\", "\n")):
                self._issue("error", f"{op_id}.{name}", "argument docs must be plain text")
        ordered = sorted(params, key=_signature_rank)
        files = own.get("files") if multipart else None
        return args_section(ordered, hand, files=str(files or "") if multipart else None)

    def _check_doc(self, where: str, doc: str, path: str) -> None:
        # Both end up inside a docstring: neither may close it or escape from it.
        if not doc or any(bad in text for text in (doc, path) for bad in ('"""', "\\", "\n")):
            self._issue("error", where, "doc (and path) must be one plain line without quotes")

    def _params(
        self, op: _RawOperation, override: Mapping[str, Any]
    ) -> tuple[tuple[Param, ...], bool, bool]:
        renames: Mapping[str, str] = override.get("rename", {})
        params = [self._param(p, renames) for p in op.params]
        order = {name: i for i, name in enumerate(_PLACEHOLDER.findall(op.path))}
        params.sort(key=lambda p: (_LOCATION_RANK[p.location], order.get(p.wire_name, 0)))
        body = op.node.get("requestBody")
        body_required = bool(body and self.spec.deref(body).get("required"))
        if body is not None:
            params.extend(self._body_params(self._json_schema(body) or {}, body_required, renames))
        where = str(op.node.get("operationId"))
        self._check_unique(where, [p.name for p in params], "argument")
        for p in params:
            if p.name in _RESERVED or not is_identifier(p.name):
                self._issue("error", where, f"argument name {p.name!r} is reserved")
        return tuple(params), body is not None, body_required

    def _param(self, node: Node, renames: Mapping[str, str]) -> Param:
        location = cast("Location", node["in"])
        wire = str(node["name"])
        required = bool(node.get("required")) or location == "path"
        linked = location == "header" and wire == LINKED_ACCOUNT_HEADER
        type_ = self.types.param_type(node.get("schema", {}))
        if location == "path" and type_.text == "Any":
            type_ = TypeExpr("str")
        name = renames.get(f"{location}:{wire}", snake_name(wire))
        check = self.types.param_check(node.get("schema", {}))
        if location == "path" and check.kind == "any":
            check = ValueCheck(kind="str")
        return Param(
            name,
            wire,
            location,
            required,
            type_,
            has_default=linked or not required,
            check=self._bounded(f"{location}:{wire}", check),
            default=self._default(node.get("schema", {})),
        )

    def _default(self, schema: Node) -> str | int | float | bool | None:
        """The server's default for a parameter (a JSON scalar), for the docstring."""
        value: object = self.spec.merged(self.spec.deref(schema)).get("default")
        return value if isinstance(value, str | int | float | bool) else None

    def _bounded(self, key: str, check: ValueCheck) -> ValueCheck:
        """`check` with the bounds of `[bounds]` in overrides.toml where the spec gives none."""
        bounds = self.overrides.bounds.get(key)
        if bounds is None:
            return check
        self._bounds_used.add(key)
        if check.kind not in ("int", "float"):
            self._issue("error", key, "[bounds] applies to numbers only")
            return check
        return attrs.evolve(
            check,
            minimum=check.minimum if check.minimum is not None else bounds.get("minimum"),
            maximum=check.maximum if check.maximum is not None else bounds.get("maximum"),
        )

    def _body_params(
        self, schema: Node, body_required: bool, renames: Mapping[str, str]
    ) -> list[Param]:
        merged = self.spec.merged(self.spec.deref(schema))
        if not is_model_schema(merged):
            type_ = self.types.param_type(schema)
            type_ = JSON_OBJECT if type_.text == "Any" and merged.get("type") == "object" else type_
            return [Param("body", "", "body", body_required, type_, has_default=not body_required)]
        required = set(merged.get("required", []))
        properties: Mapping[str, Node] = merged["properties"]
        wires = [*properties, *sorted(required - set(properties))]
        params: list[Param] = []
        for wire in wires:
            is_required = body_required and wire in required
            type_ = self.types.param_type(properties[wire]) if wire in properties else ANY
            check = self.types.param_check(properties[wire]) if wire in properties else ValueCheck()
            name = renames.get(f"body:{wire}", snake_name(wire))
            params.append(
                Param(
                    name,
                    wire,
                    "body",
                    is_required,
                    type_,
                    has_default=not is_required,
                    check=self._bounded(f"body:{wire}", check),
                    default=self._default(properties.get(wire, {})),
                )
            )
        return params

    def _returns(self, op: _RawOperation, paginate: bool) -> tuple[TypeExpr, TypeExpr | None]:
        schema = self._response_schema(op)
        name = self._override(op).get("response_model")
        if schema is None:
            return TypeExpr("None"), None
        returns = self._inline_or_type(schema, str(name) if name else None)
        if not paginate:
            return returns, None
        docs = self.spec.merged(self.spec.deref(schema)).get("properties", {}).get("docs", {})
        if docs.get("type") != "array":
            self._issue("error", str(op.node.get("operationId")), "paginated, but no docs array")
            return returns, None
        item = self.types.model_type(docs.get("items", {}))
        return item.wrap("Page[{}]"), item

    def _inline_or_type(self, schema: Node, inline_name: str | None) -> TypeExpr:
        if inline_name is None:
            return self.types.model_type(schema)
        model = TypeExpr(inline_name, models=frozenset({inline_name}))
        return model.wrap("list[{}]") if schema.get("type") == "array" else model

    def _check_unique(self, where: str, names: list[str], what: str) -> None:
        for name in sorted({n for n in names if names.count(n) > 1}):
            self._issue("error", where, f"two {what}s are both named {name!r}")

    # -- model modules ------------------------------------------------------------------

    def _model_modules(
        self, models: list[Model], raw: list[_RawOperation]
    ) -> tuple[ModelModule, ...]:
        """Group models by the one resource that uses them; models used by several go to `_shared`."""
        users: dict[str, set[str]] = {}
        for op in raw:
            attr = self.overrides.resources.get((op.node.get("tags") or [""])[0], {}).get(
                "attr", ""
            )
            inline = self._override(op).get("response_model")
            if inline:
                users.setdefault(str(inline), set()).add(attr)
            for schema_name in self.types.referenced(op.node):
                users.setdefault(self.types.classes.get(schema_name, ""), set()).add(attr)
        modules: dict[str, list[Model]] = {}
        for model in models:
            owners = users.get(model.name, set())
            key = f"_{next(iter(owners))}" if len(owners) == 1 else SHARED_MODULE
            modules.setdefault(key, []).append(model)
        titles = {f"_{r['attr']}": tag for tag, r in self.overrides.resources.items()}
        return tuple(
            ModelModule(
                module=key,
                title=titles.get(key, "several resources"),
                models=tuple(_dependency_order(ms)),
            )
            for key, ms in sorted(modules.items())
        )


def _signature_rank(param: Param) -> int:
    """Path arguments, then required keywords, then optional ones (as in the signature)."""
    if param.location == "path":
        return 0
    return 2 if param.has_default else 1


def _dependency_order(models: list[Model]) -> list[Model]:
    """Models sorted by name, each after the models of its module that it mentions."""
    by_name = {m.name: m for m in models}
    done: dict[str, Model] = {}

    def visit(model: Model, path: tuple[str, ...]) -> None:
        if model.name in done:
            return
        if model.name in path:
            raise ValueError(f"models refer to each other in a cycle: {' -> '.join(path)}")
        for dep in sorted({n for f in model.fields for n in f.type.models if n in by_name}):
            visit(by_name[dep], (*path, model.name))
        done[model.name] = model

    for model in sorted(models, key=lambda m: m.name):
        visit(model, ())
    return list(done.values())
