"""Identifiers for generated code: snake_case, PascalCase and CONSTANT_CASE from spec names.

Wire names (`_id`, `createdAt`, `include-headers`) never become Python names as they are:
they pass through here. Python keywords get a trailing `_`.
"""

from __future__ import annotations

import keyword
import re

__all__ = ["constant_name", "is_identifier", "member_name", "pascal_name", "snake_name"]

# Words the generic camelCase splitter would break apart ("OAuth" -> "o_auth").
_WHOLE_WORDS = {"OAuth": "Oauth"}
_ACRONYM_RUN = re.compile(r"([A-Z]+)([A-Z][a-z])")
_LOWER_UPPER = re.compile(r"([a-z0-9])([A-Z])")
_NOT_WORD = re.compile(r"[^0-9A-Za-z]+")


def _words(name: str) -> list[str]:
    for word, replacement in _WHOLE_WORDS.items():
        name = name.replace(word, replacement)
    name = _ACRONYM_RUN.sub(r"\1_\2", name)
    name = _LOWER_UPPER.sub(r"\1_\2", name)
    return [part for part in _NOT_WORD.split(name) if part]


def _safe(name: str) -> str:
    if not name:
        return "value"
    if name[0].isdigit():
        name = "n" + name
    return name + "_" if keyword.iskeyword(name) else name


def snake_name(name: str) -> str:
    """`createdAt` -> `created_at`, `_id` -> `id`, `include-headers` -> `include_headers`."""
    return _safe("_".join(word.lower() for word in _words(name)))


def pascal_name(name: str) -> str:
    """`linked accounts` -> `LinkedAccounts`, `MCP Servers` -> `McpServers`."""
    return _safe("".join(word[:1].upper() + word[1:].lower() for word in _words(name)))


def constant_name(name: str) -> str:
    """`getExecutionById` -> `GET_EXECUTION_BY_ID`."""
    return snake_name(name).rstrip("_").upper()


def member_name(value: str) -> str:
    """An enum member name for a wire value: `production` -> `PRODUCTION`, `1` -> `V_1`."""
    words = _words(value)
    name = "_".join(word.upper() for word in words) or "EMPTY"
    return "V_" + name if name[0].isdigit() else name


def is_identifier(name: str) -> bool:
    """Whether `name` can be used as a Python name as it is."""
    return name.isidentifier() and not keyword.iskeyword(name)
