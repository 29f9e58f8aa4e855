"""The Refold SDK generator: the spec's facts + overrides.toml -> resources, models, registry.

A development tool, not shipped, importing neither SDK package. Run it as
`python -m codegen generate` (`--check` to detect drift) and `python -m codegen coverage`;
both read the committed facts snapshot `codegen/spec-facts.json` (or `--spec PATH`).
`python -m codegen snapshot` refreshes the snapshot from the official spec (`--check`
proves it current). Pipeline: `facts` (the spec minus its prose) -> `load`
(`$ref`, `allOf`, sha256) -> `normalize` (+ `overrides.toml`, `schemas`) -> `ir` ->
`render` (Jinja, then ruff).
"""
