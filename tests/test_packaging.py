"""The release and the gate: version, license, what the sdist carries, which Pythons run.

Building and installing the distributions is nox's `package` session (it builds both,
runs `twine check`, and smoke-tests the wheel in a fresh venv); these tests pin the
configuration it relies on and the gate's choice of interpreters.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import refold_async
from refold_async import _cli

tomllib = importlib.import_module("tomllib" if sys.version_info >= (3, 11) else "tomli")

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
# Loads the noxfile in a process of its own (nox keeps a global registry of sessions) and
# reports what it decided.
NOXFILE_PROBE = """
import json, os, runpy, sys
ns = runpy.run_path(sys.argv[1])
options = ns["nox"].options
json.dump({
    "found": ns["FOUND_PYTHONS"], "skipped": ns["SKIPPED_PYTHONS"], "tests": ns["TEST_PYTHONS"],
    "sessions": options.sessions, "download_python": options.download_python,
    "uv_downloads": os.environ.get("UV_PYTHON_DOWNLOADS"),
}, sys.stdout)
"""


def _noxfile(path: Path) -> tuple[dict[str, Any], str]:
    """What the noxfile decides with `PATH` set to `path`, and what it printed."""
    pytest.importorskip("nox")
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "automatic", "PATH": str(path)}
    result = subprocess.run(  # noqa: S603 - our interpreter and our own probe
        [sys.executable, "-c", NOXFILE_PROBE, str(ROOT / "noxfile.py")],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(result.stdout), result.stderr


def test_version_flag_prints_the_version(capsys: pytest.CaptureFixture[str]) -> None:
    """`refold --version` prints the distribution's version and exits 0."""
    with pytest.raises(SystemExit) as exit_info:
        _cli.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"refold {importlib.metadata.version('refold')}\n"


def test_version_without_installed_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from a source tree (no metadata), the version is the package's own."""

    def missing(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", missing)
    assert _cli.package_version() == refold_async.__version__


def test_the_versions_agree() -> None:
    """pyproject.toml and `refold_async.__version__` name the same release."""
    assert PYPROJECT["project"]["version"] == refold_async.__version__


def test_the_license_is_in_the_repository_and_the_distributions() -> None:
    """LICENSE is the MIT text the metadata declares, and both distributions carry it."""
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n")
    assert "Refold SDK team" in text
    project = PYPROJECT["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    sdist = PYPROJECT["tool"]["hatch"]["build"]["targets"]["sdist"]["include"]
    assert {"/LICENSE", "/README.md", "/CHANGELOG.md", "/docs", "/refold_async"} <= set(sdist)
    assert not [entry for entry in sdist if "tests" in entry or "codegen" in entry]


def test_package_session_is_in_the_gate(tmp_path: Path) -> None:
    """`nox` with no arguments builds, checks and smoke-tests the distributions."""
    decided, _ = _noxfile(tmp_path)
    assert "package" in decided["sessions"]


def _fake_python(directory: Path, version: str, *, works: bool) -> Path:
    """A `pythonX.Y` on PATH: a real one answers the probe, a pyenv-like shim fails."""
    path = directory / f"python{version}"
    major, minor = version.split(".")
    body = (
        f"printf '({major}, {minor})\\n%s\\n' \"$0\""
        if works
        else f"echo 'pyenv: python{version}: command not found' >&2; exit 127"
    )
    path.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.mark.skipif(os.name == "nt", reason="shell-script stand-ins for interpreters")
def test_the_gate_runs_only_the_pythons_that_are_really_there(tmp_path: Path) -> None:
    """A shim without its version does not count; nothing is ever downloaded."""
    running = "{}.{}".format(*sys.version_info[:2])
    good, shim, absent = [v for v in ("3.10", "3.11", "3.12", "3.13") if v != running][:3]
    real = _fake_python(tmp_path, good, works=True)
    _fake_python(tmp_path, shim, works=False)
    decided, err = _noxfile(tmp_path)
    assert decided["found"] == {good: str(real), running: sys.executable}
    assert decided["tests"] == sorted([good, running])
    skipped = decided["skipped"]
    assert set(skipped) == {shim, absent}
    assert f"does not run Python {shim}" in skipped[shim]
    assert skipped[absent] == f"no python{absent} on PATH"
    assert decided["uv_downloads"] == "never"
    assert decided["download_python"] == "never"
    assert f"nox: the tests run on Python {min(good, running)}" in err
    assert f"nox: skipped Python {shim}: " in err
