"""recipes/synth_digits/run.sh --cross-engine true on a tiny corpus with a tiny model: the
leave-one-engine-out stages (Piper and mixed corpora, a model per training engine, every
model decoded on both engines' held-out speakers) run through the recipe and fill the table;
then --both union trains the both-engines model on all of each engine's (augmented) speech, and
that stage continued after an interruption reuses the union it made.
The same for recipes/synth_commands/run.sh, with the LSTM-HMM hybrid (--hybrid true), whose
espeak-trained models are decoded on Piper's test speakers too; and recipes/synth_digits_hybrid's
stage 8, its espeak-trained GMM and BLSTM (trained with --augment true) on Piper's test speakers."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from speechseq.synth import piper
from tests.hybrid.helpers import TINY_HYBRID
from tests.recipes.helpers import copy_recipe, recipe_env

PIPER_MISSING = piper.missing()

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash"),
    pytest.mark.skipif(
        PIPER_MISSING is not None,
        reason=f"Piper is not installed here ({PIPER_MISSING}); the piper extra installs it",
    ),
]

TINY = """encoder: {subsample: stack3, rnn: lstm, hidden: 16, layers: 1, bidirectional: true}
train: {max_epochs: 1, max_frames: 3000, lr: 0.004}
ctc: {units: char, cmvn: utterance}
"""


def test_leave_one_engine_out_stages_train_and_decode_across_engines(tmp_path):
    recipe = copy_recipe(tmp_path, "synth_digits")
    (recipe / "conf" / "tiny.yaml").write_text(TINY)
    args = ["--num-utts", "30", "--num-speakers", "6", "--config", "conf/tiny.yaml"]
    args += ["--augment", "true", "--perturb", "true", "--cross-engine", "true", "--nj", "1"]
    proc = _run(recipe, tmp_path, *args)
    data = recipe / "data"
    for e, prefixes in (("piper", {"p"}), ("mix", {"p", "t", "d"})):
        for s in ("train", "dev", "test"):
            assert (data / e / s / "spk2utt").read_text() and (data / e / s / "ctm").is_file()
        assert {
            ln[0] for ln in (data / e / "train" / "spk2utt").read_text().splitlines()
        } <= prefixes
    # the Piper test set says the espeak test set's sentences
    texts = [
        sorted(ln.split(maxsplit=1)[1] for ln in (d / "text").read_text().splitlines())
        for d in (data / "test", data / "piper" / "test")
    ]
    assert texts[0] == texts[1]
    rows = (recipe / "exp" / "leave_one_engine_out.txt").read_text().splitlines()
    assert rows[0].split()[:3] == ["model", "trained_on", "tested_on"]
    cells = [r.split()[:3] for r in rows[1:]]
    assert cells == [
        [m, on, by]
        for m, on in (("ctc", "espeak"), ("ctc_piper", "piper"), ("ctc_mix", "espeak+piper"))
        for by in ("espeak", "piper")
    ]
    assert all(re.search(r"%WER \d+\.\d+ \[ \d+ / \d+,", r) for r in rows[1:])
    for m in ("ctc_piper", "ctc_mix"):
        assert (recipe / "exp" / m / "final.pt").is_file()
    assert (data / ".done.10").is_file()

    # --both union: stages 9-10 again, the both-engines model on all of each engine's training
    # speech, each with its augmented (and perturbed) copy
    proc = _run(recipe, tmp_path, *args, "--both", "union")
    assert re.findall(r"^== stage (\d+)", proc.stdout, re.M) == ["9", "10"]
    utts = {d: _utts(data / d) for d in ("train", "train_comb", "piper/train_comb", "both/train")}
    assert len(utts["train_comb"]) == 2 * len(utts["train"])
    assert utts["both/train"] == utts["train_comb"] | utts["piper/train_comb"]
    assert len(utts["both/train"]) == 4 * len(utts["train"])
    assert len(_utts(data / "both" / "train", "feats.scp")) == len(utts["both/train"])
    rows = (recipe / "exp" / "leave_one_engine_out.txt").read_text().splitlines()
    assert [r.split()[:2] for r in rows[5:]] == [["ctc_both", "espeak+piper"]] * 2
    assert (recipe / "exp" / "ctc_both" / "final.pt").is_file()

    # stage 9 interrupted in its training (its marker says started, not done): continued, it
    # reuses the union its attempt made instead of augmenting Piper's speech again
    (data / ".done.9").rename(data / ".started.9")
    made = (data / "both" / "train" / "feats.scp").stat().st_mtime_ns
    proc = _run(recipe, tmp_path, *args, "--both", "union", "--stage", "9", "--stop-stage", "9")
    assert "data/both/train: made by the interrupted attempt with these settings, reused" in (
        proc.stdout
    )
    assert "data/piper/train_comb: combined" not in proc.stdout + proc.stderr
    assert (data / "both" / "train" / "feats.scp").stat().st_mtime_ns == made
    assert (data / ".done.9").is_file()


def test_commands_leave_one_engine_out_with_the_hybrid(tmp_path):
    recipe = copy_recipe(tmp_path, "synth_commands")
    (recipe / "conf" / "tiny.yaml").write_text(TINY)
    (recipe / "conf" / "tiny_hybrid.yaml").write_text(TINY_HYBRID)
    args = ["--num-utts", "30", "--num-speakers", "6", "--config", "conf/tiny.yaml", "--nj", "2"]
    args += [
        "--lm-weights",
        "0.5",
        "--word-bonuses",
        "0",
        "--cross-engine",
        "true",
        "--augment",
        "true",
    ]
    args += ["--hybrid", "true", "--hybrid-config", "conf/tiny_hybrid.yaml", "--scales", "0.5 1.0"]
    args += ["--bonuses", "0,1"]
    _run(recipe, tmp_path, *args)
    rows = (recipe / "exp" / "leave_one_engine_out.txt").read_text().splitlines()
    assert [r.split()[:3] for r in rows[1:]] == [
        [m, on, by]
        for m, on in (("ctc", "espeak"), ("ctc_piper", "piper"), ("ctc_mix", "espeak+piper"))
        for by in ("espeak", "piper")
    ]
    # the hybrid trains on the CTC model's training set: data/train and its augmented copy
    assert _utts(recipe / "data" / "hybrid" / "train") == _utts(recipe / "data" / "train_comb")
    assert _utts(recipe / "data" / "hybrid" / "fbank" / "train", "feats.scp") == _utts(
        recipe / "data" / "train_comb"
    )
    assert len(_utts(recipe / "data" / "train_comb")) == 2 * len(_utts(recipe / "data" / "train"))
    # the hybrid's GMM and BLSTM on Piper's test speakers, beside CTC's, in the side-by-side table
    table = (recipe / "exp" / "ctc_vs_hybrid.txt").read_text().splitlines()
    assert [ln.split(":")[0] for ln in table] == [
        "exp/ctc/decode_test_nolm", "exp/ctc/decode_test_3gram", "exp/ctc/decode_test_3gram_lexicon",
        "exp/hybrid/mono/decode_test", "exp/hybrid/decode_test",
        "exp/ctc/decode_piper_test_3gram_lexicon", "exp/hybrid/mono/decode_piper_test",
        "exp/hybrid/decode_piper_test",
    ]  # fmt: skip
    assert all(re.search(r"%WER \d+\.\d+ \[ \d+ / \d+,", ln) for ln in table), table
    # decoded at the point espeak's dev chose for the espeak test set: same graph and options
    for m in ("exp/hybrid/mono", "exp/hybrid"):
        espeak, piper_ = (
            json.loads((recipe / m / d / "results.json").read_text())
            for d in ("decode_test", "decode_piper_test")
        )
        assert piper_["options"] == espeak["options"]
        assert piper_["data"].endswith("piper/test") and piper_["parts"] == 2
        assert piper_["utterances"] == len(_utts(recipe / "data" / "piper" / "test"))


def test_digits_hybrid_on_piper_speakers(tmp_path):
    recipe = copy_recipe(tmp_path, "synth_digits_hybrid")
    (recipe / "conf" / "tiny_hybrid.yaml").write_text(TINY_HYBRID)
    args = [
        "--num-utts",
        "40",
        "--num-speakers",
        "6",
        "--config",
        "conf/tiny_hybrid.yaml",
        "--nj",
        "2",
    ]
    args += ["--scales", "0.5 1.0", "--bonuses", "1,2", "--cross-engine", "true"]
    args += ["--augment", "true", "--perturb", "true", "--word-phones", "true"]
    _run(recipe, tmp_path, *args, "--stop-stage", "4")
    # --word-phones true: CMUdict's pronunciations with each phone tagged by its word, so "oh" and
    # the end of "zero" are different phones (and HMM states) in the lang the whole chain uses
    lexicon = (recipe / "data" / "lang" / "lexicon.txt").read_text().splitlines()
    assert "oh OW_oh" in lexicon and "zero Z_zero IY_zero R_zero OW_zero" in lexicon
    phones = (recipe / "data" / "lang" / "phones.txt").read_text().split()[::2]
    assert "OW_oh" in phones and "OW_zero" in phones and "OW" not in phones
    # --augment true: the GMM trains on and aligns data/train plus its augmented copy, whose fbank
    # copy the BLSTMs learn from
    data = recipe / "data"
    assert _utts(data / "train_comb") == _utts(data / "train") | _utts(data / "train_aug")
    assert len(_utts(data / "train_comb")) == 2 * len(_utts(data / "train"))
    for d in ("train_comb", "fbank/train_comb"):
        assert len(_utts(data / d, "feats.scp")) == 2 * len(_utts(data / "train")), d
    cmd = (recipe / "exp" / "hybrid" / "cmd.sh").read_text()
    assert (
        "train-hybrid data/fbank/train_comb " in cmd and "--bootstrap-train data/train_comb " in cmd
    )
    proc = _run(recipe, tmp_path, *args, "--stage", "8")
    assert re.findall(r"^== stage (\d+)", proc.stdout, re.M) == ["8"]
    rows = (recipe / "exp" / "leave_one_engine_out.txt").read_text().splitlines()
    assert rows[1].split() == ["model", "espeak", "piper", "ratio"]
    assert [r.split()[0] for r in rows[2:]] == ["exp/hybrid/mono", "exp/hybrid", "exp/hybrid"]
    # each row: the two decodes' %WER (espeak's test, Piper's), then their ratio
    for (pre, post), r in zip(
        (("mono/decode_", ""), ("decode_", ""), ("decode_", "_graph_loop")), rows[2:], strict=True
    ):
        wers = [
            (recipe / "exp" / "hybrid" / f"{pre}{t}{post}" / "wer").read_text().split()[1]
            for t in ("test", "piper_test")
        ]
        assert r.split()[-3:-1] == wers, r
    piper_test = recipe / "exp" / "hybrid" / "decode_piper_test_graph_loop" / "results.json"
    options = json.loads(piper_test.read_text())["options"]
    assert options["graph"] == "exp/hybrid/graph_loop"
    assert (
        options
        == json.loads((recipe / "exp/hybrid/decode_test_graph_loop/results.json").read_text())[
            "options"
        ]
    )


def _run(recipe, tmp_path, *args):
    proc = subprocess.run(
        ["bash", "run.sh", *args],
        cwd=recipe,
        env=recipe_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def _utts(d, table="utt2spk"):
    return {ln.split()[0] for ln in (d / table).read_text().splitlines()}
