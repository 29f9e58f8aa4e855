"""No SDK frame keeps a secret in a local where an exception passes: refused base URLs.

A base URL with userinfo (`https://user:KEY@host`) is refused, since the SDK authenticates
with `api_key` or `session_token`; the refusal must not leave the URL, which holds a
password, in the locals of the frames it passes (crash reporters render them with
`capture_locals=True`). Hostile mint answers are covered in `test_hostile_mint.py`.
"""

from __future__ import annotations

from typing import Any

import pytest

from refold_async import AsyncRefold, InvalidArgumentError
from refold_sync import Refold
from tests.conftest import SecretGuard, exception_leaks

KEY = "tk_test_userinfo_0123456789"
OTHER = "tk_test_userinfo_other_0123"
URLS = [
    pytest.param(f"https://user:{KEY}@api.refold.invalid", id="password"),
    pytest.param(f"https://{KEY}@api.refold.invalid", id="user-name"),
    pytest.param(f"https://{KEY}:@api.refold.invalid/v2", id="user-name-and-empty-password"),
]


@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize("face", [AsyncRefold, Refold], ids=["async", "sync"])
def test_a_base_url_with_userinfo_is_refused_without_a_trace(
    face: type[Any], url: str, secret_guard: SecretGuard
) -> None:
    """The constructor refuses it, and no SDK frame's locals hold the URL."""
    secret_guard.add(KEY)
    with pytest.raises(InvalidArgumentError, match="user name or password") as info:
        face(api_key=OTHER, base_url=url)
    assert KEY not in str(info.value) + repr(info.value)
    assert not exception_leaks(info.value, {KEY}, tolerate=False)


@pytest.mark.parametrize("face", [AsyncRefold, Refold], ids=["async", "sync"])
def test_a_userinfo_base_url_from_the_environment_leaves_no_trace(
    face: type[Any], monkeypatch: pytest.MonkeyPatch, secret_guard: SecretGuard
) -> None:
    """`REFOLD_BASE_URL` with userinfo: the same refusal, the same clean frames."""
    secret_guard.add(KEY)
    monkeypatch.setenv("REFOLD_BASE_URL", f"https://user:{KEY}@api.refold.invalid")
    with pytest.raises(InvalidArgumentError) as info:
        face(api_key=OTHER)
    assert not exception_leaks(info.value, {KEY}, tolerate=False)


@pytest.mark.parametrize("url", URLS)
def test_with_options_refuses_userinfo_without_a_trace(url: str, secret_guard: SecretGuard) -> None:
    """`with_options(base_url=...)` takes the URL out of its changes before checking it."""
    secret_guard.add(KEY)
    client = AsyncRefold(api_key=OTHER)
    with pytest.raises(InvalidArgumentError) as info:
        client.with_options(base_url=url, timeout=5)
    assert not exception_leaks(info.value, {KEY}, tolerate=False)


def test_a_bad_option_beside_a_userinfo_url_leaves_no_trace(secret_guard: SecretGuard) -> None:
    """Another option failing first: the option checker never held the URL itself."""
    secret_guard.add(KEY)
    with pytest.raises(TypeError) as info:
        AsyncRefold(api_key=OTHER, base_url=f"https://u:{KEY}@x.invalid", timeout="slow")  # type: ignore[arg-type]
    assert not exception_leaks(info.value, {KEY}, tolerate=False)


def test_base_url_type_is_still_checked() -> None:
    """A base URL that is not text is a `TypeError`, as before; `None` means the default."""
    with pytest.raises(TypeError, match="base_url must be a str"):
        AsyncRefold(api_key=OTHER, base_url=5)  # type: ignore[arg-type]
    assert AsyncRefold(api_key=OTHER, base_url=None).base_url == "https://app.refold.ai"
    client = AsyncRefold(api_key=OTHER)
    with pytest.raises(TypeError, match="base_url must be a str"):
        client.with_options(base_url=None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"base_url": f"https://user:{KEY}@api.refold.invalid"}, id="userinfo"),
        pytest.param({"api_key": KEY, "timeout": "slow"}, id="key-beside-a-bad-option"),
        pytest.param({"api_key": KEY + "\n"}, id="refused-key"),
    ],
)
def test_the_sync_with_options_leaves_no_trace(
    changes: dict[str, Any], secret_guard: SecretGuard
) -> None:
    """`Refold.with_options()`: credentials and a refused URL leave its frame (and closure) first."""
    secret_guard.add(KEY)
    with Refold(api_key=OTHER, rate_limit=None) as client:
        with pytest.raises((InvalidArgumentError, TypeError)) as info:
            client.with_options(**changes)
        assert not exception_leaks(info.value, {KEY, KEY + "\n"}, tolerate=False)
        derived = client.with_options(api_key=KEY, timeout=5)
        assert derived.environment == "test"
        assert "Secret(fingerprint=" in repr(derived)
