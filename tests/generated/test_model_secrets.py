"""Fields that may carry a credential stay out of every model's repr() (overrides.toml [secrets])."""

from __future__ import annotations

import re
from typing import Any

import attrs
import pytest

from codegen.cli import OVERRIDES
from codegen.normalize import load_overrides
from refold_async import models
from refold_async._convert import structure
from refold_async.models import IntegrationBase, LinkedAccount, SessionTokenResponse

SECRET = "sk-REPR-CANARY-8c1f"
SECRET_FIELDS = load_overrides(OVERRIDES).secret_fields
# Names that look like a credential's but hold none: flags, kinds, addresses, column names.
NOT_SECRET = frozenset(
    {"auth_type", "auth_url", "headers", "is_api_token", "refresh_token_expired"}
)
_LOOKS_SECRET = re.compile(
    r"(^|_)(tokens?|secret|password|passwd|credentials?|api_?key|auth|headers)(_|$)"
)


def _model_classes() -> list[type[Any]]:
    found = [getattr(models, name) for name in models.__all__]
    return [cls for cls in found if attrs.has(cls)]


def _secret_value(field: attrs.Attribute[Any]) -> object:
    """A value of roughly the field's shape with the canary inside."""
    annotation = str(field.type)
    if annotation.startswith("dict"):
        return {"Authorization": f"Bearer {SECRET}"}
    if annotation.startswith("list"):
        return [SECRET]
    return SECRET


def _with_secrets(cls: type[Any]) -> tuple[Any, list[str]]:
    """An instance with the canary in every secret field and `None` elsewhere."""
    values: dict[str, object] = {}
    secret: list[str] = []
    for field in attrs.fields(cls):
        if field.name == "extra_fields":
            continue
        if field.name in SECRET_FIELDS:
            values[field.name] = _secret_value(field)
            secret.append(field.name)
        else:
            values[field.name] = None
    return cls(**values), secret


MODEL_CASES = [pytest.param(cls, id=cls.__name__) for cls in _model_classes()]


@pytest.mark.parametrize("cls", MODEL_CASES)
def test_secret_fields_are_absent_from_repr(cls: type[Any]) -> None:
    """No model shows a secret field's value in repr(), though the value is still there."""
    instance, secret = _with_secrets(cls)
    assert SECRET not in repr(instance)
    for name in secret:
        assert getattr(instance, name) == _secret_value(attrs.fields_dict(cls)[name])
        assert f" {name}=" not in repr(instance)
        assert f"({name}=" not in repr(instance)


def test_the_rule_covers_the_models_that_hold_credentials() -> None:
    """The secret list is not vacuous: the known credential fields are hidden."""
    hidden = {
        (cls.__name__, f.name) for cls in _model_classes() for f in attrs.fields(cls) if not f.repr
    }
    assert {
        ("SessionTokenResponse", "token"),
        ("SessionTokenResponse", "refresh_token"),
        ("IntegrationBase", "credentials"),
        ("IntegrationBase", "auth_tokens"),
        ("MigrateTokenRequest", "auth_object"),
        ("Webhook", "webhook_headers"),
        ("CreateLinkedAccountRequest", "your_app"),
    } <= hidden


@pytest.mark.parametrize("cls", MODEL_CASES)
def test_every_credential_like_field_is_decided(cls: type[Any]) -> None:
    """A field whose name suggests a credential is either hidden or known to hold none.

    Fails when the spec grows such a field: add it to overrides.toml [secrets] or here.
    """
    for field in attrs.fields(cls):
        if _LOOKS_SECRET.search(field.name) and field.name not in NOT_SECRET:
            assert field.name in SECRET_FIELDS, f"{cls.__name__}.{field.name}"
            assert not field.repr, f"{cls.__name__}.{field.name}"


def test_session_token_response_repr_hides_both_tokens() -> None:
    """A decoded session token answer shows its lifetimes but not the tokens."""
    answer = structure(
        {"token": SECRET, "refresh_token": SECRET + "-refresh", "expires_in": 900},
        SessionTokenResponse,
    )
    text = repr(answer)
    assert SECRET not in text
    assert "token=" not in text.replace("is_api_token=", "")
    assert "expires_in=900" in text
    assert answer.token == SECRET


def test_linked_account_repr_hides_its_integrations_credentials() -> None:
    """Third-party credentials and tokens of a linked account's integrations stay hidden."""
    account = structure(
        {
            "_id": "la_1",
            "integrations": [
                {
                    "app_id": "app_1",
                    "credentials": {"client_secret": SECRET},
                    "authTokens": {"access_token": SECRET},
                }
            ],
        },
        LinkedAccount,
    )
    text = repr(account)
    assert SECRET not in text
    assert "app_id='app_1'" in text
    assert account.integrations is not None
    integration = account.integrations[0]
    assert isinstance(integration, IntegrationBase)
    assert integration.credentials == {"client_secret": SECRET}
    assert integration.auth_tokens == {"access_token": SECRET}
