"""Identifiers made from spec names: snake_case, PascalCase, constants, enum members."""

from __future__ import annotations

import pytest

from codegen.naming import constant_name, is_identifier, member_name, pascal_name, snake_name


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        pytest.param("_id", "id", id="leading-underscore"),
        pytest.param("createdAt", "created_at", id="camel"),
        pytest.param(
            "successfullyDeletedTriggers", "successfully_deleted_triggers", id="long-camel"
        ),
        pytest.param("include-headers", "include_headers", id="dash"),
        pytest.param("linked_account_id", "linked_account_id", id="already-snake"),
        pytest.param("MCPCrud", "mcp_crud", id="acronym-run"),
        pytest.param("getOAuthUrl", "get_oauth_url", id="oauth-word"),
        pytest.param("from", "from_", id="keyword"),
        pytest.param("2fa", "n2fa", id="leading-digit"),
        pytest.param("", "value", id="empty"),
    ],
)
def test_snake_name(wire: str, expected: str) -> None:
    """Wire names become snake_case identifiers; keywords get a trailing underscore."""
    assert snake_name(wire) == expected
    assert is_identifier(expected)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("Linked Accounts", "LinkedAccounts", id="spaces"),
        pytest.param("MCP Servers", "McpServers", id="acronym"),
        pytest.param("var_format", "VarFormat", id="snake"),
        pytest.param("webhook_type", "WebhookType", id="snake-2"),
    ],
)
def test_pascal_name(name: str, expected: str) -> None:
    """Tags and property names become PascalCase class names."""
    assert pascal_name(name) == expected


def test_constant_name() -> None:
    """Operation ids become module constants."""
    assert constant_name("getExecutionById") == "GET_EXECUTION_BY_ID"
    assert constant_name("getOAuthUrlForLinkedAccount") == "GET_OAUTH_URL_FOR_LINKED_ACCOUNT"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("production", "PRODUCTION", id="lower"),
        pytest.param("API_CALL", "API_CALL", id="upper"),
        pytest.param("Event", "EVENT", id="capitalised"),
        pytest.param("linked_account", "LINKED_ACCOUNT", id="snake"),
        pytest.param("1", "V_1", id="digit"),
    ],
)
def test_member_name(value: str, expected: str) -> None:
    """Enum values become UPPER_CASE member names that are valid identifiers."""
    assert member_name(value) == expected
    assert is_identifier(expected)


def test_is_identifier_refuses_keywords_and_wire_names() -> None:
    """Keywords and dashed wire names are not usable as they are."""
    assert not is_identifier("class")
    assert not is_identifier("include-headers")
    assert is_identifier("type")
