"""Every CTC and hybrid config a recipe ships loads as the config its command reads (an unknown
key or an out-of-range value in one fails here, not hours into a recipe run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from speechseq.asr.ctc import CTCConfig
from speechseq.core.config import read_yaml, sections_of
from speechseq.hybrid.task import HybridConfig

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
CTC = sorted(RECIPES.glob("*/conf/ctc*.yaml"))
HYBRID = sorted(RECIPES.glob("*/conf/hybrid*.yaml"))


def test_the_recipes_ship_configs():
    assert len(CTC) >= 8 and len(HYBRID) >= 5


@pytest.mark.parametrize("path", CTC, ids=lambda p: str(p.relative_to(RECIPES)))
def test_ctc_config_loads(path):
    sections_of(CTCConfig, read_yaml(path), str(path))


@pytest.mark.parametrize("path", HYBRID, ids=lambda p: str(p.relative_to(RECIPES)))
def test_hybrid_config_loads(path):
    sections_of(HybridConfig, read_yaml(path), str(path))


@pytest.mark.parametrize("recipe", ["synth_digits", "synth_commands"])
def test_vtlp_config_is_the_recipe_config_with_vtlp(recipe):
    conf = RECIPES / recipe / "conf"
    base = sections_of(CTCConfig, read_yaml(conf / "ctc.yaml"), "ctc.yaml")
    vtlp = sections_of(CTCConfig, read_yaml(conf / "ctc_vtlp.yaml"), "ctc_vtlp.yaml")
    assert vtlp.ctc.vtlp == 0.2 and base.ctc.vtlp == 0.0
    assert (vtlp.encoder, vtlp.train) == (base.encoder, base.train)


def test_hybrid_vtlp_config_is_the_recipe_config_with_vtlp():
    conf = RECIPES / "synth_digits_hybrid" / "conf"
    base = sections_of(HybridConfig, read_yaml(conf / "hybrid.yaml"), "hybrid.yaml")
    vtlp = sections_of(HybridConfig, read_yaml(conf / "hybrid_vtlp.yaml"), "hybrid_vtlp.yaml")
    assert vtlp.hybrid.vtlp == 0.2 and base.hybrid.vtlp == 0.0
    assert (vtlp.encoder, vtlp.train) == (base.encoder, base.train)
    assert (
        vtlp.hybrid.mono_gauss == base.hybrid.mono_gauss
        and vtlp.hybrid.realign == base.hybrid.realign
    )
