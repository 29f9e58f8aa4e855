"""mkdocs hook: the generated `api.md` at the repository's top joins the site as `api.md`.

`api.md` is written by the generator beside the code (`nox -s codegen`), so it cannot
drift from the methods; the site serves that same file rather than a copy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

API_MD = Path(__file__).resolve().parent.parent / "api.md"


def on_files(files: Files, config: Any) -> Files:
    """Add the repository's `api.md` to the site's files."""
    files.append(File.generated(config, "api.md", abs_src_path=str(API_MD)))
    return files
