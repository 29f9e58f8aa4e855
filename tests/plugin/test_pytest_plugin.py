"""The pytest plugin (`_refold_pytest_plugin`, entry point `pytest11`/`refold`), run by `pytester`."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

import _refold_pytest_plugin

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the codegen extra installs tomli there
    import tomli as tomllib

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ["-p", "no:refold", "-p", "_refold_pytest_plugin"]
"""Load the plugin by module name, whether or not this environment installed its entry point."""

INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"

USER_TESTS = """
import os

import pytest

from refold_async import AsyncRefold
from refold_async.testing import Emulator, FakeClock
from refold_sync import Refold


def test_the_emulator_is_fresh_and_on_a_fake_clock(refold_emulator):
    assert isinstance(refold_emulator, Emulator)
    assert isinstance(refold_emulator.clock, FakeClock)
    assert refold_emulator.world().linked_accounts == {}
    refold_emulator.clock.advance(5)
    assert refold_emulator.clock.now() == 5


@pytest.mark.asyncio
async def test_the_async_client_reaches_the_emulator(refold_client, refold_emulator):
    assert isinstance(refold_client, AsyncRefold)
    await refold_client.linked_accounts.upsert(linked_account_id="acme", name="Acme")
    assert "acme" in refold_emulator.world().linked_accounts


def test_the_sync_client_reaches_the_same_emulator(refold_sync_client, refold_client, refold_emulator):
    assert isinstance(refold_sync_client, Refold)
    refold_sync_client.linked_accounts.upsert(linked_account_id="globex", name="Globex")
    assert list(refold_emulator.world().linked_accounts) == ["globex"]


def test_code_that_builds_its_own_client_finds_the_server(refold_emulator_server, refold_emulator):
    assert os.environ["REFOLD_BASE_URL"] == refold_emulator_server.url
    assert os.environ["REFOLD_API_KEY"] == refold_emulator.api_key
    with Refold(rate_limit=None) as client:  # from the environment, as user code would
        client.linked_accounts.upsert(linked_account_id="initech", name="Initech")
    assert "initech" in refold_emulator.world().linked_accounts


def test_each_test_gets_a_fresh_emulator_and_the_environment_back(refold_emulator):
    assert refold_emulator.world().linked_accounts == {}
    assert "REFOLD_BASE_URL" not in os.environ
"""


@pytest.fixture
def user_project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A project with the user's tests, without our variables in its environment."""
    monkeypatch.delenv("REFOLD_BASE_URL", raising=False)
    monkeypatch.delenv("REFOLD_API_KEY", raising=False)
    pytester.makeini(INI)
    pytester.makepyfile(test_user=USER_TESTS)
    return pytester


def test_every_fixture_works_in_a_user_test_suite(user_project: pytest.Pytester) -> None:
    """A user's tests using each fixture pass, in order, each with a fresh emulator."""
    result = user_project.runpytest_subprocess(*PLUGIN, "-v")
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(["*test_code_that_builds_its_own_client_finds_the_server PASSED*"])


def test_without_the_plugin_the_fixtures_do_not_exist(user_project: pytest.Pytester) -> None:
    """The fixtures come from the plugin: blocked, the same tests error (the check above can fail)."""
    result = user_project.runpytest_subprocess("-p", "no:refold")
    result.assert_outcomes(passed=0, errors=5)
    result.stdout.fnmatch_lines(["*fixture 'refold_emulator' not found*"])


def test_a_failing_user_test_fails_and_teardown_still_closes(pytester: pytest.Pytester) -> None:
    """The plugin changes no outcome: a failing test fails; its client is still closed."""
    pytester.makepyfile(
        test_fail="""
        import pytest

        from refold_async import RefoldUsageError

        kept = []


        def test_fails(refold_sync_client):
            kept.append(refold_sync_client)
            refold_sync_client.events.list()
            assert False, "the user's own failure"


        def test_the_failed_tests_client_was_closed():
            with pytest.raises(RefoldUsageError, match="closed"):
                kept[0].events.list()
        """
    )
    result = pytester.runpytest_subprocess(*PLUGIN)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*the user's own failure*"])


def test_loading_the_plugin_imports_nothing_of_the_sdk() -> None:
    """Importing the plugin module (as every pytest session does) loads neither the SDK nor httpx."""
    probe = (
        "import sys, _refold_pytest_plugin\n"
        "print(sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('refold_async', 'refold_sync', 'httpx', 'anyio', 'cattrs', 'h11')))"
    )
    out = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    assert out.strip() == "[]"


def test_the_plugin_defines_fixtures_only() -> None:
    """No hook, option or autouse fixture: a session that does not ask for the fixtures is unchanged."""
    tree = ast.parse(Path(_refold_pytest_plugin.__file__).read_text())
    functions = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
    assert not [f.name for f in functions if f.name.startswith("pytest_")]
    public = sorted(f.name for f in functions if not f.name.startswith("_"))
    assert public == sorted(_refold_pytest_plugin.__all__)
    keywords = [
        keyword.arg
        for f in functions
        for decorator in f.decorator_list
        if isinstance(decorator, ast.Call)
        for keyword in decorator.keywords
    ]
    assert "autouse" not in keywords


def test_the_entry_point_is_declared_for_pytest() -> None:
    """pyproject.toml registers the module under `pytest11`, and ships it in the wheel."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["entry-points"]["pytest11"] == {"refold": "_refold_pytest_plugin"}
    wheel = project["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert "_refold_pytest_plugin.py" in wheel["only-include"]


def test_the_installed_entry_point_loads_the_plugin(user_project: pytest.Pytester) -> None:
    """Where this checkout is installed with its entry point, plain `pytest` finds the fixtures."""
    if not any(ep.name == "refold" for ep in entry_points(group="pytest11")):
        pytest.skip("this environment was installed before the entry point existed: reinstall")
    result = user_project.runpytest_subprocess()
    result.assert_outcomes(passed=5)


STRICT = INI + "asyncio_mode = strict\n"
"""pytest-asyncio's default mode: only tests marked `asyncio` run on a loop."""


def test_the_docs_example_test_passes_in_strict_mode(pytester: pytest.Pytester) -> None:
    """The testing guide's example test file passes as written, without asyncio_mode = auto."""
    guide = (ROOT / "docs" / "testing.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", guide, flags=re.DOTALL)
    example = next(block for block in blocks if "def test_" in block and "refold_client" in block)
    pytester.makeini(STRICT)
    pytester.makepyfile(test_docs_example=example)
    result = pytester.runpytest_subprocess(*PLUGIN)
    result.assert_outcomes(passed=3)


STRICT_TESTS = """
import pytest


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param


@pytest.mark.asyncio
async def test_with_pytest_asyncio(refold_client, refold_emulator):
    await refold_client.linked_accounts.upsert(linked_account_id="a", name="A")
    assert "a" in refold_emulator.world().linked_accounts


@pytest.mark.anyio
async def test_with_anyio(refold_client, refold_emulator):
    await refold_client.linked_accounts.upsert(linked_account_id="b", name="B")
    assert "b" in refold_emulator.world().linked_accounts
"""


def test_the_async_client_fixture_needs_no_auto_mode(pytester: pytest.Pytester) -> None:
    """`refold_client` serves tests marked for pytest-asyncio (strict mode) or for anyio,
    on both of anyio's backends (`anyio_backend` parametrised)."""
    pytester.makeini(STRICT)
    pytester.makepyfile(test_strict=STRICT_TESTS)
    result = pytester.runpytest_subprocess(*PLUGIN, "-v")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*test_with_anyio?trio? PASSED*"])
