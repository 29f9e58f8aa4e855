"""The IR to source files: Jinja templates, then ruff, so output is byte-for-byte stable.

`render_api()` returns every generated file as `{relative path: text}`, formatted with
the project's own ruff settings (imports sorted, unused ones dropped, `ruff format`), in
a temporary directory: the working tree is touched only by `write_files()`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, cast

import jinja2

from .codecs import model_codecs, structure_name, unstructure_name
from .ir import Api, EnumDef, ModelModule, Operation, Resource, TypeExpr, ValueCheck

__all__ = [
    "GENERATED_DIRS",
    "GENERATED_FILES",
    "format_sources",
    "generated_paths",
    "render_api",
    "write_files",
]

TEMPLATES = Path(__file__).parent / "templates"
GENERATED_DIRS = ("refold_async/resources", "refold_async/models", "refold_sync/resources")
GENERATED_FILES = ("refold_async/operations.py", "api.md")
# Files written as rendered: ruff formats Python only.
_NOT_PYTHON = ("api.md",)
# Method names that would shadow a builtin used in annotations inside the class body.
_SHADOWED_BUILTINS = ("list", "dict", "set", "type", "str", "int", "float", "bool")
_QUOTED = re.compile(r"(\"[^\"]*\"|'[^']*')")


def pyrepr(value: object) -> str:
    """A spec string (or number) as a Python literal: the only way spec text enters code."""
    if not isinstance(value, str | int | float | bool):
        raise TypeError(f"pyrepr takes a JSON scalar, got {type(value).__name__}")
    return repr(value)


def check_arguments(check: ValueCheck) -> str:
    """The keyword arguments of a runtime `Param` that say what its value must be."""
    parts: list[str] = []
    for name, value in check.fields():
        if name == "variants":
            shapes = [f"Shape({check_arguments(v)[2:]})" for v in check.variants]
            parts.append(f", variants=({', '.join(shapes)},)")
            continue
        if isinstance(value, tuple):
            items = [pyrepr(v) for v in cast("tuple[object, ...]", value)]
            text = "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
        else:
            text = pyrepr(value)
        parts.append(f", {name}={text}")
    return "".join(parts)


def _shadowed(resource: Resource) -> set[str]:
    return {op.name for op in resource.operations} & set(_SHADOWED_BUILTINS)


def annotation(text: str, resource: Resource) -> str:
    """`text` for use inside the resource class, where a method may be named `list`."""
    names = _shadowed(resource)
    if not names:
        return text
    pattern = re.compile(r"(?<![\w.])(" + "|".join(sorted(names)) + r")\b")
    parts = _QUOTED.split(text)
    return "".join(
        part if i % 2 else pattern.sub(r"builtins.\1", part) for i, part in enumerate(parts)
    )


def needs_builtins(resource: Resource) -> bool:
    """Whether the resource's annotations mention a builtin that one of its methods shadows."""
    texts = [p.type.text for op in resource.operations for p in op.params]
    texts += [t.text for op in resource.operations for t in (op.returns, op.item) if t is not None]
    return any(annotation(text, resource) != text for text in texts)


def call_arguments(op: Operation) -> str:
    """The arguments a call needs at least, for api.md: `execution_id` or `name=...`."""
    needed = [p.name for p in op.signature_params if p.location == "path"]
    needed += [
        f"{p.name}=..." for p in op.signature_params if p.location != "path" and not p.has_default
    ]
    if any(p.has_default for p in op.signature_params):
        needed.append("...")
    return ", ".join(needed)


_SCOPE_WORDS = {
    "NONE": "`NONE`",
    "ORG_KEY": "`ORG_KEY`",
    "KEY_OR_TOKEN": "`KEY_OR_TOKEN`",
    "SESSION_TOKEN": "`SESSION_TOKEN`",
}


def auth_words(op: Operation) -> str:
    """The auth column of api.md: the scope, and whether a linked account is named."""
    words = _SCOPE_WORDS[op.auth]
    if op.org_level:
        return words + ", org level or linked account"
    return words + (", linked account" if op.linked_account else "")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    filters: dict[str, Any] = {
        "pyrepr": pyrepr,
        "annotation": annotation,
        "needs_builtins": needs_builtins,
        "check_arguments": check_arguments,
        "call_arguments": call_arguments,
        "auth_words": auth_words,
    }
    env.filters.update(filters)
    return env


def _resource_imports(resource: Resource) -> dict[str, Any]:
    types: list[TypeExpr] = [p.type for op in resource.operations for p in op.params]
    types += [t for op in resource.operations for t in (op.returns, op.item) if t is not None]
    return {
        "models": sorted({m for t in types for m in t.models}),
        "typing": sorted({n for t in types for n in t.typing}),
        "datetime": any(t.uses_datetime for t in types),
        "paginated": any(op.paginated for op in resource.operations),
    }


def _model_imports(module: ModelModule, api: Api) -> list[dict[str, Any]]:
    """What a model module imports from its siblings: classes, and their structure functions."""
    home = {m.name: mm.module for mm in api.model_modules for m in mm.models}
    home.update({e.name: "_enums" for e in api.enums})
    own = {m.name for m in module.models}
    wanted = {n for m in module.models for f in m.fields for n in f.type.models} - own
    by_module: dict[str, list[str]] = {}
    for name in sorted(wanted):
        by_module.setdefault(home[name], []).append(name)
        if home[name] != "_enums":
            by_module[home[name]].append(structure_name(name))
    return [{"module": key, "names": names} for key, names in sorted(by_module.items())]


def _model_module_context(module: ModelModule, api: Api) -> dict[str, Any]:
    names = [m.name for m in module.models]
    return {
        "module": module,
        "imports": _model_imports(module, api),
        "codecs": model_codecs(module.models, {e.name for e in api.enums}),
        "structure_names": {n: structure_name(n) for n in names},
        "unstructure_names": {n: unstructure_name(n) for n in names},
    }


def _exports(api: Api) -> list[str]:
    names = [e.name for e in api.enums] + [m.name for m in api.models] + ["OpenEnum"]
    return sorted(names)


def render_unformatted(api: Api) -> dict[str, str]:
    """Every generated file, straight from the templates."""
    env = _environment()

    def render(template: str, **context: Any) -> str:
        return env.get_template(template).render(api=api, **context)

    files = {
        "refold_async/operations.py": render("operations.py.jinja"),
        "refold_async/resources/__init__.py": render("async_namespaces.py.jinja"),
        "refold_sync/resources/__init__.py": render("sync_namespaces.py.jinja"),
        "refold_async/models/__init__.py": render("models_init.py.jinja", exports=_exports(api)),
        "refold_async/models/_enums.py": render("enums.py.jinja", enums=_sorted_enums(api.enums)),
        "refold_async/models/_wire.py": render("wire.py.jinja"),
        "api.md": render("api.md.jinja"),
    }
    for resource in api.resources:
        imports = _resource_imports(resource)
        files[f"refold_async/resources/{resource.module}.py"] = render(
            "async_resource.py.jinja", resource=resource, imports=imports
        )
        files[f"refold_sync/resources/{resource.module}.py"] = render(
            "sync_resource.py.jinja", resource=resource, imports=imports
        )
    for module in api.model_modules:
        files[f"refold_async/models/{module.module}.py"] = render(
            "model_module.py.jinja", **_model_module_context(module, api)
        )
    return files


def _sorted_enums(enums: Iterable[EnumDef]) -> list[EnumDef]:
    return sorted(enums, key=lambda e: e.name)


def render_api(api: Api, root: Path) -> dict[str, str]:
    """Every generated file, formatted with the ruff settings of the project at `root`."""
    files = render_unformatted(api)
    python = {rel: text for rel, text in files.items() if rel not in _NOT_PYTHON}
    return {**format_sources(python, root), **{rel: files[rel] for rel in _NOT_PYTHON}}


def format_sources(files: Mapping[str, str], root: Path) -> dict[str, str]:
    """`files` after `ruff check --fix` (imports) and `ruff format`, in a scratch directory."""
    with tempfile.TemporaryDirectory(prefix="refold-codegen-") as scratch:
        base = Path(scratch)
        shutil.copyfile(root / "pyproject.toml", base / "pyproject.toml")
        for rel, text in files.items():
            target = base / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        # The scratch tree lacks the hand-written modules ruff would detect packages by.
        first_party = "lint.isort.known-first-party = ['codegen', 'refold_async', 'refold_sync']"
        _ruff(
            base,
            "check",
            "--config",
            first_party,
            "--fix",
            "--exit-zero",
            "--quiet",
            "--select",
            "I,F401",
            ".",
        )
        _ruff(base, "format", "--quiet", ".")
        return {rel: (base / rel).read_text(encoding="utf-8") for rel in sorted(files)}


def _ruff(cwd: Path, *args: str) -> None:
    command = [sys.executable, "-m", "ruff", *args]
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)  # noqa: S603 - our own fixed command line
    if result.returncode != 0:
        raise RuntimeError(f"ruff {args[0]} failed:\n{result.stdout}{result.stderr}")


def generated_paths(root: Path) -> set[str]:
    """The generated files present under `root` now (to find stale ones)."""
    found = {rel for rel in GENERATED_FILES if (root / rel).exists()}
    for directory in GENERATED_DIRS:
        found.update(p.relative_to(root).as_posix() for p in (root / directory).rglob("*.py"))
    return found


def write_files(files: Mapping[str, str], root: Path) -> tuple[list[str], list[str]]:
    """Write changed files and delete stale generated ones; return (written, deleted)."""
    written: list[str] = []
    for rel, text in sorted(files.items()):
        target = root / rel
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            written.append(rel)
    stale = sorted(generated_paths(root) - set(files))
    for rel in stale:
        (root / rel).unlink()
    return written, stale
