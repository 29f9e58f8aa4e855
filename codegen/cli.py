"""The generator's commands: `generate` (the default; `--check` for drift), `coverage` and
`snapshot`.

`generate` and `coverage` read the committed facts snapshot `codegen/spec-facts.json` unless
`--spec` names another file (the official spec gives the same output). `snapshot` extracts
the facts of the official spec (`--spec`, else `$REFOLD_SPEC`, else
`../shared/refold-openapi.yaml` beside the repository) into the snapshot, or with `--check`
proves the committed snapshot equals them; without the official spec it prints why it
skipped and succeeds.

Exit codes: 0 success, 1 drift or incomplete coverage, 2 generator errors (every
`GeneratorIssue` is printed first) or a named spec that is missing.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from .ir import Api
from .load import facts_text, load_spec
from .normalize import build_api, load_overrides
from .render import generated_paths, render_api, write_files

__all__ = ["FACTS", "ROOT", "default_spec", "main", "official_spec"]

ROOT = Path(__file__).resolve().parent.parent
OVERRIDES = Path(__file__).resolve().parent / "overrides.toml"
FACTS = Path(__file__).resolve().parent / "spec-facts.json"


def default_spec() -> Path:
    """What `generate`, `coverage` and the tests read: the committed facts snapshot."""
    return FACTS


def official_spec() -> tuple[Path, bool]:
    """The official spec's path, and whether someone named it (`$REFOLD_SPEC`).

    Unnamed, it is `../shared/refold-openapi.yaml` beside the repository, where CI puts it.
    """
    named = os.environ.get("REFOLD_SPEC")
    return Path(named or ROOT.parent / "shared" / "refold-openapi.yaml"), bool(named)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m codegen", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    generate = commands.add_parser("generate", help="write the generated code (or --check it)")
    coverage = commands.add_parser("coverage", help="count the operations each face implements")
    for command in (generate, coverage):
        command.add_argument(
            "--spec", type=Path, default=None, help="an OpenAPI file (default: the facts snapshot)"
        )
        command.add_argument("--overrides", type=Path, default=OVERRIDES, help=argparse.SUPPRESS)
        command.add_argument("--out", type=Path, default=ROOT, help="the tree to write into")
    generate.add_argument("--check", action="store_true", help="fail if committed code differs")
    snapshot = commands.add_parser(
        "snapshot", help="extract the official spec's facts into codegen/spec-facts.json"
    )
    snapshot.add_argument(
        "--spec", type=Path, default=None, help="the official OpenAPI file (default: $REFOLD_SPEC)"
    )
    snapshot.add_argument("--facts", type=Path, default=FACTS, help=argparse.SUPPRESS)
    snapshot.add_argument(
        "--check", action="store_true", help="fail if the snapshot differs from the spec's facts"
    )
    return parser


def main(argv: Sequence[str]) -> int:
    """Run one command; returns the exit code."""
    if not argv or argv[0].startswith("-"):
        argv = ["generate", *argv]
    args = _parser().parse_args(argv)
    if args.command == "snapshot":
        return snapshot(args.spec, args.facts, check_only=args.check)
    api = _build(args.spec or default_spec(), args.overrides)
    if api is None:
        return 2
    if args.command == "coverage":
        return coverage(api, args.out)
    files = render_api(api, ROOT)
    if args.check:
        return check(files, args.out)
    written, deleted = write_files(files, args.out)
    print(f"{len(files)} files generated: {len(written)} written, {len(deleted)} stale deleted")
    return 0


def _build(spec_path: Path, overrides_path: Path) -> Api | None:
    api = build_api(load_spec(spec_path), load_overrides(overrides_path))
    for issue in api.issues:
        print(issue, file=sys.stderr)
    return None if any(i.level == "error" for i in api.issues) else api


def snapshot(spec: Path | None, facts: Path, *, check_only: bool) -> int:
    """Write the facts of `spec` (default: the official spec) to `facts`, or check them."""
    named = spec is not None
    if spec is None:
        spec, named = official_spec()
    if not spec.exists():
        if named:
            print(f"the spec {spec} does not exist", file=sys.stderr)
            return 2
        print(
            f"snapshot{' check' if check_only else ''} skipped: the official spec is not at {spec} "
            "(set REFOLD_SPEC or pass --spec); generating from the committed "
            f"{_shown(facts)}"
        )
        return 0
    text = facts_text(spec)
    current = facts.read_text(encoding="utf-8") if facts.exists() else ""
    if not check_only:
        if current != text:
            facts.write_text(text, encoding="utf-8")
        print(f"{_shown(facts)}: the facts of {spec.name} ({len(text)} bytes)")
        return 0
    if current != text:
        diff = difflib.unified_diff(
            current.splitlines(keepends=True),
            text.splitlines(keepends=True),
            _shown(facts),
            f"the facts of {spec.name}",
        )
        sys.stdout.writelines(list(diff)[:200])
        print(
            f"\n{_shown(facts)} differs from the facts of {spec}: run "
            "`python -m codegen snapshot`, then `python -m codegen generate`"
        )
        return 1
    print(f"{_shown(facts)} equals the facts of {spec}")
    return 0


def _shown(path: Path) -> str:
    """`path` relative to the repository where it lies inside it."""
    try:
        return path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)


def check(files: Mapping[str, str], out: Path) -> int:
    """Compare `files` with the tree at `out`; print the first difference."""
    stale = sorted(generated_paths(out) - set(files))
    for rel, text in sorted(files.items()):
        target = out / rel
        current = target.read_text(encoding="utf-8") if target.exists() else ""
        if current != text:
            diff = difflib.unified_diff(
                current.splitlines(keepends=True),
                text.splitlines(keepends=True),
                f"a/{rel}",
                f"b/{rel}",
            )
            sys.stdout.writelines(diff)
            print(f"\n{rel} differs from what the spec generates: run `python -m codegen generate`")
            return 1
    if stale:
        print("stale generated files: " + ", ".join(stale))
        return 1
    print(f"{len(files)} generated files are up to date")
    return 0


_COVERAGE_PROBE = """
import inspect, json, sys
from refold_async.operations import OPERATIONS
from refold_async.resources import AsyncResourceNamespaces
from refold_sync.resources import ResourceNamespaces

wanted = json.load(sys.stdin)
expected = wanted["operations"]
faces = {"async": object.__new__(AsyncResourceNamespaces), "sync": object.__new__(ResourceNamespaces)}
faces["async"]._transport = None
faces["sync"]._async_client = faces["async"]
found = {face: 0 for face in faces}
for op_id, (attr, name) in expected.items():
    op = OPERATIONS.get(op_id)
    for face, client in faces.items():
        method = getattr(getattr(client, attr, None), name, None)
        if op is not None and (op.resource, op.name) == (attr, name) and callable(method):
            found[face] += 1
        else:
            print(f"{face}: missing {op_id} as client.{attr}.{name}()", file=sys.stderr)
found["multipart"] = 0
for op_id in wanted["multipart"]:
    op = OPERATIONS.get(op_id)
    methods = [getattr(getattr(c, op.resource, None), op.name, None) for c in faces.values()] if op else []
    if op is not None and op.multipart and all(
        m is not None and "files" in inspect.signature(m).parameters for m in methods
    ):
        found["multipart"] += 1
    else:
        print(f"multipart: {op_id} takes no files= on both faces", file=sys.stderr)
json.dump(found, sys.stdout)
"""


def coverage(api: Api, out: Path) -> int:
    """Import the generated packages in a subprocess and count the operations they offer."""
    expected = {op.id: (op.resource, op.name) for op in api.operations}
    multipart = [op.id for op in api.operations if op.multipart]
    env = {**os.environ, "PYTHONPATH": str(out)}
    result = subprocess.run(  # noqa: S603 - our own interpreter and fixed probe
        [sys.executable, "-c", _COVERAGE_PROBE],
        input=json.dumps({"operations": expected, "multipart": multipart}),
        capture_output=True,
        text=True,
        cwd=out,
        env=env,
        check=False,
    )
    sys.stderr.write(result.stderr)
    if result.returncode != 0:
        return 1
    found: dict[str, int] = json.loads(result.stdout)
    handled = found.pop("multipart")
    for face, count in found.items():
        print(f"{face}: {count}/{len(expected)} operations")
    print(f"multipart: {handled}/{len(multipart)} operations with multipart bodies take files=")
    complete = all(count == len(expected) for count in found.values())
    return 0 if complete and handled == len(multipart) and _union_coverage(api) else 1


def _union_coverage(api: Api) -> bool:
    """Print how many `oneOf`/`anyOf` sites became typed unions; True when all did."""
    typed = [pointer for pointer, ok in api.unions if ok]
    print(f"unions: {len(typed)}/{len(api.unions)} oneOf/anyOf sites typed as unions")
    for pointer, ok in api.unions:
        if not ok:
            print(f"union left untyped (Any): {pointer}", file=sys.stderr)
    return len(typed) == len(api.unions)
