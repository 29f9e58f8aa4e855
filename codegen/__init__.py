"""The Refold SDK generator: OpenAPI spec + overrides.toml -> resources, models, registry.

A development tool, not shipped, importing neither SDK package. Run it as
`python -m codegen generate --spec PATH` (`--check` to detect drift) and
`python -m codegen coverage --spec PATH`. Pipeline (STYLE §3): `load` (YAML, `$ref`,
`allOf`, sha256) -> `normalize` (+ `overrides.toml`, `schemas`) -> `ir` -> `render`
(Jinja, then ruff).
"""
