"""Fast structuring: one compiled function per attrs class.

For each attrs class the converter meets, `fast_structure()` writes one Python function
that reads the class's wire keys straight from the decoded JSON object and accepts each
value with the cheapest test that settles it: `type(value) is str` for text, a value map
for enums, one pass over a `list[str]`, a nested model's own compiled function. Every
field's hook is looked up once, when the function is built. Keys the class does not
declare are found with one set difference and handed to the constructor.

Anything that is not plainly right (a missing required key, a value of another type, a
nested model that does not fit, any exception at all) sends the whole object to the
class's `slow` function, cattrs' generated one. So only the good path is fast, and a
decoding error is exactly cattrs' own: it names the model, the field path and the
value's type as before.
"""

from __future__ import annotations

import datetime as dt
import enum
import sys
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import cattrs

__all__ = ["StructureFn", "fast_structure"]

StructureFn = Callable[[Any, Any], Any]

_PLAIN = (str, int, float, bool)
_ISO_READS_Z = sys.version_info >= (3, 11)
_compiled: dict[Any, StructureFn] = {}
_building: set[Any] = set()


def fast_structure(
    cls: Any,
    conv: cattrs.Converter,
    slow_for: Callable[[Any], StructureFn],
    wire: Mapping[str, str],
    extra_field: str,
    *,
    datetime_hook: StructureFn | None = None,
    local: Callable[[Any], bool] | None = None,
) -> StructureFn:
    """The structure function of attrs class `cls`: compiled if possible, else `slow_for(cls)`.

    `local(field)`: whether an attrs field never travels (it keeps its default, and its
    wire name is neither read nor kept in `extra_fields`), as the converter omits it.

    `datetime_hook`: the converter's datetime hook, which compiled functions then inline
    for ISO 8601 text (the hook itself still handles every other case).
    """
    found = _compiled.get(cls)
    if found is not None:
        return found
    _building.add(cls)
    try:
        fn = _compile(cls, conv, _deferred(slow_for, cls), wire, extra_field, datetime_hook, local)
    except Exception:  # anything unusual: the converter's own function
        fn = None
    finally:
        _building.discard(cls)
    if fn is None:
        fn = slow_for(cls)
    _compiled[cls] = fn
    return fn


def _default_expression(i: int, default: Any, ns: dict[str, Any]) -> str | None:
    """Source for a field's default (`None` if it has none that can be had here)."""
    if default is attrs.NOTHING:
        return None
    factory: Any = default
    if hasattr(factory, "factory") and hasattr(factory, "takes_self"):  # attrs.Factory
        if factory.takes_self:
            return None
        ns[f"d{i}"] = factory.factory
        return f"d{i}()"
    ns[f"d{i}"] = default
    return f"d{i}"


def _deferred(slow_for: Callable[[Any], StructureFn], cls: Any) -> StructureFn:
    """The converter's function for `cls`, generated on the first misfit: most never see one."""
    built: list[StructureFn] = []

    def slow(data: Any, tp: Any) -> Any:
        if not built:
            built.append(slow_for(cls))
        return built[0](data, tp)

    return slow


def _late(conv: cattrs.Converter) -> StructureFn:
    # A class that refers to itself (directly or not): look its function up per call.
    return lambda value, tp: conv.structure(value, tp)


def _split_optional(tp: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0], True
    return tp, False


def _substitute(tp: Any, mapping: Mapping[Any, Any]) -> Any:
    if isinstance(tp, typing.TypeVar):
        return mapping.get(tp, tp)
    args = typing.get_args(tp)
    origin = typing.get_origin(tp)
    if not args or origin is None:
        return tp
    new = tuple(_substitute(a, mapping) for a in args)
    if new == args:
        return tp
    if origin is typing.Union or origin is types.UnionType:
        return typing.Union[new]  # noqa: UP007 - built from a tuple
    return origin[new]


def _has_typevar(tp: Any) -> bool:
    if isinstance(tp, typing.TypeVar):
        return True
    return any(_has_typevar(a) for a in typing.get_args(tp))


def _compile(
    cls: Any,
    conv: cattrs.Converter,
    slow: StructureFn,
    wire: Mapping[str, str],
    extra_field: str,
    datetime_hook: StructureFn | None,
    local: Callable[[Any], bool] | None,
) -> StructureFn | None:
    base = typing.get_origin(cls) or cls
    hints = typing.get_type_hints(base)
    params: tuple[Any, ...] = getattr(base, "__parameters__", ())
    mapping = dict(zip(params, typing.get_args(cls), strict=False))
    fields = attrs.fields(base)
    ns: dict[str, Any] = {"_slow": slow, "_cls": base, "_M": _MISSING_VALUE}
    body: list[str] = []
    call: list[str] = []
    slots: list[tuple[str, str]] = []
    known: set[str] = set()
    has_extra = False
    for i, field in enumerate(fields):
        if not field.init:
            return None
        name = field.name
        key = wire.get(name, name)
        known.add(key)
        if name == extra_field:
            has_extra = True
            continue
        if local is not None and local(field):
            kept = _default_expression(i, field.default, ns)
            if kept is None:
                return None
            body.append(f"    a{i} = {kept}")
            call.append(f"{field.alias}=a{i}")
            slots.append((name, f"a{i}"))
            continue
        tp = _substitute(hints[name], mapping)
        if _has_typevar(tp):
            return None
        inner, optional = _split_optional(tp)
        ns[f"t{i}"] = inner
        default = field.default
        lines = _convert_lines(i, inner, optional, conv, ns, datetime_hook)
        if default is None and (optional or inner is Any):
            # Absent and null alike are `None` (most generated fields).
            body.append(f"    v = g({key!r})")
            body.extend(lines)
        elif default is attrs.NOTHING:
            body.append(f"    v = data[{key!r}]")  # a KeyError: the slow path explains
            body.extend(lines)
        else:
            missing = _default_expression(i, default, ns)
            if missing is None:
                return None
            body.append(f"    v = g({key!r}, _M)")
            body.append("    if v is _M:")
            body.append(f"        a{i} = {missing}")
            body.append("    else:")
            body.extend("    " + line for line in lines)
        call.append(f"{field.alias}=a{i}")
        slots.append((name, f"a{i}"))
    if has_extra:
        ns["_known"] = frozenset(known)
        extra_alias = attrs.fields_dict(base)[extra_field].alias
        body.append("    if _known.issuperset(data):")
        body.append("        e = {}")
        body.append("    else:")
        body.append("        e = {k: w for k, w in data.items() if k not in _known}")
        call.append(f"{extra_alias}=e")
        slots.append((extra_field, "e"))
    name = f"structure_{base.__name__}"
    source = "\n".join(
        [
            f"def {name}(data, tp):",
            "  if type(data) is not dict:",
            "    return _slow(data, tp)",
            "  try:",
            "    g = data.get",
            *body,
            *_construct(base, call, slots, ns),
            "  except Exception:",
            "    return _slow(data, tp)",
        ]
    )
    code = compile(source, f"<refold structure {base.__module__}.{base.__qualname__}>", "exec")
    exec(code, ns)  # noqa: S102 - our own generated source, built from the class's fields
    fn: StructureFn = ns[name]
    return fn


def _construct(
    base: Any, call: list[str], slots: list[tuple[str, str]], ns: dict[str, Any]
) -> list[str]:
    """Lines (at 4 spaces) that build and return the instance from the `a{i}` values.

    A slotted class whose `__init__` is attrs' own and does nothing but store the values
    (no validators, converters or init hooks) is filled slot by slot, as that `__init__`
    would, at half its cost; any other class is called.
    """
    if not _plain_init(base, [name for name, _ in slots]):
        return [f"    return _cls({', '.join(call)})"]
    ns["_new"] = object.__new__
    lines = ["    o = _new(_cls)"]
    for j, (name, variable) in enumerate(slots):
        ns[f"s{j}"] = getattr(base, name).__set__
        lines.append(f"    s{j}(o, {variable})")
    return [*lines, "    return o"]


def _plain_init(base: Any, names: list[str]) -> bool:
    init = getattr(base, "__init__", None)
    code = getattr(init, "__code__", None)
    if code is None or not code.co_filename.startswith("<attrs generated"):
        return False
    if "__slots__" not in base.__dict__:
        return False
    if hasattr(base, "__attrs_pre_init__") or hasattr(base, "__attrs_post_init__"):
        return False
    fields = attrs.fields(base)
    if sorted(f.name for f in fields) != sorted(names):
        return False
    for field in fields:
        if field.validator is not None or field.converter is not None or not field.init:
            return False
        if not isinstance(getattr(base, field.name, None), types.MemberDescriptorType):
            return False
    return True


class _MissingValue:
    __slots__ = ()


_MISSING_VALUE = _MissingValue()


def _hook(conv: cattrs.Converter, tp: Any) -> StructureFn:
    if attrs.has(typing.get_origin(tp) or tp) and tp in _building:
        return _late(conv)
    return conv.get_structure_hook(tp)


def _convert_lines(
    i: int,
    tp: Any,
    optional: bool,
    conv: cattrs.Converter,
    ns: dict[str, Any],
    datetime_hook: StructureFn | None,
) -> list[str]:
    """Lines (at 4 spaces) that set `a{i}` from `v`, raising on anything not plainly right."""
    if tp is Any:
        return [f"    a{i} = v"]
    hook = _hook(conv, tp)
    ns[f"h{i}"] = hook
    other = f"None if v is None else h{i}(v, t{i})" if optional else f"h{i}(v, t{i})"
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp in _PLAIN:
        return [f"    a{i} = v if type(v) is t{i} else {other}"]
    if tp is dt.datetime and datetime_hook is not None and hook is datetime_hook:
        # ISO 8601 text, "Z" for UTC; a naive value is UTC (as the hook has it).
        ns["_iso"] = dt.datetime.fromisoformat
        ns["_utc"] = dt.timezone.utc
        # Python 3.11 reads the "Z" itself (a third of the cost of rewriting it first).
        text = "v" if _ISO_READS_Z else "v[:-1] + '+00:00' if v[-1:] == 'Z' else v"
        return [
            "    if type(v) is str:",
            f"        a{i} = _iso({text})",
            f"        if a{i}.tzinfo is None:",
            f"            a{i} = a{i}.replace(tzinfo=_utc)",
            "    else:",
            f"        a{i} = {other}",
        ]
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        ns[f"m{i}"] = tp._value2member_map_
        check = f"a{i} is None and v is not None" if optional else f"a{i} is None"
        return [
            f"    a{i} = m{i}.get(v) if type(v) is str else None",
            f"    if {check}:",
            f"        a{i} = h{i}(v, t{i})",
        ]
    if origin is list and len(args) == 1:
        item = args[0]
        if item in _PLAIN:
            ns[f"u{i}"] = item
            return [  # an odd item: the whole object goes the slow way
                "    if type(v) is list:",
                "        for w in v:",
                f"            if type(w) is not u{i}:",
                "                raise TypeError",
                f"        a{i} = list(v)",
                "    else:",
                f"        a{i} = {other}",
            ]
        if attrs.has(typing.get_origin(item) or item):
            ns[f"f{i}"] = _hook(conv, item)
            ns[f"u{i}"] = item
            return [
                "    if type(v) is list:",
                f"        a{i} = [f{i}(w, u{i}) for w in v]",
                "    else:",
                f"        a{i} = {other}",
            ]
    if origin is dict and len(args) == 2 and args[0] is str and args[1] is Any:
        return [  # an odd key: the whole object goes the slow way
            "    if type(v) is dict:",
            "        for w in v:",
            "            if type(w) is not str:",
            "                raise TypeError",
            f"        a{i} = dict(v)",
            "    else:",
            f"        a{i} = {other}",
        ]
    if origin is dict and len(args) == 2 and args[0] is str and args[1] is str:
        return [
            "    if type(v) is dict and all(",
            "        type(w) is str and type(y) is str for w, y in v.items()",
            "    ):",
            f"        a{i} = dict(v)",
            "    else:",
            f"        a{i} = {other}",
        ]
    # Anything else (a nested model among them) through its hook: for a model, its own
    # compiled function.
    return [f"    a{i} = {other}"]
