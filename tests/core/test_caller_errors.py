"""What a caller sees of a mistake: unknown keywords are `TypeError`s with a did-you-mean,
and errors carrying an HTTP status name it `status_code` (and `status`)."""

from __future__ import annotations

import pickle
import traceback
from collections.abc import Callable
from typing import Any

import pytest

import refold_sync
from refold_async import (
    APIDecodeError,
    APIRedirectError,
    APIResponseTooLargeError,
    AsyncRefold,
    InvalidArgumentError,
    NotFoundError,
    UnknownArgumentError,
)
from refold_async.testing import Emulator
from refold_sync import Refold
from refold_sync.testing import sync_client

KEY = "tk_test_caller_errors_0123"


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: AsyncRefold(api_key=KEY, tiemout=3), id="AsyncRefold"),
        pytest.param(lambda: Refold(api_key=KEY, tiemout=3), id="Refold"),
        pytest.param(lambda: AsyncRefold(api_key=KEY).with_options(tiemout=3), id="with_options"),
    ],
)
def test_a_misspelled_constructor_keyword_is_a_type_error_with_a_hint(
    make: Callable[[], object],
) -> None:
    """Constructors and `with_options()` raise a `TypeError` naming the near keyword."""
    with pytest.raises(TypeError, match=r"'tiemout'; did you mean 'timeout'\?") as info:
        make()
    assert isinstance(info.value, UnknownArgumentError)
    assert isinstance(info.value, InvalidArgumentError)  # what 0.1 raised for methods
    rendered = "".join(
        traceback.TracebackException.from_exception(info.value, capture_locals=True).format()
    )
    assert KEY not in rendered  # the refused constructor's frame keeps no credential


async def test_a_misspelled_method_keyword_is_a_type_error_on_both_faces() -> None:
    """A generated method refuses an unknown keyword with a `TypeError` and a hint."""
    emulator = Emulator(rate_limit=None)
    async with emulator.client() as client:
        with pytest.raises(TypeError, match="did you mean 'linked_account_id'") as info:
            await client.linked_accounts.upsert(linked_acount_id="acme", name="Acme")  # type: ignore[call-arg]
    assert isinstance(info.value, UnknownArgumentError)
    assert emulator.stats.requests == 0  # refused before sending


def test_a_misspelled_sync_method_keyword_is_a_type_error() -> None:
    """The blocking face raises the same error."""
    emulator = Emulator(rate_limit=None)
    refused = pytest.raises(refold_sync.UnknownArgumentError, match="did you mean 'name'")
    with sync_client(emulator, rate_limit=None) as client, refused:
        client.linked_accounts.upsert(linked_account_id="acme", nmae="Acme")  # type: ignore[call-arg]
    assert emulator.stats.requests == 0


def test_keywords_a_constructor_takes_still_work() -> None:
    """The check lets every declared keyword through, and positional misuse stays a TypeError."""
    client = AsyncRefold(api_key=KEY, timeout=5.0, max_queue_wait=1.0)
    assert client.base_url
    with pytest.raises(TypeError):
        AsyncRefold(KEY)  # type: ignore[misc]


ERRORS: list[Any] = [
    NotFoundError("gone", status=404),
    APIDecodeError("bad", problems=[], status=200, method="GET", path="/x"),
    APIRedirectError("moved", method="GET", path="/x", status=302, location="https://b"),
    APIResponseTooLargeError("big", method="GET", path="/x", status=200, limit=1),
]


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: type(e).__name__)
def test_errors_carry_status_code_and_keep_status(error: Any) -> None:
    """`status_code` is the HTTP status; `status` stays as its alias, through a pickle too."""
    assert error.status_code == error.status
    assert isinstance(error.status_code, int)
    assert pickle.loads(pickle.dumps(error)).status_code == error.status


async def test_a_404_from_the_emulator_has_status_code() -> None:
    """A real error from a call has `status_code` 404."""
    async with Emulator(rate_limit=None).client() as client:
        with pytest.raises(NotFoundError) as info:
            await client.webhooks.retrieve("wh_missing")
    assert info.value.status_code == 404


async def test_request_and_batch_refuse_a_misspelled_keyword_with_a_hint() -> None:
    """The hand-written methods (`request()`, `batch()`) raise the same `TypeError` with a hint."""
    emulator = Emulator(rate_limit=None)

    async def nothing(client: AsyncRefold, item: str) -> None:
        return None

    async with emulator.client() as client:
        with pytest.raises(UnknownArgumentError, match="did you mean 'timeout'"):
            await client.request("GET", "/api/v2/public/webhook", tiemout=1)  # type: ignore[call-overload]
        with pytest.raises(UnknownArgumentError, match="did you mean 'journal'"):
            await client.batch(["a"], nothing, jurnal="x.jsonl")  # type: ignore[call-arg]
    refused = pytest.raises(TypeError, match="did you mean 'timeout'")
    with sync_client(emulator, rate_limit=None) as blocking, refused:
        blocking.request("GET", "/api/v2/public/webhook", tiemout=1)  # type: ignore[call-overload]
    assert emulator.stats.requests == 0
