"""Compiled structure functions: the same models and the same errors as cattrs' own.

Every generated model decodes through a function compiled for it; it must give what the
converter's generated function gives for good data, and defer to it for anything else,
so a decoding error reads exactly as before (model, field path, value type).
"""

from __future__ import annotations

import datetime as dt
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
    converter,
    structure,
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
def test_compiled_function_for_every_model(name: str) -> None:
    """Each generated model gets a compiled function (not cattrs' fallback)."""
    cls = getattr(models, name)
    assert converter.get_structure_hook(cls).__name__ == f"structure_{name}"


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
