"""Generated structure functions: the same models and the same errors as cattrs' own.

Every generated model decodes through the function `codegen/` wrote next to it; it must
give what the converter's generated function gives for good data, and defer to it for
anything else, so a decoding error reads exactly as before (model, field path, value type).
"""

from __future__ import annotations

import ast
import datetime as dt
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import CodeType, FrameType
from typing import Any

import attrs
import cattrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import refold_async.models as models
from refold_async import Page
from refold_async._convert import (  # pyright: ignore[reportPrivateUsage]
    _slow_structure,
    codec_of,
    converter,
    structure,
    unstructure,
)
from refold_async.models import LinkedAccount, Webhook
from refold_async.testing._samples import sample_json

MODEL_NAMES = sorted(name for name in models.__all__ if attrs.has(getattr(models, name)))
ODD_VALUES: list[Any] = [None, 12, 1.5, True, "text", [], [1], {}, {"a": 1}, "2026-13-45"]


def _outcome(fn: Any, data: Any, tp: Any) -> tuple[str, Any]:
    try:
        return "ok", fn(data, tp)
    except cattrs.BaseValidationError as exc:
        return "error", cattrs.transform_error(exc)
    except (ValueError, TypeError, KeyError) as exc:
        return "error", f"{type(exc).__name__}: {exc}"


def _slow(data: Any, tp: Any) -> Any:
    return _slow_structure(converter, tp)(data, tp)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_generated_functions_for_every_model(name: str) -> None:
    """Each generated model's codec is the pair of functions written in its own module."""
    cls = getattr(models, name)
    codec = codec_of(cls)
    assert codec is not None
    fast = codec.structure_for(cls)
    assert fast is not None
    for fn in (fast, codec.unstructure):
        assert fn.__module__ == cls.__module__
        assert getattr(sys.modules[cls.__module__], fn.__name__) is fn
    assert fast.__name__.startswith("structure_")
    assert codec.unstructure.__name__.startswith("unstructure_")


@contextmanager
def _calls() -> Iterator[set[CodeType]]:
    """The code objects of every Python function called inside the block."""
    seen: set[CodeType] = set()

    def profile(frame: FrameType, event: str, arg: object) -> None:
        if event == "call":
            seen.add(frame.f_code)

    sys.setprofile(profile)
    try:
        yield seen
    finally:
        sys.setprofile(None)


def _code(fn: Callable[..., Any]) -> CodeType:
    return fn.__code__


def test_responses_bodies_and_dict_helpers_run_the_generated_functions() -> None:
    """Decoding, `from_dict`, `to_dict` and request bodies all go through the same two
    generated functions (one pipeline), and good data never reaches cattrs."""
    from refold_async.models import _webhooks

    wire = sample_json(Webhook)
    fast, dump = _code(_webhooks.structure_webhook), _code(_webhooks.unstructure_webhook)
    for decode in (lambda: structure(wire, Webhook), lambda: Webhook.from_dict(wire)):
        decode()  # the first call looks the converter's hook up; later ones only run it
        with _calls() as seen:
            decoded = decode()
        assert fast in seen
        assert not any("cattrs" in code.co_filename for code in seen)
    for encode in (
        lambda: decoded.to_dict(),
        lambda: decoded.to_dict(wire=True),
        lambda: decoded.to_json(),
        lambda: unstructure(decoded),
        lambda: unstructure({"hook": decoded}),
    ):
        with _calls() as seen:
            encode()
        assert dump in seen
    assert decoded.to_dict(wire=True) == unstructure(decoded) == wire


def test_no_runtime_code_generation_nor_attrs_internals() -> None:
    """The SDK builds no code at run time and reads nothing private of attrs or Enum."""
    root = Path(__file__).resolve().parents[2]
    banned_calls = {"exec", "eval", "compile"}
    banned_names = {"co_filename", "_value2member_map_", "__attrs_init_subclass__"}
    for path in sorted((root / "refold_async").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in banned_calls, (path, node.lineno)
            if isinstance(node, ast.Attribute):
                assert node.attr not in banned_names, (path, node.lineno)
            if isinstance(node, ast.FunctionDef):
                assert node.name not in banned_names, (path, node.lineno)


def _module_imports(path: Path) -> set[str]:
    """Every module `path` imports, at the top or inside a function, relative ones resolved."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(("refold_async." if node.level else "") + node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_conversion_modules_import_downwards_only() -> None:
    """`_convert` sits below `_model` and `_pagination`; neither is imported back, even late."""
    package = Path(__file__).resolve().parents[2] / "refold_async"
    below = {
        "_convert": {"refold_async._model", "refold_async._pagination"},
        "_unions": {"refold_async._convert", "refold_async._model", "refold_async._pagination"},
        "_model": {"refold_async._pagination"},
    }
    for module, forbidden in below.items():
        assert not (_module_imports(package / f"{module}.py") & forbidden), module
    assert not (package / "_structure.py").exists()


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_same_model_as_cattrs_for_sample_data(name: str) -> None:
    """A sample body of each model decodes to an equal instance on both paths."""
    cls = getattr(models, name)
    data = sample_json(cls)
    data["undeclared_key"] = {"kept": True}
    fast = structure(data, cls)
    assert fast == _slow(data, cls)
    assert fast.extra_fields == {"undeclared_key": {"kept": True}}


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_same_outcome_as_cattrs_for_odd_values(name: str) -> None:
    """Every field given odd values: the same model, or the very same error text."""
    cls = getattr(models, name)
    base = sample_json(cls)
    keys = [k for k in base if k != "extra_fields"]
    for key in keys:
        for odd in ODD_VALUES:
            data = {**base, key: odd}
            assert _outcome(structure, data, cls) == _outcome(_slow, data, cls), (key, odd)
        missing = {k: v for k, v in base.items() if k != key}
        assert _outcome(structure, missing, cls) == _outcome(_slow, missing, cls), key
    for odd in ODD_VALUES:
        assert _outcome(structure, odd, cls) == _outcome(_slow, odd, cls), odd


def test_error_names_model_path_and_type() -> None:
    """A nested misfit still names the field path and the type expected there."""
    data = {"_id": "acct_1", "udf": [{"key_name": 12.5}, {"key_name": ["x"]}]}
    kind, problems = _outcome(structure, data, LinkedAccount)
    assert kind == "error"
    assert problems == ["invalid value for type, expected str | None @ $.udf[1].key_name"]


def test_lists_and_pages_match_cattrs() -> None:
    """Top-level lists and pages: equal results, and equal errors for a bad item."""
    hooks = [sample_json(Webhook) for _ in range(3)]
    assert structure(hooks, list[Webhook]) == converter.structure(hooks, list[Webhook])
    bad = [*hooks, {"is_enabled": "maybe"}]
    assert _outcome(structure, bad, list[Webhook]) == _outcome(
        converter.structure, bad, list[Webhook]
    )
    page = {"docs": [sample_json(LinkedAccount)], "totalDocs": 1, "hasNextPage": False}
    decoded = structure(page, Page[LinkedAccount])
    assert decoded == _slow(page, Page[LinkedAccount])
    assert isinstance(decoded.items[0], LinkedAccount)


def test_datetimes_keep_their_instant_and_zone() -> None:
    """`Z`, offsets, naive text and epoch numbers decode as the converter's hook has them."""
    for value in (
        "2026-01-01T00:00:00Z",
        "2026-01-01T02:00:00+02:00",
        "2026-01-01T00:00:00",
        " 2026-01-01T00:00:00Z ",
        1767225600,
        1767225600000,
    ):
        account = structure({"createdAt": value}, LinkedAccount)
        assert account.created_at == dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc), value
        assert account.created_at == _slow({"createdAt": value}, LinkedAccount).created_at
        assert (
            account.created_at.utcoffset()
            == _slow({"createdAt": value}, LinkedAccount).created_at.utcoffset()
        )


def test_local_fields_are_never_read_from_the_body() -> None:
    """`Page.response` never travels: a body key of that name is dropped on both paths."""
    page = {"docs": [], "response": {"request_id": "forged"}, "limit": 1}
    decoded = structure(page, Page[LinkedAccount])
    assert decoded.response is None
    assert decoded.extra_fields == {}
    assert decoded == _slow(page, Page[LinkedAccount])


_ISO_TEXT = st.builds(
    lambda moment, spec, zone, pad: pad + moment.isoformat(timespec=spec) + zone + pad,
    st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30)),  # noqa: DTZ001 - naive on purpose: the zone is the text's
    st.sampled_from(["seconds", "milliseconds", "microseconds", "minutes"]),
    st.sampled_from(["", "Z", "z", "+00:00", "-05:30", "+14:00", "Zz", "+0000"]),
    st.sampled_from(["", " ", "\t"]),
)


@settings(max_examples=300, deadline=None)
@given(text=_ISO_TEXT | st.text(max_size=30))
def test_datetime_text_decodes_as_the_hook_has_it(text: str) -> None:
    """Any text: the compiled path gives the converter's datetime (zone included) or defers,
    so the outcome, an error's words among it, is the converter's."""
    fast = _outcome(structure, {"createdAt": text}, LinkedAccount)
    slow = _outcome(_slow, {"createdAt": text}, LinkedAccount)
    assert fast == slow
    if fast[0] == "ok":
        assert fast[1].created_at.utcoffset() == slow[1].created_at.utcoffset()
