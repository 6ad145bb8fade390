"""The synthetic recipes that no other test runs — synth_commands, synth_translate and
synth_digits_hybrid — end to end on a tiny corpus with tiny models, through their run.sh: the
feature stages as one job per part (feats_parts), the trainings through cmd.sh's train_cmd, the
test decodes as one job per part merged into one decode dir (decode_parts; BLEU over all parts,
lattices merged), and each prints the lines its RESULTS file quotes. Slow (minutes each)."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest

from speechseq.core import checkpoint as ckpt
from tests.hybrid.helpers import TINY_HYBRID
from tests.recipes.helpers import REPO, copy_recipe, recipe_env, run_recipe
from tests.st.helpers import DEC, ENC, ST, TRAIN

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash"),
]

TINY_CTC = """encoder: {subsample: stack3, rnn: lstm, hidden: 16, layers: 1, bidirectional: true}
train: {max_epochs: 1, max_frames: 3000, lr: 0.004}
ctc: {units: char, cmvn: utterance}
"""
WER = r"%WER \d+\.\d+ \[ \d+ / \d+, \d+ ins, \d+ del, \d+ sub \]"
SMALL = ["--num-utts", "40", "--num-speakers", "6", "--nj", "2"]
TRI = "tri_leaves: 80, tri_iters: 2, tri_gauss: 150, tri_min_frames: 20, "  # tied triphone states


def _run(tmp_path, name: str, configs: dict[str, str], *args: str):
    recipe = copy_recipe(tmp_path, name)
    for file, text in configs.items():
        (recipe / "conf" / file).write_text(text)
    proc = run_recipe(recipe, *SMALL, *args, env=recipe_env(tmp_path), timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return recipe, proc.stdout


def _merged(decode_dir) -> None:
    """A decode dir made by decode_parts: the merge of 2 parts, the parts and the split gone."""
    import json

    assert json.loads((decode_dir / "results.json").read_text())["parts"] == 2
    assert not list(decode_dir.glob("part-*"))


def test_synth_commands_end_to_end_with_the_hybrid_beside_ctc(tmp_path):
    recipe, out = _run(
        tmp_path,
        "synth_commands",
        {"tiny.yaml": TINY_CTC, "tiny_hybrid.yaml": TINY_HYBRID.replace("hybrid: {", "hybrid: {" + TRI)},
        "--config", "conf/tiny.yaml", "--lm-weights", "0.5 1.0", "--word-bonuses", "0",
        "--hybrid", "true", "--hybrid-config", "conf/tiny_hybrid.yaml", "--scales", "0.5 1.0",
        "--bonuses", "0,1",
    )  # fmt: skip
    for kind in ("nolm", "3gram", "3gram_lexicon"):
        d = recipe / "exp" / "ctc" / f"decode_test_{kind}"
        assert re.search(rf"{d.relative_to(recipe)}: {WER}", out), kind
        _merged(d)
    assert len(list((recipe / "exp" / "ctc" / "decode_dev_3gram").glob("beam30_lm-3gram_w*"))) == 2
    assert (recipe / "data" / "test" / "feats.scp").is_file()
    assert not (recipe / "data" / "test" / "split2").exists()
    # the hybrid beside it (--hybrid true): GMM, triphone GMM (hybrid.tri_leaves) and BLSTM through
    # HCLG with the same 3-gram
    table = (recipe / "exp" / "ctc_vs_hybrid.txt").read_text().splitlines()
    assert [ln.split(":")[0] for ln in table] == [
        "exp/ctc/decode_test_nolm", "exp/ctc/decode_test_3gram", "exp/ctc/decode_test_3gram_lexicon",
        "exp/hybrid/mono/decode_test", "exp/hybrid/tri/decode_test", "exp/hybrid/decode_test",
    ]  # fmt: skip
    assert all(re.search(WER, ln) for ln in table)
    assert len(list((recipe / "exp" / "hybrid").glob("decode_dev_graph_*"))) == 4  # 2 scales x 2
    _merged(recipe / "exp" / "hybrid" / "decode_test")


def test_synth_translate_end_to_end(tmp_path):
    st = ENC + DEC + TRAIN + ST
    mt = (
        "encoder: {subsample: none, hidden: 16, layers: 1}\n" + DEC + TRAIN + ST
    )  # words in, characters out
    recipe, out = _run(
        tmp_path,
        "synth_translate",
        {"tiny_st.yaml": st, "tiny_ctc.yaml": TINY_CTC, "tiny_mt.yaml": mt},
        "--targets", "de", "--ways", "a",
        "--st-config", "conf/tiny_st.yaml", "--ctc-config", "conf/tiny_ctc.yaml",
        "--mt-config", "conf/tiny_mt.yaml",
    )  # fmt: skip
    summary = (recipe / "exp" / "bleu_summary").read_text()
    assert re.search(r"exp/st_de_a/decode_test_beam5: BLEU = \d+\.\d+", summary)
    assert re.search(r"exp/mt_de/decode_test_cascade_beam5: BLEU = \d+\.\d+", summary)
    _merged(recipe / "exp" / "st_de_a" / "decode_test_beam5")
    _merged(recipe / "exp" / "asr" / "decode_test_greedy")
    assert re.search(rf"English recogniser: {WER} \(greedy\)", out)


def test_synth_digits_hybrid_end_to_end(tmp_path):
    shutil.copytree(REPO / "benchmarks", tmp_path / "benchmarks")  # stage 5's word_boundaries.py
    recipe, out = _run(
        tmp_path,
        "synth_digits_hybrid",
        {"tiny.yaml": TINY_HYBRID.replace("hybrid: {", "hybrid: {" + TRI),
         "tiny_phone.yaml": TINY_CTC.replace("units: char", "units: phone")},
        "--config", "conf/tiny.yaml", "--scales", "0.5", "--bonuses", "0,1", "--stop-stage", "5",
        "--dry-ali", "true",
    )  # fmt: skip
    # --dry-ali: the GMM trained and aligned on data/dry (synth --dry-out), the BLSTMs on the corpus
    for s in ("train", "dev"):
        assert (recipe / "data" / "dry" / s / "feats.scp").is_file()
        assert (recipe / "data" / "dry" / s / "ctm").read_text() == (
            recipe / "data" / s / "ctm"
        ).read_text()
    cmd = (recipe / "exp" / "hybrid" / "cmd.sh").read_text()
    assert (
        "data/fbank/train" in cmd
        and "--bootstrap-train data/dry/train --bootstrap-dev data/dry/dev" in cmd
    )
    # stage 7: the hybrid started from a phone CTC model's alignments, beside the GMM-started one
    proc = run_recipe(recipe, *SMALL, "--config", "conf/tiny.yaml", "--scales", "0.5",
                      "--bonuses", "0,1", "--stage", "7", "--ctc-bootstrap", "true", "--dry-ali", "true",
                      "--phone-ctc-config", "conf/tiny_phone.yaml", env=recipe_env(tmp_path),
                      timeout=1200)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    table = (recipe / "exp" / "bootstrap.txt").read_text()
    for m in ("exp/hybrid", "exp/hybrid_ctcboot"):
        assert re.search(rf"^{m}: {WER}$", table, re.M), m
    assert re.search(r"exp/hybrid_ctcboot/ali_test/words.ctm +\d+ ", table)
    assert not (recipe / "exp" / "hybrid_ctcboot" / "mono").exists()
    # tied triphone states (hybrid.tri_leaves): the tree and triphone GMM decoded and aligned too,
    # the BLSTMs on its states; the CTC-started chain builds its own tree on the CTC alignments
    for m in ("exp/hybrid", "exp/hybrid_ctcboot"):
        assert (recipe / m / "tri" / "tree.json").is_file() and (recipe / m / "tree.json").is_file()
    assert "exp/hybrid/tri/ali_test/words.ctm" in out
    # word boundaries with the dry and the reverberated voices apart (--speakers data/test)
    assert re.search(r"\n  dry speakers +\d+ ", out) and "reverberant speakers" in out
    for m in ("exp/hybrid/mono", "exp/hybrid/tri", "exp/hybrid"):
        assert re.search(rf"{m} test: {WER}", out), m
        _merged(recipe / m / "decode_test")
        assert (recipe / m / "ali_test" / "words.ctm").read_text()
    # the BLSTM's dev grid: lattices rescored at each word bonus; the GMM's: FasterDecoder, the
    # acoustic scales alone (its lattice search at the beam GMM scores need is slower than real time)
    assert (recipe / "exp/hybrid/decode_test/lat.txt.gz").is_file()
    assert len(list((recipe / "exp/hybrid").glob("decode_dev_graph_graph_ac*"))) == 2
    assert not (recipe / "exp/hybrid/mono/decode_test/lat.txt.gz").exists()
    gmm_grid = [d.name for d in (recipe / "exp/hybrid/mono").glob("decode_dev_graph_graph_ac*")]
    assert gmm_grid == ["decode_dev_graph_graph_ac0.5_beam13"]
    assert "start mean/median ms" in out  # stage 5's word-boundary table
    # stage 4's digit-loop grammar (conf/digit_loop.txt): its own dev grid and test decode, every
    # hypothesis a string of 1 to 7 digits whatever the tiny model's scores say, or empty for an
    # utterance whose search reached no final state (listed in results.json)
    assert re.search(rf"exp/hybrid test \(graph_loop\): {WER}", out)
    loop = recipe / "exp" / "hybrid" / "decode_test_graph_loop"
    _merged(loop)
    hyps = [ln.split() for ln in (loop / "hyp.txt").read_text().splitlines()]
    assert hyps and all(len(h) - 1 <= 7 for h in hyps)
    failed = json.loads((loop / "results.json").read_text()).get("no_final_state", [])
    assert failed == sorted(h[0] for h in hyps if len(h) == 1)
    assert len(list((recipe / "exp" / "hybrid").glob("decode_dev_graph_graph_loop_ac*"))) == 2
    assert not (recipe / "data" / "test" / "split2").exists()
    # the GMMs read the MFCC (13 + deltas), the BLSTMs the 80-dim fbank of data/fbank/
    for e in ("hybrid", "hybrid_ctcboot"):
        assert "feature_dim: 80" in (recipe / "exp" / e / "config.yaml").read_text(), e
    gmm = np.load(recipe / "exp" / "hybrid" / "mono" / "gmm.npz")
    assert gmm["means"].shape[1] == 39


TINY_CONTRASTIVE = """encoder: {subsample: none, rnn: gru, hidden: 16, layers: 1, bidirectional: true}
train: {max_epochs: 1, max_frames: 3000, lr: 0.003, warmup_steps: 2, patience: 0}
embed: {objective: contrastive, contrastive_loss: nce, examples_per_word: 2, dim: 16, segments: ctm}
"""


def test_synth_std_commands_archive_and_atwv_at_dev_thresholds(tmp_path):
    """Stages 0-2, 7-8 (the words archive and its contrastive index), 15-19: the commands
    archive (one- and two-word terms inside sentences), eval-std with dev thresholds on both;
    20-22: the embedder with window negatives, evaluated the same way; 23-25: with the written
    view too; 26-29: the word-boundary detector's cuts of the archive and the queries; 30-32:
    the same on the commands archive, with a detector of its sentences' word boundaries; 33-35: a
    second words corpus as a large archive, searched with 26's and 27's models, plain and
    expanded, and against DTW on its first queries."""
    recipe = copy_recipe(tmp_path, "synth_std")
    (recipe / "conf" / "tiny.yaml").write_text(TINY_CONTRASTIVE)
    (recipe / "conf" / "tiny_negs.yaml").write_text(
        TINY_CONTRASTIVE.replace("segments: ctm}", "segments: ctm, window_negatives: 0.5}")
    )
    args = ["--num-utts", "60", "--commands-utts", "60", "--contrastive-config", "conf/tiny.yaml"]
    args += ["--large-utts", "60", "--expand", "3", "--large-expand", "4"]
    (recipe / "conf" / "tiny_multiview.yaml").write_text(
        TINY_CONTRASTIVE.replace(
            "segments: ctm}", "segments: ctm, window_negatives: 0.5, text_weight: 1.0}"
        )
    )
    (recipe / "conf" / "tiny_seg.yaml").write_text(
        "encoder: {subsample: none, rnn: gru, hidden: 16, layers: 1}\n"
        "train: {max_epochs: 1, max_frames: 3000, warmup_steps: 2}\n"
    )
    args += [
        "--negs-config",
        "conf/tiny_negs.yaml",
        "--multiview-config",
        "conf/tiny_multiview.yaml",
        "--segmenter-config",
        "conf/tiny_seg.yaml",
        "--cuts-config",
        "conf/tiny_multiview.yaml",
    ]
    env = recipe_env(tmp_path)
    for first, last in (("0", "2"), ("7", "8"), ("15", "35")):
        proc = run_recipe(
            recipe, *args, "--stage", first, "--stop-stage", last, env=env, timeout=1200
        )
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    terms = (recipe / "data" / "commands" / "queries" / "text").read_text().splitlines()
    assert any(len(t.split()) == 3 for t in terms)  # a query id and a two-word term
    for name in ("eval_std_commands", "eval_std_words"):
        table = (recipe / "exp" / f"{name}.txt").read_text().splitlines()
        assert table[0].split()[:7] == ["method", "MAP", "P@10", "P@N", "SD-AP", "ATWV", "MTWV"]
        assert [ln.split()[0] for ln in table[1:]] == ["embed", "dtw"]
        for half in ("dev", "eval"):
            assert (recipe / "exp" / name / half / "kws" / "embed" / "kwslist.xml").is_file()
    # the eval half's ATWV used the dev half's thresholds: its queries are other speakers'
    dev, ev = (
        set((recipe / "data" / "commands" / f"queries_{h}" / "spk2utt").read_text().split())
        for h in ("dev", "eval")
    )
    assert dev and ev and not dev & ev
    negs = (recipe / "exp" / "embedder_negs" / "train_segments").read_text()
    assert "<negative>" in negs
    for name in ("negs", "multiview", "cuts"):
        for table in (f"eval_std_{name}", f"eval_std_words_{name}"):
            lines = (recipe / "exp" / f"{table}.txt").read_text().splitlines()
            expanded = ["embed-qe"] if name == "cuts" else []  # stage 29 searches with --expand too
            assert [ln.split()[0] for ln in lines[1:]] == ["embed", *expanded]
        assert (
            recipe / "exp" / f"eval_std_words_{name}" / "eval" / "kws" / "embed" / "kwslist.xml"
        ).is_file()
    # the archive was searched in the segmenter's cuts, not in windows
    cuts = (recipe / "exp" / "archive_cuts").read_text().split()
    assert cuts and (recipe / "exp" / "archive_vecs_cuts" / "meta.json").is_file()
    meta = json.loads((recipe / "exp" / "archive_vecs_cuts" / "meta.json").read_text())
    assert meta["segments"] == "segments" and meta["count"] == len(cuts) // 4
    # the commands archive too, in its own detector's cuts, embedder and DTW side by side
    cuts = (recipe / "exp" / "commands_archive_cuts").read_text().split()
    meta = json.loads((recipe / "exp" / "commands_archive_vecs_cuts" / "meta.json").read_text())
    assert cuts and meta["count"] == len(cuts) // 4
    lines = (recipe / "exp" / "eval_std_commands_cuts.txt").read_text().splitlines()
    assert [ln.split()[0] for ln in lines[1:]] == ["embed", "embed-qe", "dtw"]
    assert (recipe / "exp" / "segmenter_commands" / "final.pt").is_file()
    final = ckpt.load(recipe / "exp" / "embedder_multiview" / "final.pt")
    assert final["meta"]["words"] and any(k.startswith("text.") for k in final["model"])
    # the large archive: a second corpus (its own seed), all of it, in stage 26's segmenter's cuts
    large = (recipe / "data" / "large" / "all" / "wav.scp").read_text().splitlines()
    small = (recipe / "data" / "archive" / "wav.scp").read_text().splitlines()
    assert len(large) > len(small)
    meta = json.loads((recipe / "exp" / "large_vecs" / "meta.json").read_text())
    assert meta["count"] == len((recipe / "exp" / "large_cuts").read_text().split()) // 4
    for table, methods in (("eval_std_large", ["embed", "embed-qe"]), ("eval_std_large_dtw", ["embed", "embed-qe", "dtw"])):  # fmt: skip
        lines = (recipe / "exp" / f"{table}.txt").read_text().splitlines()
        assert [ln.split()[0] for ln in lines[1:]] == methods
    assert (
        json.loads((recipe / "exp" / "eval_std_large" / "results.json").read_text())["top_k"]
        == 1000
    )
    # its queries' halves: the eval half's ATWV at the dev half's thresholds, other speakers
    lines = (recipe / "exp" / "eval_std_large_halves.txt").read_text().splitlines()
    assert [ln.split()[0] for ln in lines[1:]] == ["embed", "embed-qe"]
    dev, ev = (
        set((recipe / "data" / "large" / f"queries_{h}" / "spk2utt").read_text().split())
        for h in ("dev", "eval")
    )
    assert dev and ev and not dev & ev
    # stage 27 trained on the training set and its speaker-perturbed copy; the stages that expand
    # each searched with their own number of neighbours
    segs = (recipe / "exp" / "embedder_cuts" / "train_segments").read_text().split("\n")
    assert any(ln.startswith("spk") for ln in segs) and any(ln.startswith("tr") for ln in segs)
    aug = (recipe / "data" / "train_perturbed" / "augment.tsv").read_text()
    assert "vtlp" in aug and "noise" not in aug.split("\n", 1)[1]
    for table, n in (("eval_std_cuts", 3), ("eval_std_large", 4)):
        assert json.loads((recipe / "exp" / table / "results.json").read_text())["expand"] == n
