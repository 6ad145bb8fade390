"""recipes/librispeech/run.sh on a tiny tree in LibriSpeech's exact layout, made from synthetic
speech (LibriSpeech/<subset>/SPK/CHAP/SPK-CHAP-NNNN.flac + SPK-CHAP.trans.txt): the data-prep
and feature stages only; a corpus dir in another layout is one clear error."""

from __future__ import annotations

import subprocess
from pathlib import Path

import soundfile as sf

from tests.recipes.helpers import copy_recipe, speechseq_env

SUBSETS = {"train-clean-100": "train", "dev-clean": "dev", "test-clean": "test"}


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
    proc = subprocess.run(
        ["bash", "run.sh", "--corpus-dir", str(tmp_path / "corpus"), "--stop-stage", "1"],
        cwd=recipe,
        env=speechseq_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=240,
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
    env = speechseq_env(tmp_path)
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
