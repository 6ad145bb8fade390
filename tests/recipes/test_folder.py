"""recipes/folder/run.sh on a tiny generated tree of audio files with .txt transcripts (one
folder per speaker, made from the synthetic digits corpus): data dirs with held-out speakers
(fast); validation, compressed or on-the-fly features, training and decoding with a tiny config (slow)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.recipes.helpers import copy_recipe, recipe_env, run_recipe

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")

TINY_CONFIG = """encoder: {subsample: stack3, hidden: 32, layers: 1, dropout: 0.0}
train: {max_epochs: 2, max_frames: 4000, lr: 0.003, warmup_steps: 5, device: cpu, checkpoint_every: 0}
ctc: {units: char, cmvn: utterance, spec_augment: false}
"""


def _folder_tree(corpus: Path, root: Path) -> dict[str, set[str]]:
    """``root/<speaker>/<utt>.wav`` + ``<utt>.txt`` for every utterance of the corpus; returns
    the file stems of each speaker."""
    stems: dict[str, set[str]] = {}
    for s in ("train", "dev", "test"):
        utt2spk = dict(ln.split() for ln in (corpus / s / "utt2spk").read_text().splitlines())
        wav = dict(ln.split(maxsplit=1) for ln in (corpus / s / "wav.scp").read_text().splitlines())
        text = dict(
            (ln.split(maxsplit=1) + [""])[:2]
            for ln in (corpus / s / "text").read_text().splitlines()
        )
        for utt, spk in utt2spk.items():
            (root / spk).mkdir(parents=True, exist_ok=True)
            shutil.copy(wav[utt], root / spk / f"{utt}.wav")
            (root / spk / f"{utt}.txt").write_text(text[utt] + "\n")
            stems.setdefault(spk, set()).add(utt)
    return stems


def _run_folder(tmp_path: Path, recipe: Path, *options: str):
    """run.sh on ``tmp_path/audio`` with one held-out speaker each for dev and test."""
    audio = ["--audio-dir", str(tmp_path / "audio"), "--heldout-speakers", "1"]
    return run_recipe(recipe, *audio, *options, env=recipe_env(tmp_path))


def _speakers(d: Path) -> list[str]:
    return [ln.split()[0] for ln in (d / "spk2utt").read_text().splitlines()]


def test_data_dirs_hold_out_speakers(digits_corpus, tmp_path):
    stems = _folder_tree(digits_corpus, tmp_path / "audio")
    recipe = copy_recipe(tmp_path, "folder")
    proc = _run_folder(tmp_path, recipe, "--stop-stage", "0")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    spks = sorted(stems)
    data = recipe / "data"
    assert _speakers(data / "test") == spks[-1:] and _speakers(data / "dev") == spks[-2:-1]
    assert _speakers(data / "train") == spks[:-2]
    for s in ("train", "dev", "test"):
        utts = [ln.split()[0] for ln in (data / s / "text").read_text().splitlines()]
        assert sorted(utts) == sorted(u for spk in _speakers(data / s) for u in stems[spk])
    assert (data / ".done.0").is_file() and not (data / ".done.1").exists()
    assert (recipe / "exp" / "log" / "stage0.data-dirs-from-the-audio-folder.log").is_file()


def test_too_few_speakers_to_hold_out_is_one_clear_error(digits_corpus, tmp_path):
    root = tmp_path / "audio"
    stems = _folder_tree(digits_corpus, root)
    for spk in sorted(stems)[2:]:
        shutil.rmtree(root / spk)
    recipe = copy_recipe(tmp_path, "folder")
    proc = run_recipe(
        recipe, "--audio-dir", str(root), "--stop-stage", "0", env=recipe_env(tmp_path)
    )
    assert proc.returncode == 1
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "2 speaker(s), too few to hold out 2" in errors[0]
    assert "--dev-dir and --test-dir" in errors[0]


@pytest.mark.slow
@pytest.mark.parametrize("feats", ["compressed", "on-the-fly"])
def test_the_whole_recipe_trains_and_decodes(digits_corpus, tmp_path, feats):
    _folder_tree(digits_corpus, tmp_path / "audio")
    recipe = copy_recipe(tmp_path, "folder")
    (recipe / "conf" / "tiny.yaml").write_text(TINY_CONFIG)
    proc = _run_folder(tmp_path, recipe, "--config", "conf/tiny.yaml", "--feats", feats)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    wer = [ln for ln in proc.stdout.splitlines() if re.search(r"decode_\w+: %WER ", ln)]
    assert len(wer) == 4  # dev and test, greedy and lexicon
    assert (recipe / "exp" / "ctc" / "final.pt").is_file()
    data = recipe / "data"
    assert (data / "train" / "feats.scp").exists() == (feats == "compressed")
    for s in ("dev", "test"):  # decoded from stored features either way
        ark, offset = (data / s / "feats.scp").read_text().split()[1].rsplit(":", 1)
        with open(ark, "rb") as f:
            f.seek(int(offset))
            assert (f.read(4) == b"\0BCM") == (feats == "compressed")
