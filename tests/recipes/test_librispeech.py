"""recipes/librispeech/run.sh on a tiny tree in LibriSpeech's exact layout, made from synthetic
speech (LibriSpeech/<subset>/SPK/CHAP/SPK-CHAP-NNNN.flac + SPK-CHAP.trans.txt): the data-prep
and feature stages; every stage with tiny configs (slow): decodes and alignments one job per
part, merged, and the spoken-term search over dev-clean; a corpus dir in another layout is one
clear error."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import soundfile as sf

from tests.recipes.helpers import copy_recipe, recipe_env, run_recipe

SUBSETS = {"train-clean-100": "train", "dev-clean": "dev", "test-clean": "test"}
# recipes/librispeech/RESULTS's tiny configs: a 2-epoch BPE CTC model, a 1-epoch embedder
TINY_CTC = (
    "encoder: {subsample: stack3, hidden: 32, layers: 1, dropout: 0.0}\n"
    "train: {max_epochs: 2, max_frames: 4000, lr: 0.003, warmup_steps: 5, checkpoint_every: 0}\n"
    "ctc: {units: bpe, bpe_size: 30, cmvn: utterance, spec_augment: false}\n"
)
TINY_EMBED = (
    "encoder: {subsample: none, rnn: gru, hidden: 8, layers: 1, dropout: 0.0}\n"
    "train: {max_epochs: 1, max_frames: 3000, warmup_steps: 2, checkpoint_every: 0}\n"
    "embed: {dim: 8, decoder_hidden: 8}\n"
)


def _libri_tree(corpus: Path, root: Path, per_subset: int = 6) -> dict[str, list[str]]:
    """``root/LibriSpeech/<subset>/`` from the digits corpus: speakers numbered 100, 101, ...,
    one chapter each, the first ``per_subset`` utterances of each set; returns the ids."""
    ids: dict[str, list[str]] = {}
    spk_num = 100
    for subset, s in SUBSETS.items():
        utt2spk = dict(ln.split() for ln in (corpus / s / "utt2spk").read_text().splitlines())
        wav = dict(ln.split(maxsplit=1) for ln in (corpus / s / "wav.scp").read_text().splitlines())
        text = dict(
            (ln.split(maxsplit=1) + [""])[:2]
            for ln in (corpus / s / "text").read_text().splitlines()
        )
        spk_ids: dict[str, str] = {}
        trans: dict[Path, list[str]] = {}
        for utt in sorted(utt2spk)[:per_subset]:
            spk = spk_ids.setdefault(utt2spk[utt], str(spk_num + len(spk_ids)))
            chap_dir = root / "LibriSpeech" / subset / spk / "7"
            chap_dir.mkdir(parents=True, exist_ok=True)
            lines = trans.setdefault(chap_dir / f"{spk}-7.trans.txt", [])
            new = f"{spk}-7-{len(lines):04d}"
            audio, sr = sf.read(wav[utt])
            sf.write(chap_dir / f"{new}.flac", audio, sr, format="FLAC")
            lines.append(f"{new} {text[utt].upper()}")
            ids.setdefault(subset, []).append(new)
        spk_num += len(spk_ids)
        for path, lines in trans.items():
            path.write_text("\n".join(lines) + "\n")
    return ids


def test_data_prep_and_features_on_a_tree_in_librispeech_layout(digits_corpus, tmp_path):
    ids = _libri_tree(digits_corpus, tmp_path / "corpus")
    recipe = copy_recipe(tmp_path, "librispeech")
    proc = run_recipe(
        recipe,
        "--corpus-dir",
        str(tmp_path / "corpus"),
        "--stop-stage",
        "1",
        env=recipe_env(tmp_path),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for subset, utts in ids.items():
        d = recipe / "data" / subset.replace("-", "_")
        assert [ln.split()[0] for ln in (d / "text").read_text().splitlines()] == sorted(utts)
        assert (d / "text").read_text().split("\n")[0].split()[1].isupper()
        scp = (d / "feats.scp").read_text().splitlines()
        assert sorted(ln.split()[0] for ln in scp) == sorted(utts)
        assert (d / "cmvn.ark").is_file() and "num_mel_bins: 80" in (
            d / "conf/feats.yaml"
        ).read_text()
    assert (recipe / "data" / ".done.1").is_file() and not (recipe / "data" / ".done.2").exists()


def test_a_corpus_dir_in_another_layout_is_one_clear_error(digits_corpus, tmp_path):
    recipe = copy_recipe(tmp_path, "librispeech")
    env = recipe_env(tmp_path)
    # the digits corpus: data dirs, not LibriSpeech's subsets
    proc = subprocess.run(
        ["bash", "run.sh", "--corpus-dir", str(digits_corpus), "--stop-stage", "1"],
        cwd=recipe,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "no train-clean-100/" in errors[0]
    assert "SPK/CHAP/SPK-CHAP-NNNN.flac" in errors[0]
    # subsets present, but flat: no SPK/CHAP folders
    flat = tmp_path / "flat" / "LibriSpeech"
    for subset in SUBSETS:
        (flat / subset).mkdir(parents=True)
        (flat / subset / "1-2.trans.txt").write_text("1-2-0000 ONE\n")
    proc = subprocess.run(
        ["bash", "run.sh", "--corpus-dir", str(tmp_path / "flat"), "--stop-stage", "1"],
        cwd=recipe,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert proc.returncode == 1 and len(errors) == 1, proc.stderr
    assert "train-clean-100: no SPK/CHAP/SPK-CHAP.trans.txt" in errors[0]
    assert not (recipe / "data" / "train_clean_100").exists()


@pytest.mark.slow
def test_every_stage_runs_on_the_tree_and_searches_dev_clean(digits_corpus, tmp_path):
    # every utterance of the corpus (20 train, 10 dev, 10 test): with fewer, dev words hold
    # letters the training text's BPE model lacks
    _libri_tree(digits_corpus, tmp_path / "corpus", per_subset=20)
    recipe = copy_recipe(tmp_path, "librispeech")
    (recipe / "conf" / "tiny.yaml").write_text(TINY_CTC)
    (recipe / "conf" / "tiny_embed.yaml").write_text(TINY_EMBED)
    env = recipe_env(tmp_path)
    proc = subprocess.run(
        ["bash", "run.sh", "--corpus-dir", str(tmp_path / "corpus"), "--config", "conf/tiny.yaml"]
        + ["--embed-config", "conf/tiny_embed.yaml"],
        cwd=recipe,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    exp = recipe / "exp"
    wer = [ln for ln in proc.stdout.splitlines() if re.match(r"exp/ctc_bpe/decode_\w+: %WER ", ln)]
    # decodes, alignments and dev-clean's embedding one job per part, merged
    assert len(wer) == 4 and proc.stderr.count("(from 2 parts, their times added up)") == 4
    assert re.search(
        r"aligned 20 utterances in 2 parts: exp/ctc_bpe/ali_train_clean_100/", proc.stderr
    )
    assert re.search(r"aligned 10 utterances in 2 parts: exp/ctc_bpe/ali_dev_clean/", proc.stderr)
    assert re.search(
        r"exp/embedder/vecs_dev_clean: \d+ vectors of dimension 8 from 2 parts", proc.stderr
    )
    for d in exp.glob("ctc_bpe/decode_*"):  # merged: the parts' dirs are gone
        assert sorted(p.name for p in d.iterdir()) == sorted(
            ["hyp.txt", "per_spk", "per_utt", "results.json", "wer"]
        ), d
    for s in ("train_clean_100", "dev_clean"):
        ctm = (exp / "ctc_bpe" / f"ali_{s}" / "words.ctm").read_text().splitlines()
        assert ctm and not (recipe / "data" / s / "split2").exists()
    assert (recipe / "data" / "train_clean_100" / "ctm").is_file()
    assert (exp / "embedder" / "final.pt").is_file()
    # dev-clean embedded in two parts is the whole embedding, and the index holds it
    vecs = exp / "embedder" / "vecs_dev_clean"
    res = subprocess.run(
        ["speechseq", "embed", "exp/embedder", "data/dev_clean", "--out", str(tmp_path / "whole")],
        cwd=recipe,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    table = (vecs / "segments.tsv").read_text()
    assert table == (tmp_path / "whole" / "segments.tsv").read_text()
    assert (exp / "embedder" / "index_dev_clean" / "segments.tsv").read_text() == table
    # the search: training-set words (other speakers) in dev-clean, scored
    queries = (recipe / "data" / "queries" / "text").read_text().splitlines()
    assert queries and all(len(q.split()) == 2 and len(q.split()[1]) >= 4 for q in queries)
    rows = (exp / "embedder" / "eval_std_dev_clean.txt").read_text().splitlines()
    assert rows[0].split()[:3] == ["method", "MAP", "P@10"]
    assert [r.split()[0] for r in rows[1:]] == ["embed", "dtw"]
    assert all(r.split()[-1] == str(len(queries)) for r in rows[1:])
    assert (recipe / "data" / ".done.8").is_file()
