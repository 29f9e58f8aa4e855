"""Import cost: what `import refold_async` and a first call load, by module name.

Each check runs in a fresh interpreter, which imports the dependencies first, so that
only what the SDK adds is judged. Timings are for `benchmarks/bench_speed.py`; these
tests assert module names.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import refold_async

ROOT = Path(__file__).resolve().parents[1]

# Optional parts: each must load only when its feature is used.
OPTIONAL = ("redis", "tqdm", "opentelemetry", "difflib", "ipaddress", "refold_async.testing")

SCRIPT = textwrap.dedent(
    """
    import asyncio, json, sys
    import httpx, attrs, cattrs, anyio, aiolimiter

    def loaded():
        return set(sys.modules)

    deps = loaded()
    import refold_async
    after_async = loaded()
    import refold_sync
    after_sync = loaded()

    def handler(request):
        body = {"_id": "acct_1", "name": "Acme", "environment": "test",
                "createdAt": "2026-01-01T00:00:00Z"}
        return httpx.Response(200, json=body)

    async def call():
        client = refold_async.AsyncRefold(
            api_key="tk_import_test_0000",
            base_url="https://api.refold.invalid",
            rate_limit=None,
            http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
        )
        account = await client.linked_accounts.retrieve("acct_1")
        assert account.name == "Acme", account
        await client.aclose()

    asyncio.run(call())
    after_call = loaded()
    print(json.dumps({
        "deps": sorted(deps),
        "after_async": sorted(after_async - deps),
        "after_sync": sorted(after_sync - deps),
        "after_call": sorted(after_call - deps),
    }))
    """
)


@pytest.fixture(scope="module")
def loaded() -> dict[str, Any]:
    result = subprocess.run(  # noqa: S603 - our own fixed script
        [sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    found: dict[str, Any] = json.loads(result.stdout)
    return found


def _optional_in(modules: list[str]) -> list[str]:
    return [m for m in modules if m.split(".")[0] in OPTIONAL or m.startswith(OPTIONAL)]


def _model_modules(modules: list[str]) -> set[str]:
    return {m for m in modules if m.startswith("refold_async.models.")}


@pytest.mark.parametrize("stage", ["after_async", "after_sync", "after_call"])
def test_optional_parts_stay_unloaded(loaded: dict[str, Any], stage: str) -> None:
    """Neither import nor a plain call loads Redis, tqdm, OpenTelemetry, difflib, the emulator."""
    assert _optional_in(loaded[stage]) == []
    assert "refold_async.testing" not in loaded[stage]


@pytest.mark.parametrize("stage", ["after_async", "after_sync"])
def test_import_loads_no_model_module(loaded: dict[str, Any], stage: str) -> None:
    """Importing either package loads no model module, no resource module, no batch runner."""
    assert _model_modules(loaded[stage]) == set()
    assert [m for m in loaded[stage] if m.startswith("refold_async.batch")] == []
    assert "refold_async._ratelimit._redis" not in loaded[stage]
    assert [m for m in loaded[stage] if m.startswith("refold_async.resources.")] == []


def test_first_call_loads_only_the_models_it_needs(loaded: dict[str, Any]) -> None:
    """`linked_accounts.retrieve` loads its own model module (and the enums), no other."""
    models = _model_modules(loaded["after_call"])
    assert "refold_async.models._linked_accounts" in models
    assert models <= {
        "refold_async.models._linked_accounts",
        "refold_async.models._enums",
        "refold_async.models._shared",
    }
    assert "refold_async.models._wire" not in models
    resources = [m for m in loaded["after_call"] if m.startswith("refold_async.resources.")]
    assert resources == ["refold_async.resources.linked_accounts"]


def test_lazy_batch_names_resolve() -> None:
    """The batch names of both packages resolve to the batch package's own classes."""
    import refold_async.batch as batch
    import refold_sync

    for name in batch.__all__:
        if name[0].islower() or name == "Reconciler":
            continue  # functions and the reconcile helpers live in refold_async.batch only
        assert getattr(refold_async, name) is getattr(batch, name)
        assert getattr(refold_sync, name) is getattr(batch, name)
    assert refold_sync.RedisRateLimiter is refold_async.RedisRateLimiter
    assert refold_async.RedisRateLimiter.__module__ == "refold_async"
    with pytest.raises(AttributeError, match="NoSuchName"):
        getattr(refold_async, "NoSuchName")  # noqa: B009 - the point is a dynamic look-up


def test_lazy_model_names_resolve() -> None:
    """Every exported model name resolves, to the class its module defines."""
    import refold_async.models as models

    for name in models.__all__:
        value = getattr(models, name)
        assert value.__name__ == name
        assert value.__module__.startswith("refold_async.models._")
    with pytest.raises(AttributeError, match="NoSuchModel"):
        getattr(models, "NoSuchModel")  # noqa: B009 - the point is a dynamic look-up
