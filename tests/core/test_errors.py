"""The error tree: classes by status, codes, odd bodies, pickling, no secrets."""

from __future__ import annotations

import enum
import json
import pickle
from typing import Any

import attrs
import pytest

import refold_async
from refold_async._auth import Secret
from refold_async._errors import (
    APIConnectionError,
    APIDecodeError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RefoldError,
    ServerError,
    UnprocessableEntityError,
    WebhookSignatureError,
    status_error_class,
)
from refold_async._operation import AuthScope, Operation
from refold_async._payload import decode_body, error_from_response


class SampleKind(str, enum.Enum):
    """A strict enum, so that an unknown value fails to decode."""

    A = "a"


@attrs.frozen(kw_only=True)
class SampleModel:
    """A model whose `name` must be text."""

    name: str = ""
    kind: SampleKind | None = None


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (422, UnprocessableEntityError),
        (429, RateLimitError),
        (500, ServerError),
        (503, ServerError),
        (418, APIStatusError),
    ],
)
def test_status_picks_class(status: int, cls: type[APIStatusError]) -> None:
    """Each meaningful status has its class; others fall back to APIStatusError."""
    assert status_error_class(status) is cls
    assert issubclass(cls, RefoldError)


def _error(
    content: bytes, status: int = 400, headers: dict[str, str] | None = None
) -> APIStatusError:
    return error_from_response(
        status=status,
        headers=headers or {},
        content=content,
        method="GET",
        path="/api/v2/public/webhook",
        attempts=1,
        retry_after=None,
        secrets=["tk_secret_value"],
    )


@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param(
            b'{"status_code":400,"message":"bad slug","error":"E_SLUG"}', "E_SLUG", id="error"
        ),
        pytest.param(
            b'{"status_code":400,"message":"bad slug","error_code":"E_SLUG"}',
            "E_SLUG",
            id="error_code",
        ),
    ],
)
def test_error_and_error_code_both_become_code(body: bytes, code: str) -> None:
    """The body's `error` and `error_code` are read the same way."""
    error = _error(body)
    assert error.code == code
    assert error.message == "bad slug"
    assert "bad slug" in str(error)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            b"<html><body><h1>502 Bad Gateway</h1></body></html>", "502 Bad Gateway", id="html"
        ),
        pytest.param(b"upstream timed out", "upstream timed out", id="text"),
        pytest.param(b"", "empty body", id="empty"),
        pytest.param(b"{not json", "{not json", id="broken-json"),
        pytest.param(b"x" * 5000, "x" * 100, id="long"),
    ],
)
def test_odd_bodies_give_typed_errors(body: bytes, expected: str) -> None:
    """HTML, text and empty bodies give a typed error with a short excerpt."""
    error = _error(body, status=502)
    assert isinstance(error, ServerError)
    assert expected in error.message
    assert len(error.message) <= 200


def test_request_id_is_kept() -> None:
    """A request id header is carried on the error."""
    assert _error(b"{}", headers={"x-request-id": "req-42"}).request_id == "req-42"


def test_secrets_echoed_by_the_server_are_scrubbed() -> None:
    """A server echoing the key does not put it in the error."""
    error = _error(b'{"message":"key tk_secret_value is unknown","error":"E"}', status=401)
    assert "tk_secret_value" not in str(error)
    assert "tk_secret_value" not in repr(error)
    assert "tk_secret_value" not in repr(error.body)


def test_an_echoed_code_is_scrubbed() -> None:
    """A server putting the key in `error` (the code) does not put it on the error."""
    error = _error(b'{"message":"no","error":"tk_secret_value"}', status=401)
    assert error.code == "[redacted]"
    assert "tk_secret_value" not in str(error) + repr(error)


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(_error(b'{"message":"nope","error":"E"}', status=404), id="status"),
        pytest.param(
            RateLimitError(
                "slow down", retry_after=2.5, status=429, method="GET", path="/x", attempts=4
            ),
            id="429",
        ),
        pytest.param(
            APIConnectionError("boom", method="GET", path="/x", attempts=3), id="connection"
        ),
        pytest.param(InvalidArgumentError("bad"), id="usage"),
        pytest.param(WebhookSignatureError("bad signature"), id="webhook"),
    ],
)
def test_errors_survive_pickle(error: RefoldError) -> None:
    """Errors pickle and unpickle with their fields (batch jobs move them between processes)."""
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert copy.__dict__ == error.__dict__
    assert str(copy) == str(error)


def test_errors_read_as_public_module() -> None:
    """Tracebacks name `refold_async.NotFoundError`, not a private module."""
    assert NotFoundError.__module__ == "refold_async"
    assert refold_async.NotFoundError is NotFoundError


def test_value_error_compatibility() -> None:
    """Argument and signature errors are also ValueErrors."""
    assert issubclass(InvalidArgumentError, ValueError)
    assert issubclass(WebhookSignatureError, ValueError)


def test_an_echoed_request_id_is_scrubbed() -> None:
    """A proxy echoing the key in `x-request-id` does not put it on the error."""
    error = _error(b"{}", headers={"x-request-id": "req-tk_secret_value"})
    assert error.request_id == "req-[redacted]"


_DECODE_OP = Operation(
    id="getThing", method="GET", path="/thing", auth=AuthScope.ORG_KEY, returns=SampleModel
)


@pytest.mark.parametrize(
    ("content", "returns"),
    [
        pytest.param(b"<html><p>bad key tk_secret_value</p></html>", Any, id="html-any"),
        pytest.param(b"<html><p>bad key tk_secret_value</p></html>", SampleModel, id="html-model"),
        pytest.param(b'{"name": ["tk_secret_value"]}', SampleModel, id="misfit"),
        pytest.param(b'{"kind": "tk_secret_value"}', SampleModel, id="bad-enum"),
    ],
)
def test_decode_errors_are_scrubbed(content: bytes, returns: Any) -> None:
    """A 2xx body echoing the key leaves it out of the decode error and its pickle."""
    op = attrs.evolve(_DECODE_OP, returns=returns)
    with pytest.raises(APIDecodeError) as info:
        decode_body(
            op,
            status=200,
            content=content,
            path="/thing",
            headers={"x-request-id": "tk_secret_value"},
            secrets=[Secret("tk_secret_value")],
        )
    error = info.value
    shown = [str(error), repr(error), repr(error.__dict__), pickle.dumps(error).decode("latin-1")]
    assert not [text for text in shown if "tk_secret_value" in text]
    assert error.request_id == "[redacted]"
    assert error.__cause__ is None  # the converter's exception keeps the body in its frames
    assert error.problems


def test_a_secret_with_json_escapes_is_scrubbed_from_the_body() -> None:
    """A key holding a quote or backslash is scrubbed from a JSON body, which stays valid."""
    for secret in ('tk_with"quote', "tk_back\\slash"):
        body = json.dumps({"message": "m", "echo": [secret], secret: 1}).encode()
        error = error_from_response(
            status=400,
            headers={},
            content=body,
            method="GET",
            path="/x",
            attempts=1,
            retry_after=None,
            secrets=[secret],
        )
        assert error.body == {"message": "m", "echo": ["[redacted]"], "[redacted]": 1}
