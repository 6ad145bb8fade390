"""Typed, frozen config dataclasses read from YAML, with one clear error per bad key or value.

A config file is a YAML mapping of sections (``encoder:``, ``train:``, task sections);
each section fills one dataclass. Command-line options override file values. Every value is
checked against the range or choices its field declares (:mod:`speechseq.ranges`). The fully
resolved config is written back as ``exp/<model>/config.yaml``.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from speechseq.errors import SpeechseqError, UsageError
from speechseq.fileio import atomic_write
from speechseq.ranges import check_values, rule_of

T = TypeVar("T")


def from_dict(
    cls: type[T],
    data: dict[str, Any] | None,
    where: str,
    *,
    key: str = "",
    fix: str = "",
    base: Any = None,
) -> T:
    """Build dataclass ``cls`` from ``data`` (read from ``where``, a file name or "config").

    A key ``data`` leaves out keeps its default: ``base``'s value when given, else the field's
    own default. A nested section starts from its field's default too, so a partial ``train:``
    of a task whose default is ``TrainConfig(max_frames=6000)`` keeps 6000, not the class's.

    An unknown key is an error naming ``where``; a value of the wrong type, or outside the
    range or choices its field declares (:mod:`speechseq.ranges`), is a usage error naming
    the key (``encoder.hidden``, under ``key``), the value and the rule, and saying ``fix``
    (default: fix it in ``where``)."""
    data = dict(data or {})
    fix = fix or f"fix it in {where}"
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise SpeechseqError(
            f"{where}: {key + ': ' if key else ''}unknown config key(s) {', '.join(unknown)} — "
            f"valid keys are: {', '.join(fields)}"
        )
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in data.items():
        full = f"{key}.{name}" if key else name
        default = getattr(base, name) if base is not None else _field_default(fields[name])
        try:
            kwargs[name] = _coerce(hints[name], value, where, full, fix, default)
        except _WrongType as e:
            rule = rule_of(fields[name])
            raise UsageError(f"{full} {value!r}: must be {rule or e.expected} — {fix}") from None
    check_values(cls, data, key, fix)  # the values as written (an int, not the float it became)
    return dataclasses.replace(base, **kwargs) if base is not None else cls(**kwargs)


def _field_default(f: dataclasses.Field) -> Any:
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None if f.default is dataclasses.MISSING else f.default


def sections_of(cls: type[T], data: dict[str, Any], where: str) -> T:
    """``cls`` from the sections of a whole config mapping that are its fields (others, such
    as ``data:`` in an experiment's config.yaml, are left out)."""
    fields = {f.name for f in dataclasses.fields(cls)}
    return from_dict(cls, {k: v for k, v in data.items() if k in fields}, where)


class _WrongType(Exception):
    def __init__(self, expected: str):
        self.expected = expected  # completes "must be ...": "an integer", "a mapping"


_TYPE_WORDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


def _coerce(tp, value, where: str, key: str, fix: str, default: Any = None):
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        tp = args[0]
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise _WrongType("a mapping of its keys")
        base = default if isinstance(default, tp) else None  # the section's default, filled in
        return from_dict(tp, value, where, key=key, fix=fix, base=base)
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tp is bool and isinstance(value, bool):
        return value
    if tp is str and isinstance(value, str):
        return value
    if typing.get_origin(tp) in (tuple, list) and isinstance(value, (list, tuple)):
        return tuple(value)
    if tp in _TYPE_WORDS:
        raise _WrongType(_TYPE_WORDS[tp])
    return value


def to_dict(cfg) -> dict[str, Any]:
    def conv(v):
        if dataclasses.is_dataclass(v):
            return {f.name: conv(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, tuple):
            return [conv(x) for x in v]
        return v

    return conv(cfg)


def read_yaml(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise SpeechseqError(f"{path}: config file not found — check the path")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise SpeechseqError(f"{path}: not valid YAML ({e}) — fix the file") from None
    if not isinstance(data, dict):
        raise SpeechseqError(f"{path}: expected a mapping of sections at the top level")
    return data


def write_yaml(path: str | os.PathLike, data: dict[str, Any]) -> None:
    with atomic_write(path) as f:
        yaml.safe_dump(data, f, sort_keys=False, default_flow_style=False)


def replace(cfg: T, **overrides) -> T:
    """``dataclasses.replace`` that ignores ``None`` overrides (options the user did not give)."""
    return dataclasses.replace(cfg, **{k: v for k, v in overrides.items() if v is not None})
