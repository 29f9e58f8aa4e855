"""Method docstrings (`Args:` for every argument) and the generated api.md reference."""

from __future__ import annotations

import importlib
import inspect
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from codegen.cli import ROOT, main
from codegen.docs import describe
from codegen.ir import Param, TypeExpr, ValueCheck
from refold_async.operations import OPERATIONS

_ENTRY = re.compile(r"^    (\*\*options|\w+): ", re.MULTILINE)


def _method(face: str, resource: str, name: str) -> Any:
    module = importlib.import_module(f"{face}.resources.{resource}")
    return getattr(getattr(module, module.__all__[0]), name)


def _args(doc: str) -> dict[str, str]:
    """The `Args:` entries of a Google-style docstring: name -> text (joined lines)."""
    assert "\nArgs:\n" in doc, doc
    block = doc.split("\nArgs:\n", 1)[1]
    block = re.split(r"\n\S", block, maxsplit=1)[0]  # up to the next section, if any
    names = _ENTRY.findall(block)
    texts = _ENTRY.split(block)[2::2]
    return {n: " ".join(t.split()) for n, t in zip(names, texts, strict=True)}


FACES = [
    pytest.param("refold_async", id="async"),
    pytest.param("refold_sync", id="sync"),
]


@pytest.mark.parametrize("face", FACES)
def test_every_method_documents_every_argument(face: str) -> None:
    """Each generated method's `Args:` names its arguments in signature order, then `**options`."""
    for op in OPERATIONS.values():
        method = _method(face, op.resource, op.name)
        entries = _args(inspect.getdoc(method) or "")
        expected = [n for n in inspect.signature(method).parameters if n not in ("self", "options")]
        assert list(entries) == [*expected, "**options"], op.id
        assert all(len(text) > 10 for text in entries.values()), op.id


def test_both_faces_share_each_docstring() -> None:
    """The sync twin's docstring is the async method's, word for word."""
    for op in OPERATIONS.values():
        async_doc = inspect.getdoc(_method("refold_async", op.resource, op.name))
        sync_doc = inspect.getdoc(_method("refold_sync", op.resource, op.name))
        assert async_doc == sync_doc, op.id


def _doc_of(resource: str, name: str) -> dict[str, str]:
    return _args(inspect.getdoc(_method("refold_async", resource, name)) or "")


def test_hand_written_words_explain_confusing_arguments() -> None:
    """overrides.toml's words reach the docstrings where an argument needs explaining."""
    trigger = _doc_of("events", "trigger")
    assert "not both" in trigger["event"]
    assert "`event`" in trigger["trigger"]
    upsert = _doc_of("linked_accounts", "upsert")
    assert "it wins" in upsert["payload"]
    assert "ignored when `payload`" in upsert["name"]
    delete = _doc_of("linked_accounts", "delete_integration")
    assert "whose integration goes" in delete["query_linked_account_id"]
    assert "acts for" in delete["linked_account_id"]
    assert "same account as `query_linked_account_id`" in delete["linked_account_id"]


def test_facts_fill_in_the_rest() -> None:
    """Location, requirement, enum values, bounds and the server's default come from the spec."""
    listing = _doc_of("linked_accounts", "list")
    assert "`limit` query parameter" in listing["limit"]
    assert "At least 1." in listing["limit"]
    assert "The server's default is `10`." in listing["limit"]
    webhook = _doc_of("webhooks", "create")
    assert "Required." in webhook["webhook_url"]
    assert "Must match `^https?://`." in webhook["webhook_url"]
    assert '`"POST"`, `"PUT"` or `"PATCH"`' in webhook["method"]
    assert 'The server\'s default is `"POST"`.' in webhook["method"]
    assert "At least 1 item(s)." in webhook["webhook_events"]
    execution = _doc_of("executions", "retrieve")
    assert "Fills `{execution_id}` in the path." in execution["execution_id"]


def test_describe_puts_our_words_before_the_facts() -> None:
    """`describe()` starts with the hand-written words and adds each fact once."""
    param = Param(
        "limit",
        "limit",
        "query",
        False,
        TypeExpr("int"),
        True,
        ValueCheck(kind="int", minimum=1, maximum=100),
        default=10,
    )
    text = describe(param, "How many.")
    assert text.startswith("How many. Sent as the `limit` query parameter.")
    assert text.endswith("At least 1. At most 100. The server's default is `10`.")


def test_api_md_lists_every_operation_on_both_faces() -> None:
    """api.md names each method awaited and blocking, with its route, auth scope and return."""
    text = (ROOT / "api.md").read_text(encoding="utf-8")
    rows = {line for line in text.splitlines() if line.startswith("| `")}
    assert len(rows) == len(OPERATIONS)
    for op in OPERATIONS.values():
        call = f"client.{op.resource}.{op.name}("
        row = next(r for r in rows if f"`{op.method} {op.path}`" in r and call in r)
        if op.paginated:
            assert f"`async for x in {call}" in row
            assert f"<br>`for x in {call}" in row
        else:
            assert f"`await {call}" in row
            assert f"<br>`{call}" in row
        assert f"`{op.auth.name}`" in row, op.id
    assert "| `await client.executions.retrieve(execution_id, ...)`" in text
    assert "| `Execution` |" in text


def test_check_fails_when_api_md_is_stale(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An edited or missing api.md is drift, as for generated code."""
    tree = tmp_path / "tree"
    assert main(["generate", "--out", str(tree)]) == 0
    assert main(["generate", "--check", "--out", str(tree)]) == 0
    capsys.readouterr()
    reference = tree / "api.md"
    reference.write_text(
        reference.read_text().replace("client.events.trigger(", "client.events.fire(")
    )
    assert main(["generate", "--check", "--out", str(tree)]) == 1
    assert "--- a/api.md" in capsys.readouterr().out
    reference.unlink()
    assert main(["generate", "--check", "--out", str(tree)]) == 1
    shutil.rmtree(tree)


def test_options_entry_names_every_call_option() -> None:
    """The `**options` entry lists each `CallOptions` key, so it cannot fall behind."""
    from codegen.docs import OPTIONS_DOC
    from refold_async._types import CallOptions

    for key in CallOptions.__annotations__:
        assert f"`{key}`" in OPTIONS_DOC, key


def _section(doc: str, title: str) -> str | None:
    if f"\n{title}:\n" not in doc:
        return None
    return re.split(r"\n\S", doc.split(f"\n{title}:\n", 1)[1], maxsplit=1)[0]


def test_returns_and_raises_sections() -> None:
    """Every method says what it answers (unless nothing) and what it raises: the errors
    of every call, `NotFoundError` where a path names a resource, and no credential error
    for an operation that needs none."""
    import refold_async
    from refold_async._operation import AuthScope

    for op in OPERATIONS.values():
        doc = inspect.getdoc(_method("refold_async", op.resource, op.name)) or ""
        returns = _section(doc, "Returns")
        assert (returns is None) == (op.returns is None), op.id
        if op.paginated:
            assert returns is not None, op.id
            assert "paginator" in returns, op.id
        raises = _section(doc, "Raises")
        assert raises is not None, op.id
        names = re.findall(r"^    (\w+): ", raises, re.MULTILINE)
        assert names[0] == "InvalidArgumentError", op.id
        assert names[-1] == "APIConnectionError", op.id
        assert all(hasattr(refold_async, name) for name in names), op.id  # exported names
        assert ("MissingCredentialError" in names) == (op.auth is not AuthScope.NONE), op.id
        needs_account = (
            op.linked_account
            and not op.org_level
            and op.auth in (AuthScope.ORG_KEY, AuthScope.KEY_OR_TOKEN)
        )
        assert ("MissingLinkedAccountError" in names) == needs_account, op.id
        assert ("APIDecodeError" in names) == (op.returns not in (None, Any)), op.id
        if "{" in op.path and op.method in ("GET", "PUT", "PATCH", "DELETE"):
            assert "NotFoundError" in names, op.id
