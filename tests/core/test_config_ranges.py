"""Every config field declares its range (speechseq.ranges), and every declared range is enforced."""

from __future__ import annotations

import dataclasses
import math
import typing

import pytest

from speechseq.asr.ctc import CTCConfig
from speechseq.core.config import from_dict
from speechseq.embed.model import EmbedConfig
from speechseq.errors import UsageError
from speechseq.features.config import FeatureConfig
from speechseq.hybrid.task import HybridConfig
from speechseq.ranges import FREE, OneOf, Range, rule_of

TOP = (CTCConfig, EmbedConfig, FeatureConfig, HybridConfig)  # what from_dict or a command builds


def _leaf_configs() -> list[tuple[type, str]]:
    """(config dataclass, its section) for every dataclass of values under TOP."""
    found: dict[type, str] = {}

    def walk(cls: type, section: str) -> None:
        hints = typing.get_type_hints(cls)
        sections = [f for f in dataclasses.fields(cls) if dataclasses.is_dataclass(hints[f.name])]
        for f in sections:
            walk(hints[f.name], f.name)
        if len(sections) < len(dataclasses.fields(cls)):
            found.setdefault(cls, section)

    for cls in TOP:
        walk(cls, "")
    return sorted(found.items(), key=lambda kv: kv[0].__name__)


LEAVES = _leaf_configs()


def _is_bool(tp) -> bool:
    return tp is bool or set(typing.get_args(tp)) == {bool, type(None)}


def test_the_walk_finds_every_config_of_values():
    names = {cls.__name__ for cls, _ in LEAVES}
    assert names == {
        "EncoderConfig",
        "TrainConfig",
        "CTCOptions",
        "EmbedOptions",
        "FeatureConfig",
        "FeatureSource",
        "HybridOptions",
    }


@pytest.mark.parametrize("cls", [c for c, _ in LEAVES], ids=lambda c: c.__name__)
def test_every_config_field_declares_a_range_or_choice_or_is_marked_free(cls):
    hints = typing.get_type_hints(cls)
    missing = [
        f.name
        for f in dataclasses.fields(cls)
        if rule_of(f) is None
        and not _is_bool(hints[f.name])
        and not dataclasses.is_dataclass(hints[f.name])  # a section: checked as its own leaf
    ]
    assert not missing, (
        f"{cls.__name__}: declare {', '.join(missing)} with speechseq.ranges.setting(default, rule) "
        f"(a range, a choice, or FREE)"
    )


@pytest.mark.parametrize("cls", [c for c, _ in LEAVES], ids=lambda c: c.__name__)
def test_every_default_is_inside_its_range(cls):
    obj = cls()
    for f in dataclasses.fields(cls):
        rule = rule_of(f)
        if rule is not None:
            assert rule(getattr(obj, f.name)), f"{cls.__name__}.{f.name}: default outside {rule}"


def _outside(rule):
    """A value that ``rule`` refuses."""
    if isinstance(rule, Range):
        step = 1 if rule.kind is int else 0.5
        for bound, value in (
            (rule.ge, None if rule.ge is None else rule.ge - step),
            (rule.gt, rule.gt),
            (rule.le, None if rule.le is None else rule.le + step),
            (rule.lt, rule.lt),
        ):
            if bound is not None:
                return value
        return math.nan
    if isinstance(rule, OneOf):
        return "no-such-choice"
    return "?"


RANGED = [
    pytest.param(cls, section, f.name, _outside(rule_of(f)), id=f"{cls.__name__}.{f.name}")
    for cls, section in LEAVES
    for f in dataclasses.fields(cls)
    if rule_of(f) is not None and rule_of(f) is not FREE
]


@pytest.mark.parametrize("cls,section,name,value", RANGED)
def test_a_value_outside_its_range_is_a_usage_error_naming_key_and_value(cls, section, name, value):
    assert not rule_of({f.name: f for f in dataclasses.fields(cls)}[name])(value)
    with pytest.raises(UsageError) as built:  # built directly (Python API, a command)
        cls(**{name: value})
    assert repr(value) in str(built.value)
    if cls is FeatureConfig:
        return  # not built by from_dict: commands and feats.yaml build it directly
    with pytest.raises(UsageError) as read:  # read from a config file
        from_dict(cls, {name: value}, "conf.yaml", key=section)
    assert str(read.value).startswith(f"{section}.{name} {value!r}: must be ")
    assert str(read.value).endswith("— fix it in conf.yaml")


def test_a_value_of_the_wrong_type_is_a_usage_error_with_the_range():
    with pytest.raises(UsageError) as e:
        from_dict(CTCConfig, {"encoder": {"hidden": "big"}}, "conf.yaml")
    assert str(e.value) == "encoder.hidden 'big': must be an integer >= 1 — fix it in conf.yaml"


def test_embed_min_duration_above_max_is_a_usage_error():
    with pytest.raises(UsageError, match=r"embed.min_dur_s 2.0 is above embed.max_dur_s 1.5"):
        from_dict(EmbedConfig, {"embed": {"min_dur_s": 2.0}}, "conf.yaml")
