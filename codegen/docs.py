"""Method docstrings: the summary from overrides.toml, the route, the auth, `Args:`,
`Returns:` and `Raises:`.

Each argument is described by what the generator knows for a fact (where it travels,
whether it is required, its enum values, bounds, pattern, format, the server's default),
after the project's own words where overrides.toml has some (`[arg_docs]` for a
parameter shared by many operations, `[args.<operationId>]` for one operation's). The
spec's prose never enters: every sentence here is built from facts.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Mapping

from .ir import Param, ValueCheck

__all__ = [
    "FILES_DOC",
    "OPTIONS_DOC",
    "args_section",
    "describe",
    "raises_section",
    "returns_section",
]

# Docstrings sit 8 spaces deep in a method; an `Args:` entry 4 more, its wrapped lines 8.
_WIDTH = 100 - 8
OPTIONS_DOC = (
    "Per-call options (`CallOptions`): `extra_headers`, `extra_query`, `extra_body`, "
    "`timeout`, `max_queue_wait`, `max_response_bytes`."
)
FILES_DOC = (
    "Files to upload, by form field name: each a `pathlib.Path`, bytes, a file object opened "
    "in binary mode, or a `(filename, content)` or `(filename, content, content_type)` tuple. "
    "Given, the request goes as `multipart/form-data`: the other body fields become form "
    "fields (text as it is, anything else as JSON text), and paths and file objects are "
    "streamed, never read whole into memory. Left out, the body is JSON. A file object "
    "that cannot seek is sent once only: such a call is not retried."
)
_KIND_WORDS = {
    "datetime": "An aware `datetime`, sent as ISO 8601 text.",
}
_FORMAT_WORDS = {
    "uri": "An absolute URI (a scheme, and a host for http and https).",
    "email": "An email address.",
    "uuid": "A UUID.",
}


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _quoted(values: Iterable[str]) -> str:
    items = [f'`"{v}"`' for v in values]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def _where(param: Param) -> str:
    if param.is_whole_body:
        return "Sent as the whole JSON request body."
    if param.location == "path":
        return f"Fills `{{{param.wire_name}}}` in the path."
    if param.location == "query":
        return f"Sent as the `{param.wire_name}` query parameter."
    if param.location == "header":
        return f"Sent in the `{param.wire_name}` header."
    return f"Sent as the body's `{param.wire_name}` field."


_SHAPE_WORDS = {
    "str": "text",
    "int": "a whole number",
    "float": "a number",
    "bool": "a boolean",
    "datetime": "a datetime",
    "enum": "one of its values",
    "object": "one object",
    "list": "a list",
}


def _shape(check: ValueCheck) -> str:
    words = _SHAPE_WORDS.get(check.kind, "any value")
    if check.kind == "list" and check.items == "object":
        return "a list of objects"
    return words


def _check_facts(check: ValueCheck) -> list[str]:
    facts: list[str] = []
    if check.variants:
        shapes = [_shape(v) for v in check.variants]
        facts.append(f"Either {', or '.join(shapes)}.")
    if check.kind in _KIND_WORDS:
        facts.append(_KIND_WORDS[check.kind])
    if check.choices:
        each = "Each item is one of" if check.kind == "list" else "One of"
        facts.append(f"{each} {_quoted(check.choices)}.")
    if check.minimum is not None:
        facts.append(f"At least {_number(check.minimum)}.")
    if check.maximum is not None:
        facts.append(f"At most {_number(check.maximum)}.")
    if check.min_items is not None:
        facts.append(f"At least {check.min_items} item(s).")
    if check.max_items is not None:
        facts.append(f"At most {check.max_items} item(s).")
    if check.min_length is not None:
        facts.append(f"At least {check.min_length} character(s).")
    if check.max_length is not None:
        facts.append(f"At most {check.max_length} character(s).")
    if check.pattern is not None:
        facts.append(f"Must match `{check.pattern}`.")
    if check.format in _FORMAT_WORDS:
        each = "Each item is" if check.kind == "list" else "Must be"
        facts.append(
            f"{each} {_FORMAT_WORDS[check.format][0].lower()}{_FORMAT_WORDS[check.format][1:]}"
        )
    return facts


def describe(param: Param, hand: str | None) -> str:
    """One argument's description: our words (if any), then the facts."""
    parts: list[str] = []
    if hand:
        parts.append(hand.strip())
    parts.append(_where(param))
    if param.required and param.location not in ("path",):
        parts.append("Required.")
    if param.type.text == "bool" and param.check.kind == "bool":
        parts.append('Sent as `"true"` or `"false"`.' if param.location != "body" else "")
    parts.extend(_check_facts(param.check))
    if param.default is not None:
        value = param.default
        shown = f'"{value}"' if isinstance(value, str) else str(value).lower()
        if isinstance(value, int | float) and not isinstance(value, bool):
            shown = _number(value)
        parts.append(f"The server's default is `{shown}`.")
    return " ".join(p for p in parts if p)


def _entry(name: str, text: str) -> str:
    return "\n".join(
        textwrap.wrap(
            text,
            width=_WIDTH,
            initial_indent=f"    {name}: ",
            subsequent_indent="        ",
            break_long_words=False,
            break_on_hyphens=False,
        )
    )


def args_section(
    params: Iterable[Param], hand: Mapping[str, str], *, files: str | None = None
) -> str:
    """The `Args:` block of a method: its arguments in signature order, then `files` (for
    operations that take uploads, with our words `files` first) and `**options`."""
    lines = ["Args:"]
    lines += [_entry(p.name, describe(p, hand.get(p.name))) for p in params]
    if files is not None:
        lines.append(_entry("files", f"{files} {FILES_DOC}".strip()))
    lines.append(_entry("**options", OPTIONS_DOC))
    return "\n".join(lines)


def returns_section(returns: str, item: str | None) -> str | None:
    """The `Returns:` block for a method answering `returns` (`None`: no block).

    `item`: a paginated method's item type; its method answers a paginator (async or
    blocking, by face), which these words fit alike.
    """
    if item is not None:
        text = (
            f"A paginator of `{item}`: its first page (a `Page[{item}]`, with the list's "
            "totals) on its own, or every item of every page when iterated, each page "
            "fetched when reached."
        )
    elif returns == "None":
        return None
    elif returns == "Any":
        text = "The answer's JSON as Python values (dicts, lists, text, numbers)."
    elif returns.startswith("list[") and returns.endswith("]"):
        text = f"The answer's `{returns[5:-1]}` items, as a list."
    else:
        text = f"The answer, as a `{returns}`."
    return "Returns:\n" + "\n".join(
        textwrap.wrap(text, width=_WIDTH, initial_indent="    ", subsequent_indent="    ")
    )


def raises_section(
    *, not_found: bool, needs_credential: bool, needs_linked_account: bool, decodes: bool
) -> str:
    """The `Raises:` block: the errors every call may raise, and the ones this call may.

    Args:
        not_found: A 404 is likely (the path names a resource, or the spec lists one).
        needs_credential: The operation takes a credential (its auth is not "none").
        needs_linked_account: With the API key, the call must name a linked account.
        decodes: The answer is decoded into a model (a body may not fit it).
    """
    entries = [
        (
            "InvalidArgumentError",
            "An argument does not fit the operation; nothing was sent.",
        ),
    ]
    if needs_credential:
        entries.append(
            (
                "MissingCredentialError",
                "The client has no credential this operation accepts; nothing was sent.",
            )
        )
    if needs_linked_account:
        entries.append(
            (
                "MissingLinkedAccountError",
                "With the API key, no linked account was named (neither "
                "`linked_account_id=` nor `for_linked_account()`); nothing was sent.",
            )
        )
    if not_found:
        entries.append(("NotFoundError", "No such resource (HTTP 404)."))
    entries += [
        (
            "RateLimitError",
            "Still limited when the retries or the deadline ran out (HTTP 429), or the "
            "rate-limit queue was longer than `max_queue_wait`.",
        ),
        (
            "APIStatusError",
            "Any other error answer; its subclass names the status "
            "(`AuthenticationError`, `ServerError`, ...).",
        ),
    ]
    if decodes:
        entries.append(("APIDecodeError", "A success answer whose body does not fit the model."))
    entries.append(
        (
            "APIConnectionError",
            "No usable answer after the retries (`APITimeoutError` for timeouts).",
        )
    )
    return "Raises:\n" + "\n".join(_entry(name, text) for name, text in entries)
