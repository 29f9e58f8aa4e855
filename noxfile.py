"""The project's sessions. `nox` alone runs the whole gate: lint, typecheck, tests, drift
check, the docs build and the package smoke test.

Everything the gate needs is in the repository: the generator reads the API's facts from
`codegen/spec-facts.json`. Where the official spec is at hand (`REFOLD_SPEC`, or
`../shared/refold-openapi.yaml` beside the repository, as in CI), `codegen_check` also
proves the snapshot equals its facts; elsewhere it says it skipped that step.

The tests run on every supported Python this machine really has, and nox never downloads
one: each `pythonX.Y` on PATH is asked its version, so a pyenv shim whose version is not
installed does not count. The Python running nox always counts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import nox

# Use the interpreters that are here; never fetch one (nox's own download, and uv's).
os.environ["UV_PYTHON_DOWNLOADS"] = "never"
nox.options.download_python = "never"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True
nox.options.sessions = [
    "lint",
    "typecheck",
    "tests",
    "tests_floor",
    "tests_latest",
    "codegen_check",
    "docs",
    "package",
]

ROOT = Path(__file__).parent
SUPPORTED_PYTHONS = ("3.10", "3.11", "3.12", "3.13")


def _probe(executable: Path, version: str) -> str | None:
    """The real executable behind `executable` if it runs Python `version` (a shim may not)."""
    try:
        result = subprocess.run(  # noqa: S603 - an interpreter found on PATH, a fixed probe
            [
                str(executable),
                "-c",
                "import sys; print(sys.version_info[:2]); print(sys.executable)",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    major, minor = version.split(".")
    lines = result.stdout.splitlines()
    if result.returncode != 0 or len(lines) != 2 or lines[0] != f"({major}, {minor})":
        return None
    return lines[1]


def _find_pythons() -> tuple[dict[str, str], dict[str, str]]:
    """The supported Pythons found ({version: executable}) and the others ({version: why})."""
    running = "{}.{}".format(*sys.version_info[:2])
    found: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for version in SUPPORTED_PYTHONS:
        if version == running:
            found[version] = sys.executable
            continue
        candidates = [Path(d) / f"python{version}" for d in os.get_exec_path() if d]
        candidates = [c for c in dict.fromkeys(candidates) if os.access(c, os.X_OK)]
        working = next(filter(None, (_probe(c, version) for c in candidates)), None)
        if working is not None:
            found[version] = working
        elif candidates:
            skipped[version] = f"{candidates[0]} does not run Python {version} (a pyenv shim?)"
        else:
            skipped[version] = f"no python{version} on PATH"
    return found, skipped


FOUND_PYTHONS, SKIPPED_PYTHONS = _find_pythons()
TEST_PYTHONS = [v for v in SUPPORTED_PYTHONS if v in FOUND_PYTHONS]
# Every Python found runs the suite once, to keep the gate under 10 minutes on two cores:
# - `tests_floor`: the fast tests on the oldest, every dependency at its declared floor;
# - `tests`: the fast tests on each Python between the oldest and the newest;
# - `tests_latest`: the fast tests and the slow ones (real time, subprocesses:
#   tests/conftest.py) on the newest, every dependency at its newest release.
# With fewer than three Pythons, `tests` runs on the one running nox.
PER_PYTHON = TEST_PYTHONS[1:-1]
sys.stderr.write(
    "nox: the tests run on Python "
    + ", ".join(f"{v} ({FOUND_PYTHONS[v]})" for v in TEST_PYTHONS)
    + "\n"
    + "".join(f"nox: skipped Python {v}: {why}\n" for v, why in SKIPPED_PYTHONS.items())
)


# Every extra the tests import: the suite covers the optional features too.
TEST_EXTRAS = ".[test,redis,codegen,typing,progress,otel]"


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check over the whole tree, generated code included."""
    session.install("-e", ".[lint]")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict and pyright strict on the packages and the generator; public type completeness."""
    session.install("-e", ".[typing,codegen,test,redis]")
    session.run("mypy")
    session.run("pyright")
    # The public API's types are complete, as a type checker of a user's code sees them.
    session.run("pyright", "--verifytypes", "refold_async", "--ignoreexternal")
    session.run("pyright", "--verifytypes", "refold_sync", "--ignoreexternal")


@nox.session(python=PER_PYTHON or None)
def tests(session: nox.Session) -> None:
    """The fast tests on each supported Python between the oldest (`tests_floor`) and the
    newest (`tests_latest`). Redis tests need 127.0.0.1:6379; `nox -s tests -- ARGS` runs
    pytest ARGS."""
    # typing too: a codegen test type-checks generated output with mypy.
    session.install("-e", TEST_EXTRAS)
    if session.posargs:
        session.run("pytest", *session.posargs)
        return
    # Spread over the machine's cores (pytest-xdist: about a third less wall time on two).
    session.run("pytest", "-m", "not slow", "-n", "auto")


@nox.session(python=TEST_PYTHONS[0] if TEST_PYTHONS else None, venv_backend="uv")
def tests_floor(session: nox.Session) -> None:
    """The fast tests on the oldest Python with every direct dependency at its declared floor.

    uv's `lowest-direct` resolution installs the lowest version each pin in pyproject.toml
    allows, so a floor that no longer holds (a feature used that the floor lacks) fails
    here rather than in a user's locked environment.
    """
    session.install("--resolution", "lowest-direct", "--reinstall", "-e", TEST_EXTRAS)
    # Not the noxfile's own tests: nox itself needs a newer attrs than the SDK's floor.
    ignore = ("--ignore", "tests/test_packaging.py")
    session.run("pytest", "-m", "not slow", "-n", "auto", *ignore, *session.posargs)


@nox.session(python=TEST_PYTHONS[-1] if TEST_PYTHONS else None, venv_backend="uv")
def tests_latest(session: nox.Session) -> None:
    """The whole suite on the newest Python with every dependency at its newest release.

    The per-Python sessions reuse their environments; this one always upgrades, so a new
    release of httpx, anyio, attrs or cattrs that breaks the SDK shows at the next run.
    The slow tests (real time, subprocesses, timing) run here, alone, after the fast ones.
    """
    session.install("--resolution", "highest", "--upgrade", "-e", TEST_EXTRAS)
    if session.posargs:
        session.run("pytest", *session.posargs)
        return
    session.run("pytest", "-m", "not slow", "-n", "auto")
    session.run("pytest", "-m", "slow")


@nox.session
def codegen(session: nox.Session) -> None:
    """Refresh the facts snapshot from the official spec (when at hand), then regenerate."""
    session.install("-e", ".[codegen]")
    session.run("python", "-m", "codegen", "snapshot")
    session.run("python", "-m", "codegen", "generate", *session.posargs)
    session.run("python", "-m", "codegen", "coverage")


@nox.session(name="codegen_check")
def codegen_check(session: nox.Session) -> None:
    """The drift check: the snapshot is current (official spec at hand), the code is too."""
    session.install("-e", ".[codegen]")
    session.run("python", "-m", "codegen", "snapshot", "--check")
    session.run("python", "-m", "codegen", "generate", "--check")
    session.run("python", "-m", "codegen", "coverage")


# What a release carries, and what it must not (tests/codegen/golden once leaked in).
SDIST_MUST_HOLD = ("LICENSE", "README.md", "CHANGELOG.md", "pyproject.toml", "docs/")
SDIST_MUST_HOLD += ("refold_async/__init__.py", "refold_sync/__init__.py", "refold_async/py.typed")
SDIST_MUST_NOT_HOLD = ("tests/", "codegen/", "benchmarks/", ".ci/", "noxfile.py")

# Runs in a fresh venv holding only the wheel (and pytest), outside the source tree.
WHEEL_SMOKE = """
import importlib.metadata as md, pathlib, subprocess, sys
import refold_async, refold_sync
from refold_async import AsyncRefold
from refold_sync import Refold
assert "site-packages" in refold_async.__file__, refold_async.__file__
version = md.version("refold")
assert refold_async.__version__ == version, (refold_async.__version__, version)
cli = pathlib.Path(sys.executable).with_name("refold")
out = subprocess.run([str(cli), "--version"], capture_output=True, text=True, check=True).stdout
assert out.split() == ["refold", version], out
plugins = {ep.name: ep.value for ep in md.entry_points(group="pytest11")}
assert plugins.get("refold") == "_refold_pytest_plugin", plugins
print("wheel ok: refold", version)
"""
PLUGIN_SMOKE = """
def test_the_plugin_serves_a_client(refold_sync_client):
    assert type(refold_sync_client).__name__ == "Refold"
    assert refold_sync_client.linked_accounts.list().first_page().items == []
"""


@nox.session
def package(session: nox.Session) -> None:
    """Build the sdist and the wheel, `twine check` them, smoke-test the wheel in a fresh venv.

    The smoke test imports both faces, runs `refold --version` and runs a test that uses
    the pytest plugin, found through its entry point, all from the installed wheel.
    """
    session.install("build", "twine", "uv")
    tmp = Path(session.create_tmp()).resolve()
    dist = tmp / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    session.run("python", "-m", "build", "--installer", "uv", "--outdir", str(dist), ".")
    sdist, wheel = sorted(dist.glob("*.tar.gz")), sorted(dist.glob("*.whl"))
    if len(sdist) != 1 or len(wheel) != 1:
        session.error(f"expected one sdist and one wheel in {dist}")
    session.run("twine", "check", "--strict", str(sdist[0]), str(wheel[0]))
    _check_sdist(session, sdist[0])
    with zipfile.ZipFile(wheel[0]) as archive:
        names = archive.namelist()
    if not any(n.endswith(".dist-info/licenses/LICENSE") for n in names):
        session.error("the wheel carries no LICENSE")
    venv = tmp / "fresh"
    shutil.rmtree(venv, ignore_errors=True)
    session.run("uv", "venv", "--quiet", "--python", sys.executable, str(venv))
    python = str(venv / ("Scripts" if os.name == "nt" else "bin") / "python")
    session.run("uv", "pip", "install", "--quiet", "--python", python, str(wheel[0]), "pytest")
    smoke = tmp / "smoke"
    shutil.rmtree(smoke, ignore_errors=True)
    smoke.mkdir()
    (smoke / "test_plugin.py").write_text(PLUGIN_SMOKE, encoding="utf-8")
    # Its own rootdir: pytest must not pick up this repository's configuration.
    (smoke / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    with session.chdir(smoke):
        session.run(python, "-I", "-c", WHEEL_SMOKE, external=True)
        session.run(python, "-I", "-m", "pytest", "-q", "-p", "no:cacheprovider", external=True)


def _check_sdist(session: nox.Session, sdist: Path) -> None:
    with tarfile.open(sdist) as archive:
        root, *_ = archive.getnames()
        top = root.split("/")[0] + "/"
        names = [n.removeprefix(top) for n in archive.getnames()]
    missing = [m for m in SDIST_MUST_HOLD if not any(n.startswith(m) for n in names)]
    extra = sorted(n for n in names if n.startswith(SDIST_MUST_NOT_HOLD))
    if missing or extra:
        session.error(f"sdist: missing {missing}, must not hold {extra[:5]}")
    session.log(f"sdist: {len(names)} entries, LICENSE, README, CHANGELOG and docs/ included")


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site, built with `mkdocs build --strict` (a broken link or
    reference fails it); the examples on its pages run in the tests."""
    session.install("-e", ".[docs]")
    env = {"NO_MKDOCS_2_WARNING": "1"}  # mkdocs-material's banner about its successor
    session.run("mkdocs", "build", "--strict", "--site-dir", str(ROOT / "site"), env=env)


# Benchmarks that need more than Python run only in their own session.
OPT_IN_BENCHMARKS = {"bench_limits.py"}  # nginx: `nox -s bench_limits`


@nox.session
def bench(session: nox.Session) -> None:
    """The benchmarks: CPU per call, sync overhead, limiter accuracy. See BENCHMARKS.md."""
    session.install("-e", ".[test]")
    # A reference row for bench_speed.py: another SDK on the same mock transport. Here
    # only: neither the SDK nor its tests use it.
    session.install("openai")
    for script in sorted((ROOT / "benchmarks").glob("bench_*.py")):
        if script.name not in OPT_IN_BENCHMARKS:
            session.run("python", str(script), *session.posargs)


@nox.session(name="bench_limits")
def bench_limits(session: nox.Session) -> None:
    """The rate budget against nginx `limit_req`; installs nginx-light if missing.

    Not in the gate. Arguments go to the harness: `nox -s bench_limits -- --quick`.
    """
    session.install("-e", ".")
    if not _nginx_found():
        _install_nginx(session)
    session.run("python", "benchmarks/bench_limits.py", *session.posargs)


def _nginx_found() -> bool:
    # The same places the harness looks (benchmarks/limits/servers.py: find_nginx).
    candidates = (os.environ.get("NGINX"), shutil.which("nginx"), "/usr/sbin/nginx")
    return any(c and os.access(c, os.X_OK) for c in candidates)


def _install_nginx(session: nox.Session) -> None:
    """The distribution's nginx, through apt-get (as root, or with sudo)."""
    if not shutil.which("apt-get"):
        session.error("nginx is missing and there is no apt-get: install nginx, or set NGINX")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    if sudo and not shutil.which("sudo"):
        session.error("installing nginx needs root or sudo: apt-get install nginx-light")
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    session.run(*sudo, "apt-get", "update", "-q", external=True, env=env)
    # nginx-light where the distribution still has it (Debian 12), else plain nginx.
    for package in ("nginx-light", "nginx"):
        session.run(
            *sudo, "apt-get", "install", "-y", "-q", package,
            external=True, env=env, success_codes=[0, 100],
        )  # fmt: skip
        if _nginx_found():
            return
    session.error("apt-get could not install nginx")
