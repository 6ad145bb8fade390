"""Config dataclasses from YAML mappings: types, nesting, unknown keys and the error text."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from speechseq.core.config import (
    from_dict,
    read_yaml,
    replace,
    sections_of,
    to_dict,
    write_yaml,
)
from speechseq.errors import SpeechseqError, UsageError


@dataclass(frozen=True)
class Inner:
    size: int = 1
    rate: float = 0.5


@dataclass(frozen=True)
class Outer:
    name: str = "x"
    flag: bool = False
    dims: tuple[int, ...] = (1, 2)
    inner: Inner = field(default_factory=Inner)
    maybe: int | None = None


def test_values_of_every_type_are_read_and_ints_become_floats():
    cfg = from_dict(
        Outer,
        {"name": "y", "flag": True, "dims": [3, 4], "inner": {"size": 2, "rate": 1}, "maybe": 7},
        "conf.yaml",
    )
    assert cfg == Outer("y", True, (3, 4), Inner(2, 1.0), 7)
    assert isinstance(cfg.inner.rate, float)
    assert from_dict(Outer, {"maybe": None}, "conf.yaml").maybe is None
    assert from_dict(Outer, None, "conf.yaml") == Outer()


@pytest.mark.parametrize(
    "data, message",
    [
        ({"name": 3}, "name 3: must be a string — fix it in conf.yaml"),
        ({"flag": 1}, "flag 1: must be true or false — fix it in conf.yaml"),
        ({"name": ["a"]}, "name ['a']: must be a string — fix it in conf.yaml"),
        ({"inner": {"size": True}}, "inner.size True: must be an integer — fix it in conf.yaml"),
        ({"inner": {"size": 1.5}}, "inner.size 1.5: must be an integer — fix it in conf.yaml"),
        ({"inner": {"rate": "fast"}}, "inner.rate 'fast': must be a number — fix it in conf.yaml"),
        ({"inner": {"rate": False}}, "inner.rate False: must be a number — fix it in conf.yaml"),
        ({"inner": 3}, "inner 3: must be a mapping of its keys — fix it in conf.yaml"),
        ({"maybe": "two"}, "maybe 'two': must be an integer — fix it in conf.yaml"),
    ],
)
def test_a_value_of_the_wrong_type_names_key_value_and_type(data, message):
    with pytest.raises(UsageError) as err:
        from_dict(Outer, data, "conf.yaml")
    assert str(err.value) == message


def test_a_nested_wrong_type_says_the_callers_fix():
    with pytest.raises(UsageError, match=r"^inner.size 'a': must be an integer — use a number$"):
        from_dict(Outer, {"inner": {"size": "a"}}, "conf.yaml", fix="use a number")


def test_unknown_keys_are_listed_with_the_valid_ones():
    with pytest.raises(SpeechseqError) as err:
        from_dict(Inner, {"sise": 1, "bad": 2}, "conf.yaml")
    assert str(err.value) == (
        "conf.yaml: unknown config key(s) bad, sise — valid keys are: size, rate"
    )
    with pytest.raises(SpeechseqError) as err:
        from_dict(Outer, {"inner": {"sise": 1}}, "conf.yaml")
    assert str(err.value).startswith("conf.yaml: inner: unknown config key(s) sise — ")


def test_sections_of_takes_only_the_classes_sections():
    cfg = sections_of(Outer, {"name": "z", "data": {"train": "x"}}, "config.yaml")
    assert cfg == Outer(name="z")
    with pytest.raises(UsageError, match="name 1: must be a string — fix it in config.yaml$"):
        sections_of(Outer, {"name": 1}, "config.yaml")


def test_to_dict_and_yaml_round_trip(tmp_path):
    cfg = Outer("y", True, (3, 4), Inner(2, 1.5), None)
    d = to_dict(cfg)
    assert d == {
        "name": "y",
        "flag": True,
        "dims": [3, 4],
        "inner": {"size": 2, "rate": 1.5},
        "maybe": None,
    }
    write_yaml(tmp_path / "c.yaml", d)
    assert (tmp_path / "c.yaml").read_text() == (
        "name: y\nflag: true\ndims:\n- 3\n- 4\ninner:\n  size: 2\n  rate: 1.5\nmaybe: null\n"
    )
    assert list(read_yaml(tmp_path / "c.yaml")) == list(d)  # order kept, not sorted
    assert from_dict(Outer, read_yaml(tmp_path / "c.yaml"), "c.yaml") == cfg


def test_read_yaml_errors_name_the_file(tmp_path):
    with pytest.raises(SpeechseqError, match="c.yaml: config file not found — check the path"):
        read_yaml(tmp_path / "c.yaml")
    (tmp_path / "c.yaml").write_text("a: [1\n")
    with pytest.raises(SpeechseqError, match=r"(?s)c.yaml: not valid YAML \(.*\) — fix the file"):
        read_yaml(tmp_path / "c.yaml")
    (tmp_path / "c.yaml").write_text("- 1\n")
    with pytest.raises(SpeechseqError, match="c.yaml: expected a mapping of sections"):
        read_yaml(tmp_path / "c.yaml")
    (tmp_path / "c.yaml").write_text("")
    assert read_yaml(tmp_path / "c.yaml") == {}


def test_replace_ignores_options_not_given():
    assert replace(Inner(2, 0.1), size=None, rate=0.2) == Inner(2, 0.2)


@dataclass(frozen=True)
class Deep:
    inner: Inner = field(default_factory=lambda: Inner(size=7, rate=0.25))


@dataclass(frozen=True)
class Task:
    """A task whose sections' defaults are not their classes' defaults (as HybridConfig's train)."""

    deep: Deep = field(default_factory=lambda: Deep(Inner(size=3, rate=0.125)))
    inner: Inner = field(default_factory=lambda: Inner(size=9))


def test_a_partial_section_keeps_the_tasks_defaults_for_the_keys_it_leaves_out():
    cfg = from_dict(Task, {"inner": {"rate": 0.75}, "deep": {"inner": {"size": 4}}}, "c.yaml")
    assert cfg.inner == Inner(size=9, rate=0.75)  # size from Task's default, not Inner's 1
    assert cfg.deep.inner == Inner(size=4, rate=0.125)  # two levels down, from Task's default too
    assert from_dict(Task, {"deep": {}}, "c.yaml") == Task()


def test_a_cli_option_alone_keeps_every_other_default_of_the_task():
    """`train-hybrid --seed 3` without a config: the hybrid's train defaults, not TrainConfig's."""
    from speechseq.core.experiment import resolve_config
    from speechseq.embed.model import EmbedConfig
    from speechseq.hybrid.task import HybridConfig

    cfg = resolve_config(HybridConfig, None, {"train": {"seed": 3, "lr": None}})
    assert cfg.train == replace(HybridConfig().train, seed=3)
    assert cfg.train.max_frames != type(cfg.train)().max_frames  # the test means something
    emb = resolve_config(EmbedConfig, None, {"encoder": {"hidden": 64}})
    assert emb.encoder == replace(EmbedConfig().encoder, hidden=64)
