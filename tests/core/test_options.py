"""Client options are checked when a client is made or derived, naming the bad option."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx

from refold_async import AsyncRefold, InvalidArgumentError, RateLimit, RetryPolicy
from refold_sync import Refold
from tests.core import ops
from tests.helpers import API_KEY, BASE_URL, mock_client

BAD_TYPES = [
    pytest.param({"retry": 3}, "retry", id="retry-int"),
    pytest.param({"rate_limit": 20}, "rate_limit", id="rate-limit-int"),
    pytest.param({"timeout": "abc"}, "timeout", id="timeout-text"),
    pytest.param({"timeout": True}, "timeout", id="timeout-bool"),
    pytest.param({"rate_limiter": object()}, "rate_limiter", id="rate-limiter-object"),
    pytest.param({"http_client": object()}, "http_client", id="http-client-object"),
    pytest.param({"http_client": httpx.Client()}, "http_client", id="http-client-sync"),
    pytest.param({"default_headers": ["x"]}, "default_headers", id="headers-list"),
    pytest.param({"default_headers": {"x-a": 1}}, "default_headers", id="header-value-int"),
    pytest.param({"default_headers": {1: "a"}}, "default_headers", id="header-name-int"),
    pytest.param({"expect_environment": 1}, "expect_environment", id="environment-int"),
    pytest.param({"linked_account_id": 5}, "linked_account_id", id="linked-account-int"),
    pytest.param({"base_url": 5}, "base_url", id="base-url-int"),
    pytest.param({"session_token": 5}, "session_token", id="session-token-int"),
]
BAD_VALUES = [
    pytest.param({"timeout": -1}, "timeout", id="timeout-negative"),
    pytest.param({"timeout": 0}, "timeout", id="timeout-zero"),
    pytest.param({"timeout": float("nan")}, "timeout", id="timeout-nan"),
    pytest.param({"timeout": float("inf")}, "timeout", id="timeout-inf"),
    pytest.param({"expect_environment": "prod"}, "expect_environment", id="environment-unknown"),
    pytest.param({"default_headers": {"X-Api-Key": "k"}}, "default_headers", id="header-key"),
    pytest.param({"default_headers": {"Authorization": "b"}}, "default_headers", id="header-auth"),
    pytest.param(
        {"default_headers": {"Linked_Account_Id": "a"}}, "linked_account_id", id="header-account"
    ),
    pytest.param({"default_headers": {"x a": "b"}}, "default_headers", id="header-name-space"),
    pytest.param({"default_headers": {"x\r\ny": "b"}}, "default_headers", id="header-name-crlf"),
]
BAD_BASE_URLS = [
    pytest.param("https://app.refold.ai?debug=1", "query", id="query"),
    pytest.param("https://app.refold.ai/?", "query", id="empty-query"),
    pytest.param("https://app.refold.ai#frag", "fragment", id="fragment"),
    pytest.param("http://admin:pw@localhost", "user name or password", id="userinfo"),
    pytest.param("https://admin@app.refold.ai", "user name or password", id="user"),
]


@pytest.mark.parametrize(("options", "name"), BAD_TYPES)
def test_wrong_option_types_raise_type_error(options: dict[str, Any], name: str) -> None:
    """An option of the wrong type is a TypeError naming it, at construction."""
    with pytest.raises(TypeError, match=name):
        AsyncRefold(api_key=API_KEY, base_url=BASE_URL, **options)


@pytest.mark.parametrize(("options", "name"), BAD_VALUES)
def test_impossible_option_values_raise_value_error(options: dict[str, Any], name: str) -> None:
    """An option whose value cannot work is an InvalidArgumentError (a ValueError) naming it."""
    with pytest.raises(InvalidArgumentError, match=name) as info:
        AsyncRefold(api_key=API_KEY, base_url=BASE_URL, **options)
    assert isinstance(info.value, ValueError)


def test_api_key_of_the_wrong_type_is_named_but_not_shown() -> None:
    """A key that is not text is a TypeError that names `api_key` and hides the value."""
    with pytest.raises(TypeError, match="api_key") as info:
        AsyncRefold(api_key=b"pk_live_secret_bytes", base_url=BASE_URL)  # type: ignore[arg-type]
    assert "secret" not in str(info.value)


def test_checks_keep_no_credential_in_their_frames() -> None:
    """When an option is refused, no frame of the option checks holds the API key."""
    key = "pk_live_frame_local_secret_0123"
    with pytest.raises(TypeError) as info:
        AsyncRefold(api_key=key, base_url=BASE_URL, timeout="soon")  # type: ignore[arg-type]
    tb = info.tb
    frames = []
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    ours = [f for f in frames if f.f_code.co_filename.endswith("refold_async/_options.py")]
    assert ours
    for frame in ours:
        assert key not in repr(frame.f_locals)


@pytest.mark.parametrize(("base_url", "what"), BAD_BASE_URLS)
def test_base_url_with_query_fragment_or_userinfo_is_refused(base_url: str, what: str) -> None:
    """The API path would land in the query or fragment; userinfo would become Basic auth."""
    with pytest.raises(InvalidArgumentError, match=what) as info:
        AsyncRefold(api_key=API_KEY, base_url=base_url)
    assert "pw" not in str(info.value)
    assert "debug" not in str(info.value)


def test_base_url_from_the_environment_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    """`REFOLD_BASE_URL` gets the same checks as the option."""
    monkeypatch.setenv("REFOLD_BASE_URL", "https://user:pw@app.refold.ai")
    with pytest.raises(InvalidArgumentError, match="user name or password"):
        AsyncRefold(api_key=API_KEY)


def test_base_url_with_a_path_prefix_is_kept() -> None:
    """A path prefix (a proxy's mount point) is fine: paths are appended to it."""
    client = AsyncRefold(api_key=API_KEY, base_url="https://proxy.example.invalid/refold/")
    assert client.base_url == "https://proxy.example.invalid/refold"


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"timeout": None}, id="no-timeout"),
        pytest.param({"timeout": 5}, id="int-timeout"),
        pytest.param({"timeout": 0.25}, id="float-timeout"),
        pytest.param({"rate_limit": None}, id="no-limit"),
        pytest.param({"rate_limit": RateLimit(per_second=50, burst=10)}, id="limit"),
        pytest.param({"retry": None}, id="default-retry"),
        pytest.param({"retry": RetryPolicy(max_attempts=1)}, id="retry"),
        pytest.param({"expect_environment": "test"}, id="environment"),
        pytest.param({"default_headers": {"X-App": "demo"}}, id="headers"),
        pytest.param({"http_client": httpx.AsyncClient()}, id="http-client"),
    ],
)
def test_valid_options_are_accepted(options: dict[str, Any]) -> None:
    """Every documented form of each option still works."""
    AsyncRefold(api_key=API_KEY, base_url=BASE_URL, **options)


@pytest.mark.parametrize(
    ("changes", "error", "name"),
    [
        pytest.param({"retry": None}, TypeError, "retry", id="retry-none"),
        pytest.param({"retry": 3}, TypeError, "retry", id="retry-int"),
        pytest.param({"base_url": None}, TypeError, "base_url", id="base-url-none"),
        pytest.param({"default_headers": None}, TypeError, "default_headers", id="headers-none"),
        pytest.param({"timeout": -1}, InvalidArgumentError, "timeout", id="timeout-negative"),
        pytest.param({"rate_limit": 20}, TypeError, "rate_limit", id="rate-limit-int"),
        pytest.param(
            {"base_url": "https://app.refold.ai#x"}, InvalidArgumentError, "fragment", id="url"
        ),
    ],
)
def test_with_options_checks_its_changes(
    changes: dict[str, Any], error: type[Exception], name: str
) -> None:
    """`with_options()` checks each change like the constructor (None is no default there)."""
    client = AsyncRefold(api_key=API_KEY, base_url=BASE_URL)
    with pytest.raises(error, match=name):
        client.with_options(**changes)


def test_with_options_accepts_valid_changes() -> None:
    """A timeout of None, a new policy and no rate limit are fine to derive."""
    client = AsyncRefold(api_key=API_KEY, base_url=BASE_URL)
    derived = client.with_options(timeout=None, retry=RetryPolicy(max_attempts=2), rate_limit=None)
    assert derived.base_url == BASE_URL


@pytest.mark.parametrize(
    ("make", "error", "name"),
    [
        pytest.param(lambda: Refold(api_key=API_KEY, retry=3), TypeError, "retry", id="retry"),
        pytest.param(
            lambda: Refold(api_key=API_KEY, timeout=-1), InvalidArgumentError, "timeout", id="t"
        ),
        pytest.param(
            lambda: Refold(api_key=API_KEY, base_url="https://a.invalid?x=1"),
            InvalidArgumentError,
            "query",
            id="url",
        ),
        pytest.param(
            lambda: Refold(api_key=API_KEY).with_options(rate_limit=20),
            TypeError,
            "rate_limit",
            id="with-options",
        ),
    ],
)
def test_the_sync_client_checks_the_same_options(
    make: Callable[[], object], error: type[Exception], name: str
) -> None:
    """`Refold` refuses the same options, with the same exception types."""
    with pytest.raises(error, match=name):
        make()


async def test_default_headers_are_replaced_by_call_headers_of_any_case(
    router: respx.Router,
) -> None:
    """A call's `extra_headers` replace a default header spelled in another case."""
    router.route().mock(return_value=httpx.Response(200, json={}))
    client = mock_client(router, default_headers={"X-Trace": "default"})
    await client._transport.send(ops.ORG, options={"extra_headers": {"x-TRACE": "call"}})
    assert router.calls.last.request.headers.get_list("x-trace") == ["call"]


@pytest.mark.parametrize(
    ("value", "error"),
    [
        pytest.param(0, InvalidArgumentError, id="zero"),
        pytest.param(-0.5, InvalidArgumentError, id="negative"),
        pytest.param("1s", TypeError, id="text"),
        pytest.param(None, None, id="none"),
        pytest.param(2.5, None, id="seconds"),
    ],
)
def test_max_queue_wait_is_positive_seconds_or_none(
    value: object, error: type[Exception] | None
) -> None:
    """The queue bound (docs/architecture.md §4) is checked like `timeout`, wherever a client passes it."""
    from refold_async._options import check_client_options

    if error is None:
        check_client_options({"max_queue_wait": value})
    else:
        with pytest.raises(error, match="max_queue_wait"):
            check_client_options({"max_queue_wait": value})
