"""The project's sessions. `nox` alone runs the whole gate: lint, typecheck, tests, drift check, docs.

The codegen drift check needs the API contract: `REFOLD_SPEC` or, by default,
`../shared/refold-openapi.yaml` beside the repository.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True
nox.options.sessions = ["lint", "typecheck", "tests", "codegen_check", "docs"]

ROOT = Path(__file__).parent
SPEC = os.environ.get("REFOLD_SPEC", str(ROOT.parent / "shared" / "refold-openapi.yaml"))
SUPPORTED_PYTHONS = ("3.10", "3.11", "3.12", "3.13")
# The tests run on every supported Python this machine has (`.ci/run` puts pyenv's on
# PATH); with none of them found by name, on the Python running nox.
TEST_PYTHONS = [v for v in SUPPORTED_PYTHONS if shutil.which(f"python{v}")] or None
# The tests marked `slow` (real time, subprocesses: tests/conftest.py) run on the oldest
# and the newest Python found; the others skip them to keep the gate under 10 minutes.
FULL_PYTHONS = {TEST_PYTHONS[0], TEST_PYTHONS[-1]} if TEST_PYTHONS else set()


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


@nox.session(python=TEST_PYTHONS)
def tests(session: nox.Session) -> None:
    """The test suite on each supported Python found (Redis tests need 127.0.0.1:6379)."""
    # typing too: a codegen test type-checks generated output with mypy.
    session.install("-e", ".[test,redis,codegen,typing,progress,otel]")
    args = list(session.posargs)
    if TEST_PYTHONS and session.python not in FULL_PYTHONS and not args:
        args = ["-m", "not slow"]
    session.run("pytest", *args)


@nox.session
def codegen(session: nox.Session) -> None:
    """Regenerate resources and models from the spec (`REFOLD_SPEC` or ../shared)."""
    session.install("-e", ".[codegen]")
    session.run("python", "-m", "codegen", "generate", "--spec", SPEC, *session.posargs)
    session.run("python", "-m", "codegen", "coverage", "--spec", SPEC)


@nox.session(name="codegen_check")
def codegen_check(session: nox.Session) -> None:
    """The drift check: fail if the committed generated code differs from a fresh run."""
    session.install("-e", ".[codegen]")
    session.run("python", "-m", "codegen", "generate", "--spec", SPEC, "--check")
    session.run("python", "-m", "codegen", "coverage", "--spec", SPEC)


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
    """The rate budget against nginx `limit_req` (issue #9); installs nginx-light if missing.

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
