"""What values a config field takes: declared with the field, checked in one place.

A config dataclass declares every field that is not a plain bool with :func:`setting`, its
default and its rule, and checks itself in ``__post_init__``::

    @dataclass(frozen=True)
    class EncoderConfig:
        hidden: int = setting(256, integer(ge=1))  # units per direction per layer
        rnn: str = setting("lstm", one_of("lstm", "gru", "rnn"))  # recurrent cell
        init_from: str = setting("", FREE)  # any path ("" = none)

        def __post_init__(self):
            check_fields(self, "encoder")

A value outside its rule is a :class:`~speechseq.errors.UsageError` naming the key, the value
and the rule: ``encoder.hidden -5: must be an integer >= 1 — fix it in the config or on the
command line``. ``core.config.from_dict``, which builds every config from YAML and
command-line options, checks the same rules first with the key's full path and the config
file's name. A new field gets its range by declaring it; ``tests/core/test_config_ranges.py``
fails for a field with neither a rule nor :data:`FREE`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from speechseq.errors import UsageError

RULE = "speechseq.rule"  # the key of a field's rule in its dataclass metadata
FIX = "fix it in the config or on the command line"


@dataclass(frozen=True)
class Range:
    """An integer or a finite number within bounds (``ge``/``gt`` below, ``le``/``lt`` above)."""

    kind: type  # int or float (a float field takes ints too)
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def __call__(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.kind is int and not isinstance(value, int):
            return False
        if not math.isfinite(value):
            return False
        return not (
            (self.ge is not None and value < self.ge)
            or (self.gt is not None and value <= self.gt)
            or (self.le is not None and value > self.le)
            or (self.lt is not None and value >= self.lt)
        )

    def __str__(self) -> str:
        bounds = [
            f"{op} {b:g}"
            for op, b in ((">=", self.ge), (">", self.gt), ("<=", self.le), ("<", self.lt))
            if b is not None
        ]
        if not bounds:
            return "an integer" if self.kind is int else "a finite number"
        return f"{'an integer' if self.kind is int else 'a number'} {' and '.join(bounds)}"


@dataclass(frozen=True)
class OneOf:
    """One of a few words."""

    choices: tuple[str, ...]

    def __call__(self, value: Any) -> bool:
        return value in self.choices

    def __str__(self) -> str:
        return f"one of {', '.join(self.choices)}"


@dataclass(frozen=True)
class Check:
    """Any other rule: a test and the words that say what it accepts."""

    test: Callable[[Any], bool]
    text: str  # completes "must be ...", e.g. "none, stackN (N >= 1) or conv2d4"

    def __call__(self, value: Any) -> bool:
        try:
            return bool(self.test(value))
        except (TypeError, ValueError):
            return False

    def __str__(self) -> str:
        return self.text


FREE = Check(
    lambda value: True, "anything"
)  # a field any value of its type suits (paths, prefixes)


def integer(*, ge: int | None = None, le: int | None = None) -> Range:
    """An integer with inclusive bounds, e.g. ``integer(ge=1)``."""
    return Range(int, ge=ge, le=le)


def number(
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
) -> Range:
    """A finite number within bounds, e.g. ``number(gt=0)``, ``number(ge=0, lt=1)``."""
    return Range(float, ge=ge, gt=gt, le=le, lt=lt)


def one_of(*choices: str) -> OneOf:
    return OneOf(tuple(choices))


def setting(default: Any, rule: Range | OneOf | Check) -> Any:
    """A dataclass field with ``default`` whose values must pass ``rule``."""
    return dataclasses.field(default=default, metadata={RULE: rule})


def rule_of(f: dataclasses.Field) -> Range | OneOf | Check | None:
    """The rule declared with a field (None for a field declared without :func:`setting`)."""
    return f.metadata.get(RULE)


def check_values(cls: type, values: Mapping[str, Any], prefix: str = "", fix: str = FIX) -> None:
    """Raise a :class:`UsageError` for the first of ``values`` (field name -> value) of dataclass
    ``cls`` that breaks its field's rule, named ``prefix.name``; ``None`` passes where the
    field's default is ``None``."""
    for f in dataclasses.fields(cls):
        rule = rule_of(f)
        if rule is None or f.name not in values:
            continue
        value = values[f.name]
        if value is None and f.default is None:
            continue
        if not rule(value):
            key = f"{prefix}.{f.name}" if prefix else f.name
            raise UsageError(f"{key} {value!r}: must be {rule} — {fix}")


def check_fields(obj: Any, prefix: str = "", fix: str = FIX) -> None:
    """:func:`check_values` over every field of the dataclass instance ``obj``."""
    check_values(
        type(obj), {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}, prefix, fix
    )
