"""A real recipe (recipes/synth_digits/run.sh, tiny corpus, tiny config) run twice with different
options: the second run redoes the stages the change touches (and those after them), skips the
others, and prints figures of the new run — never the old results (issue 12's demo complaint)."""

from __future__ import annotations

import re
import shutil

import pytest

from tests.recipes.helpers import copy_recipe, recipe_env, run_recipe

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")

TINY = """encoder: {{subsample: stack3, hidden: {hidden}, layers: 1, dropout: 0.0}}
train: {{max_epochs: {epochs}, max_frames: 4000, lr: 0.003, warmup_steps: 5, device: cpu, checkpoint_every: 0}}
ctc: {{units: char, cmvn: utterance, spec_augment: false}}
"""


def _train_line(proc) -> str:
    """synth's line for data/train (on stderr): "data/train: N utterances, S speakers, H hours"."""
    return next(ln for ln in proc.stderr.splitlines() if ln.startswith("data/train: "))


def test_a_second_run_with_more_utterances_redoes_the_corpus_and_prints_its_size(tmp_path):
    recipe = copy_recipe(tmp_path, "synth_digits")
    env = recipe_env(tmp_path)
    args = ["--num-speakers", "6", "--stop-stage", "0"]
    first = run_recipe(recipe, "--num-utts", "30", *args, env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert _train_line(first).startswith("data/train: 10 utterances")
    again = run_recipe(recipe, "--num-utts", "30", *args, env=env)
    assert "stage 0 (synthesise the digits corpus): done before with these settings, skipping" in (
        again.stdout
    )
    second = run_recipe(recipe, "--num-utts", "40", *args, env=env)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "settings changed since data/.done.0 was written: num_utts 30 -> 40" in second.stdout
    assert _train_line(second).startswith("data/train: 20 utterances")
    assert len((recipe / "data" / "train" / "text").read_text().splitlines()) == 20


@pytest.mark.slow
def test_a_second_run_with_another_config_retrains_and_reports_the_new_model(tmp_path):
    recipe = copy_recipe(tmp_path, "synth_digits")
    env = recipe_env(tmp_path)
    (recipe / "conf" / "tiny.yaml").write_text(TINY.format(hidden=24, epochs=1))
    common = ["--num-utts", "40", "--num-speakers", "8"]
    first = run_recipe(recipe, *common, "--config", "conf/tiny.yaml", env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    model_1 = (recipe / "exp" / "ctc" / "final.pt").read_bytes()
    (recipe / "conf" / "tiny.yaml").write_text(TINY.format(hidden=40, epochs=3))  # same name
    second = run_recipe(recipe, *common, "--config", "conf/tiny.yaml", env=env)
    assert second.returncode == 0, second.stdout + second.stderr
    out = second.stdout
    for n in range(4):  # corpus, validation, augmentation, features: unchanged
        assert re.search(rf"stage {n} \([^)]*\): done before with these settings, skipping", out)
    # the config file's content changed under the same name: its sha256 is in the marker
    assert re.search(
        r"settings changed since data/\.done\.4 was written: config conf/tiny\.yaml "
        r"\(sha256 \w+\) -> conf/tiny\.yaml \(sha256 \w+\)",
        out,
    )
    assert "== stage 4: train a character CTC model ==" in out
    assert "== stage 5: decode the held-out test speakers ==" in out
    assert (recipe / "exp" / "ctc" / "final.pt").read_bytes() != model_1
    assert "hidden: 40" in (recipe / "exp" / "ctc" / "config.yaml").read_text()
    # the figures printed are those of the new decode dirs, written after the new model
    printed = dict(re.findall(r"^(exp/ctc/decode_test_\w+): (%WER .*)$", out, re.M))
    assert len(printed) == 3
    final = (recipe / "exp" / "ctc" / "final.pt").stat().st_mtime
    for d, line in printed.items():
        assert (recipe / d / "wer").read_text().splitlines()[0] == line
        assert (recipe / d / "wer").stat().st_mtime >= final
