"""The hybrid through the CLI on the tiny digits corpus: prepare-lang, train-hybrid,
mkgraph (LM and grammar), decode --graph, align; and its bad inputs, one error line each."""

from __future__ import annotations

import gzip
import json
import re
import shutil

import kaldiio
import numpy as np
import pytest

from speechseq.data.kaldi_dir import read_table
from speechseq.data.ops import split_data_dir
from tests.hybrid.helpers import ok, one_error
from tests.recipes.helpers import REPO, recipe_env, run_recipe

DIGITS = "zero | oh | one | two | three | four | five | six | seven | eight | nine"


def _mkgraph(hybrid, model, out):
    """HCLG of the fixture's lang and bigram for ``model``."""
    ok(["mkgraph", hybrid / "lang", model, "--lm", hybrid / "lm.arpa", "--out", out])


def test_end_to_end_train_graph_decode_align(hybrid, digits_corpus):
    exp, d = hybrid / "exp", digits_corpus
    for name in ("mono/gmm.npz", "mono/.done", "lstm1/final.pt", "lstm1/ali_train.ark",
                 "final.pt", "priors.txt", "trans.json", "lang.json"):  # fmt: skip
        assert (exp / name).is_file(), name
    history = json.loads((exp / "mono" / "history.json").read_text())
    assert len(history) == 2
    ok(["mkgraph", hybrid / "lang", exp, "--lm", hybrid / "lm.arpa", "--out", exp / "graph"])
    out = ok(["decode", exp, d / "test", "--graph", exp / "graph", "--device", "cpu",
              "--out", hybrid / "dec"])  # fmt: skip
    assert re.search(r"%WER [\d.]+ \[ \d+ / \d+, \d+ ins, \d+ del, \d+ sub \]", out)
    for name in ("hyp.txt", "per_utt", "per_spk", "wer", "results.json"):
        assert (hybrid / "dec" / name).is_file(), name
    assert json.loads((hybrid / "dec" / "results.json").read_text())["rtf"] > 0
    # the GMM decodes over its own graph the same way
    _mkgraph(hybrid, exp / "mono", exp / "mono" / "graph")
    ok(
        [
            "decode",
            exp / "mono",
            d / "test",
            "--graph",
            exp / "mono" / "graph",
            "--out",
            hybrid / "gdec",
        ]
    )
    assert (hybrid / "gdec" / "wer").read_text().startswith("%WER")
    ok(["align", exp, d / "dev", "--out", hybrid / "ali" / "dev.ctm", "--device", "cpu"])
    got: dict[str, list[str]] = {}
    for line in (hybrid / "ali" / "dev.ctm").read_text().splitlines():
        utt, _, start, dur, word = line.split()
        got.setdefault(utt, []).append(word)
        assert float(dur) > 0
    text = dict(line.split(maxsplit=1) for line in (d / "dev" / "text").read_text().splitlines())
    assert len(got) >= len(text) // 2  # a one-epoch LSTM may fail to align a few
    assert all(words == text[utt].split() for utt, words in got.items())
    assert (hybrid / "ali" / "dev.phones.ctm").is_file() and (
        hybrid / "ali" / "dev.ali.ark"
    ).is_file()
    # a rerun finds every step done
    out = ok(["train-hybrid", d / "train", "--dev", d / "dev", "--lang", hybrid / "lang",
              "--out", exp, "--config", hybrid / "conf.yaml"])  # fmt: skip
    assert "mono: done, skipping" in out and "exp: done, skipping" in out


def test_grammar_graph_gives_exactly_four_words(hybrid, digits_corpus):
    exp = hybrid / "exp"
    (hybrid / "g.txt").write_text(f"<digit> = {DIGITS}\n<main> = <digit>{{4}}\n")
    ok(["mkgraph", hybrid / "lang", exp, "--grammar", hybrid / "g.txt", "--out", hybrid / "g4"])
    ok(["decode", exp, digits_corpus / "test", "--graph", hybrid / "g4", "--out", hybrid / "d4",
        "--device", "cpu", "--acoustic-scale", "1.0"])  # fmt: skip
    empty = []
    for line in (hybrid / "d4" / "hyp.txt").read_text().splitlines():
        assert len(line.split()) in (1, 5), line  # the id, then four words (or none: no path)
        if len(line.split()) == 1:
            empty.append(line.split()[0])
    results = json.loads((hybrid / "d4" / "results.json").read_text())
    assert results.get("no_final_state", []) == sorted(empty)


def test_utterances_that_reach_no_final_state_are_listed_and_said(hybrid, digits_corpus, tmp_path):
    """A grammar of 50 digits twice over: no test utterance is long enough for any path to end."""
    exp = hybrid / "exp"
    (hybrid / "g100.txt").write_text(f"<digit> = {DIGITS}\n<main> = <digit>{{50}} <digit>{{50}}\n")
    ok(
        [
            "mkgraph",
            hybrid / "lang",
            exp,
            "--grammar",
            hybrid / "g100.txt",
            "--out",
            hybrid / "g100",
        ]
    )
    ids = sorted(read_table(digits_corpus / "test" / "text"))
    for how in ([], ["--lattice"]):  # FasterDecoder; LatticeSimpleDecoder (no partial paths)
        out = ok(["decode", exp, digits_corpus / "test", "--graph", hybrid / "g100", "--out",
                  hybrid / "d100", "--device", "cpu", *how])  # fmt: skip
        results = json.loads((hybrid / "d100" / "results.json").read_text())
        assert results["no_final_state"] == ids
        assert f"{len(ids)} of {len(ids)} utterance(s) reached no final state of the graph" in out
        assert f"(first: {ids[0]}; all in results.json)" in out
        hyps = (hybrid / "d100" / "hyp.txt").read_text().splitlines()
        assert sorted(h.split()[0] for h in hyps) == ids and all(len(h.split()) == 1 for h in hyps)
    # decoded in two parts and merged: the parts' lists joined
    data = tmp_path / "test"
    shutil.copytree(digits_corpus / "test", data)
    for k, part in enumerate(split_data_dir(data, 2), start=1):
        ok(["decode", exp, part, "--graph", hybrid / "g100", "--out", tmp_path / "m" / f"part-{k}"])
    out = ok(["decode", exp, data, "--from-parts", data / "split2", "--out", tmp_path / "m"])
    assert json.loads((tmp_path / "m" / "results.json").read_text())["no_final_state"] == ids
    assert f"{len(ids)} of {len(ids)} utterance(s) reached no final state" in out


# ---- bad inputs -------------------------------------------------------------------------------


PHONE_CTC = (
    "encoder: {subsample: stack3, hidden: 32, layers: 1, dropout: 0.0}\n"
    "train: {max_epochs: 1, max_frames: 4000, warmup_steps: 2, device: cpu, checkpoint_every: 0}\n"
    "ctc: {units: phone, spec_augment: false}\n"
)


def test_train_hybrid_bootstrapped_from_a_phone_ctc_model(hybrid, digits_corpus, tmp_path):
    d = digits_corpus
    (tmp_path / "ctc.yaml").write_text(PHONE_CTC)
    ok(["train-ctc", d / "train", "--dev", d / "dev", "--out", tmp_path / "ctc",
        "--config", tmp_path / "ctc.yaml"])  # fmt: skip
    out = ok(["train-hybrid", d / "train", "--dev", d / "dev", "--lang", hybrid / "lang",
              "--out", tmp_path / "exp", "--config", hybrid / "conf.yaml",
              "--ctc-bootstrap", tmp_path / "ctc"])  # fmt: skip
    exp = tmp_path / "exp"
    assert not (exp / "mono").exists()  # no GMM: the CTC model's alignments start the chain
    n_train = len(read_table(d / "train" / "text"))
    assert f"{exp}/ctc_ali: {n_train} utterances of {d / 'train'} aligned with" in out
    for name in ("ctc_ali/ali_train.ark", "ctc_ali/trans.json", "lstm1/final.pt", "final.pt"):
        assert (exp / name).is_file(), name
    ali = dict(kaldiio.load_ark(str(exp / "ctc_ali" / "ali_train.ark")))
    frames = read_table(d / "train" / "utt2num_frames")
    assert len(ali) == n_train and all(len(a) == int(frames[u]) for u, a in ali.items())
    assert (
        f"alignments: {(exp / 'ctc_ali').resolve()}" in (exp / "lstm1" / "config.yaml").read_text()
    )
    # a character CTC model cannot start it
    one_error(["train-hybrid", d / "train", "--dev", d / "dev", "--lang", hybrid / "lang",
               "--out", tmp_path / "exp2", "--config", hybrid / "conf.yaml",
               "--ctc-bootstrap", hybrid / "exp"], 1,
              r"a hybrid model — hybrid.ctc_bootstrap needs a CTC model of phone units")  # fmt: skip
    one_error(["train-hybrid", d / "train", "--dev", d / "dev", "--lang", hybrid / "lang",
               "--out", tmp_path / "exp3", "--config", hybrid / "conf.yaml",
               "--ctc-bootstrap", tmp_path / "nope"], 1,
              r"nope: no config.yaml — not a speechseq model directory")  # fmt: skip
    assert not (tmp_path / "exp2").exists() and not (tmp_path / "exp3").exists()


def _mfcc_copy(src, dst, **settings):
    """``src`` (a data dir of the digits corpus) with 13-dim MFCC instead of its fbank."""
    from speechseq.features import FeatureConfig, compute_feats

    dst.mkdir(parents=True)
    for name in ("wav.scp", "utt2spk", "spk2utt", "text"):
        shutil.copy(src / name, dst / name)
    compute_feats(dst, FeatureConfig(type="mfcc", dither=0.0, **settings), progress=False)
    return dst


def test_train_hybrid_with_the_gmm_on_other_features(hybrid, digits_corpus, tmp_path):
    """The GMM on 13 MFCC (+ deltas: 39 dims), the LSTMs on the corpus's 40 fbank, as Kaldi's
    data/train beside data/train_hires."""
    d = digits_corpus
    mtr, mdv = (
        _mfcc_copy(d / "train", tmp_path / "mtrain"),
        _mfcc_copy(d / "dev", tmp_path / "mdev"),
    )
    exp = tmp_path / "exp"
    ok(["train-hybrid", d / "train", "--dev", d / "dev", "--lang", hybrid / "lang", "--out", exp,
        "--config", hybrid / "conf.yaml", "--bootstrap-train", mtr, "--bootstrap-dev", mdv])  # fmt: skip
    z = np.load(exp / "mono" / "gmm.npz")
    assert z["means"].shape[1] == 39  # the GMM read the MFCC dirs (on the fbank it would be 120)
    assert "feature_dim: 40" in (exp / "config.yaml").read_text()
    assert "feature_dim: 40" in (exp / "lstm1" / "config.yaml").read_text()
    frames = read_table(d / "train" / "utt2num_frames")
    ali = dict(kaldiio.load_ark(str(exp / "mono" / "ali_train.ark")))
    assert ali and all(len(a) == int(frames[u]) for u, a in ali.items())
    # the model decodes the fbank dir, its GMM the MFCC one
    ok(["align", exp, d / "dev", "--out", tmp_path / "ali.ctm", "--device", "cpu"])
    ok(["align", exp / "mono", mdv, "--out", tmp_path / "gali.ctm"])
    assert (tmp_path / "gali.ctm").read_text().strip()


def test_train_hybrid_with_tied_triphone_states(hybrid, digits_corpus, tmp_path):
    """--tri-leaves: the tree and triphone GMM on the monophone alignments (EXP/tri), the LSTM
    on its tied states, HCLG with C, decoding and alignment with the tree."""
    d, exp = digits_corpus, tmp_path / "exp"
    shutil.copytree(hybrid / "exp" / "mono", exp / "mono")  # the same monophone GMM, done
    (tmp_path / "conf.yaml").write_text(
        (hybrid / "conf.yaml")
        .read_text()
        .replace(
            "hybrid: {",
            "hybrid: {tri_iters: 2, tri_gauss: 200, tri_min_frames: 20, realign: false, ",
        )
    )
    out = ok(["train-hybrid", d / "train", "--dev", d / "dev", "--lang", hybrid / "lang", "--out", exp,
              "--config", tmp_path / "conf.yaml", "--tri-leaves", 80])  # fmt: skip
    assert "mono: done, skipping" in out and "tri iter 2" in out
    tree = json.loads((exp / "tri" / "tree.json").read_text())
    assert (
        tree["width"] == 3
        and (exp / "tree.json").read_text() == (exp / "tri" / "tree.json").read_text()
    )
    num_pdfs = len((exp / "priors.txt").read_text().split())
    mono_pdfs = len(json.loads((exp / "mono" / "trans.json").read_text())["loop_prob"])
    assert mono_pdfs < num_pdfs <= 80
    ali = dict(kaldiio.load_ark(str(exp / "tri" / "ali_train.ark")))
    assert max(int(a.max()) for a in ali.values()) >= mono_pdfs  # tied states, not monophone ones
    for model in (exp, exp / "tri"):
        ok(
            [
                "mkgraph",
                hybrid / "lang",
                model,
                "--lm",
                hybrid / "lm.arpa",
                "--out",
                model / "graph",
            ]
        )
        info = json.loads((model / "graph" / "graph.json").read_text())
        assert info["context_width"] == 3 and info["num_pdfs"] == num_pdfs
        ok(["decode", model, d / "test", "--graph", model / "graph", "--device", "cpu",
            "--out", model / "dec"])  # fmt: skip
        assert (model / "dec" / "wer").read_text().startswith("%WER")
    ok(["align", exp / "tri", d / "dev", "--out", tmp_path / "ali.ctm"])
    text = dict(line.split(maxsplit=1) for line in (d / "dev" / "text").read_text().splitlines())
    got: dict[str, list[str]] = {}
    for line in (tmp_path / "ali.ctm").read_text().splitlines():
        got.setdefault(line.split()[0], []).append(line.split()[4])
    assert got and all(words == text[u].split() for u, words in got.items())
    # a monophone graph for a triphone model is refused by the decoder (pdf counts differ)
    _mkgraph(hybrid, exp / "mono", tmp_path / "mgraph")
    one_error(["decode", exp, d / "test", "--graph", tmp_path / "mgraph", "--device", "cpu",
               "--out", tmp_path / "bad"], 1, r"the graph has \d+ pdfs, the model \d+")  # fmt: skip


def test_train_hybrid_bootstrap_data_that_does_not_match(hybrid, digits_corpus, tmp_path):
    d = digits_corpus
    base = ["train-hybrid", d / "train", "--dev", d / "dev", "--lang", hybrid / "lang",
            "--config", hybrid / "conf.yaml"]  # fmt: skip
    one_error(base + ["--out", tmp_path / "e1", "--bootstrap-train", d / "train"], 2,
              r"--bootstrap-train and --bootstrap-dev go together")  # fmt: skip
    shifted = _mfcc_copy(d / "dev", tmp_path / "m15", frame_shift_ms=15.0)
    one_error(base + ["--out", tmp_path / "e2", "--bootstrap-train", d / "train",
                      "--bootstrap-dev", shifted], 1,
              r"m15: utterance \S+ has \d+ frames, \d+ in .*dev — compute both feature sets "
              r"with the same frame length and shift")  # fmt: skip
    one_error(base + ["--out", tmp_path / "e3", "--bootstrap-train", d / "dev",
                      "--bootstrap-dev", d / "dev"], 1,
              r"dev/feats.scp: no utterance \S+ of .*train — the bootstrap data dir must hold "
              r"the same utterances")  # fmt: skip
    assert not any((tmp_path / e).exists() for e in ("e1", "e2", "e3"))


def test_prepare_lang_with_words_missing_from_the_lexicon(tmp_path, digits_corpus):
    (tmp_path / "lex.txt").write_text("one W AH N\n")
    one_error(["prepare-lang", tmp_path / "lex.txt", tmp_path / "lang",
               "--words-from", digits_corpus / "train" / "text"],
              1, r"text: \d+ word\(s\) are not in the lexicon .*--grapheme-fallback")  # fmt: skip
    assert not (tmp_path / "lang").exists()


def test_mkgraph_with_a_grammar_that_does_not_parse(hybrid, tmp_path):
    (tmp_path / "g.txt").write_text("<digit> = one | two\n<main> = <digit> (two\n")
    one_error(["mkgraph", hybrid / "lang", hybrid / "exp", "--grammar", tmp_path / "g.txt",
               "--out", tmp_path / "g"], 1, r"g.txt:2: missing '\)'")  # fmt: skip
    assert not (tmp_path / "g").exists()


def test_mkgraph_with_an_lm_of_words_outside_the_lang(hybrid, tmp_path):
    (tmp_path / "t.txt").write_text("one two hello\n")
    ok(["lm", "train", tmp_path / "t.txt", "--order", "2", "--out", tmp_path / "lm.arpa"])
    one_error(["mkgraph", hybrid / "lang", hybrid / "exp", "--lm", tmp_path / "lm.arpa",
               "--out", tmp_path / "g"], 1, r"lm.arpa: 1 LM word\(s\) are not in .*words.txt: hello")  # fmt: skip


def test_mkgraph_with_both_lm_and_grammar_is_a_usage_error(hybrid, tmp_path):
    one_error(["mkgraph", hybrid / "lang", hybrid / "exp", "--lm", "a", "--grammar", "b",
               "--out", tmp_path / "g"], 2, r"exactly one of --lm")  # fmt: skip


def test_graph_from_another_lang_than_the_models(hybrid, digits_corpus, tmp_path):
    (tmp_path / "lex.txt").write_text("one W AH N\ntwo T UW\n")
    ok(["prepare-lang", tmp_path / "lex.txt", tmp_path / "lang"])
    one_error(["mkgraph", tmp_path / "lang", hybrid / "exp", "--lm", hybrid / "lm.arpa",
               "--out", tmp_path / "g"], 1, r"lang .* is not the one .*exp was trained with")  # fmt: skip
    # a graph dir of another lang handed to decode
    ok(
        [
            "mkgraph",
            hybrid / "lang",
            hybrid / "exp",
            "--lm",
            hybrid / "lm.arpa",
            "--out",
            tmp_path / "g2",
        ]
    )
    info = json.loads((tmp_path / "g2" / "graph.json").read_text())
    info["lang_digest"] = "0123456789abcdef"
    (tmp_path / "g2" / "graph.json").write_text(json.dumps(info))
    one_error(["decode", hybrid / "exp", digits_corpus / "test", "--graph", tmp_path / "g2",
               "--device", "cpu", "--out", tmp_path / "d"], 1, r"g2: the graph was built from another lang")  # fmt: skip


def test_alignments_whose_lengths_do_not_match_the_features(hybrid, digits_corpus, tmp_path):
    from speechseq.hybrid.align import read_alignments, write_alignments

    exp = tmp_path / "exp"
    shutil.copytree(hybrid / "exp" / "mono", exp / "mono")
    ali = read_alignments(exp / "mono" / "ali_train.ark")
    utt = sorted(ali)[1]
    ali[utt] = ali[utt][:-3]
    write_alignments(exp / "mono" / "ali_train.ark", ali)
    d = digits_corpus
    one_error(["train-hybrid", d / "train", "--dev", d / "dev", "--lang", hybrid / "lang",
               "--out", exp, "--config", hybrid / "conf.yaml"],
              1, rf"ali_train.ark: utterance {utt} has \d+ aligned frames but \d+ feature frames")  # fmt: skip


def test_decode_a_hybrid_model_without_a_graph(hybrid, digits_corpus):
    one_error(["decode", hybrid / "exp", digits_corpus / "test", "--device", "cpu"], 1,
              r"a hybrid model decodes over a graph — give --graph")  # fmt: skip


def test_decode_a_ctc_model_with_a_graph(hybrid, digits_corpus, tmp_path):
    (tmp_path / "ctc").mkdir()
    (tmp_path / "ctc" / "config.yaml").write_text("ctc: {}\n")
    one_error(["decode", tmp_path / "ctc", digits_corpus / "test", "--graph", tmp_path / "g"], 1,
              r"ctc: not a hybrid model \(no lang.json\) — --graph is for models of train-hybrid")  # fmt: skip


def test_train_with_a_transcript_word_missing_from_the_lang(hybrid, digits_corpus, tmp_path):
    (tmp_path / "lex.txt").write_text("one W AH N\ntwo T UW\n")
    ok(["prepare-lang", tmp_path / "lex.txt", tmp_path / "lang"])
    d = digits_corpus
    one_error(["train-hybrid", d / "train", "--dev", d / "dev", "--lang", tmp_path / "lang",
               "--out", tmp_path / "exp", "--config", hybrid / "conf.yaml"],
              1, r"dev/text: utterance \S+: word '\w+' is not in .*words.txt — add it to the lexicon")  # fmt: skip
    assert not (tmp_path / "exp" / "mono").exists()


@pytest.mark.slow  # 7 s; the hybrid recipe's stage 5 runs it too (tests/recipes/test_synth_recipes.py)
def test_align_parts_gives_the_files_of_one_hybrid_alignment(hybrid, digits_corpus, tmp_path):
    """recipes/utils/parallel.sh's align_parts (the hybrid recipe's stage 5): data/test aligned
    as one job per part and merged is the whole alignment — word CTM, phone CTM and state ark."""
    recipe = tmp_path / "recipes" / "r"
    shutil.copytree(REPO / "recipes" / "utils", tmp_path / "recipes" / "utils")
    shutil.copytree(digits_corpus / "test", recipe / "data" / "test")
    (recipe / "try.sh").write_text(
        "set -euo pipefail\nnj=2 cmd=local\n. ../utils/parallel.sh\n"
        f"align_parts {hybrid / 'exp'} data/test exp/ali/words.ctm\n"
        f"speechseq align {hybrid / 'exp'} data/test --out exp/whole/words.ctm\n"
    )
    proc = run_recipe(recipe, env=recipe_env(tmp_path), script="try.sh")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(list((recipe / "exp" / "log" / "align_exp_test").glob("*.log"))) == 2
    names = sorted(p.name for p in (recipe / "exp" / "whole").iterdir())
    assert sorted(p.name for p in (recipe / "exp" / "ali").iterdir()) == names
    assert any(n.endswith(".ark") for n in names) and len(names) >= 3
    for name in names:
        got = (recipe / "exp" / "ali" / name).read_bytes()
        assert got and got == (recipe / "exp" / "whole" / name).read_bytes(), name
    assert not (recipe / "data" / "test" / "split2").exists()


def _lattice_numbers(path) -> list[tuple[str, float]]:
    """Every token of a lat.txt.gz in order: (the token with its numbers masked, each number)."""
    out = []
    for tok in re.split(r"[\s,]+", gzip.decompress(path.read_bytes()).decode()):
        if re.fullmatch(r"-?\d+\.\d+(e-?\d+)?", tok):
            out.append(("#", float(tok)))
        elif tok:
            out.append((tok, 0.0))
    return out


def test_a_lattice_decode_in_parts_merged_is_the_whole_decode(hybrid, digits_corpus, tmp_path):
    """decode --graph --lattice of two parts, merged: the whole decode's scoring files and its
    lattices (lat.txt.gz, sorted by utterance)."""
    exp = hybrid / "exp"
    ok(["mkgraph", hybrid / "lang", exp, "--lm", hybrid / "lm.arpa", "--out", tmp_path / "graph"])
    data = tmp_path / "test"
    shutil.copytree(digits_corpus / "test", data)
    parts = split_data_dir(data, 2)
    opts = ["--graph", tmp_path / "graph", "--lattice", "--device", "cpu"]
    whole = ok(["decode", exp, data, *opts, "--out", tmp_path / "whole"])
    out = tmp_path / "merged"
    for k, part in enumerate(parts, start=1):
        ok(["decode", exp, part, *opts, "--out", out / f"part-{k}"])
    merged = ok(["decode", exp, data, "--from-parts", data / "split2", "--out", out])
    assert [ln for ln in merged.splitlines() if ln.startswith("%")] == [
        ln for ln in whole.splitlines() if ln.startswith("%")
    ]
    for name in ("hyp.txt", "per_utt", "per_spk", "wer"):
        assert (out / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name
    # the same lattices: the same utterances and arcs, weights equal to float rounding (the
    # network ran on other batches)
    got, want = (_lattice_numbers(d / "lat.txt.gz") for d in (out, tmp_path / "whole"))
    assert [w for w, _ in got] == [w for w, _ in want]
    assert len(got) > len(read_table(data / "utt2spk"))
    np.testing.assert_allclose([n for _, n in got], [n for _, n in want], rtol=1e-4, atol=1e-4)
    # a part decoded without --lattice is not the same decode
    ok(["decode", exp, parts[1], "--graph", tmp_path / "graph", "--out", out / "part-2"])
    ok(["decode", exp, parts[0], *opts, "--out", out / "part-1"])
    one_error(
        ["decode", exp, data, "--from-parts", data / "split2", "--out", out],
        1,
        r"part-2/results.json: other decode options than .*part-1 \(wer: .* against lattices",
    )


def test_a_model_trained_with_vtlp_decodes(hybrid, digits_corpus, tmp_path):
    """hybrid.vtlp warps training batches only: a model whose config has it loads for decoding
    (the task finds the features' settings in the model dir) and decodes as any other."""
    import yaml

    exp = tmp_path / "exp"
    shutil.copytree(hybrid / "exp", exp, ignore=shutil.ignore_patterns("graph", "mono", "lstm1"))
    cfg = yaml.safe_load((exp / "config.yaml").read_text())
    cfg.setdefault("hybrid", {})["vtlp"] = 0.1
    (exp / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    _mkgraph(hybrid, exp, tmp_path / "graph")
    ok(["decode", exp, digits_corpus / "dev", "--graph", tmp_path / "graph", "--device", "cpu",
        "--out", tmp_path / "dec"])  # fmt: skip
    assert (tmp_path / "dec" / "wer").read_text().startswith("%WER")
