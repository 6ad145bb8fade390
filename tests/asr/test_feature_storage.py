"""train-ctc on features computed on the fly, and on Kaldi-compressed arks."""

from __future__ import annotations

import dataclasses
import shutil

import yaml
from typer.testing import CliRunner

from speechseq.asr.training import train_ctc
from speechseq.cli.main import app
from speechseq.features import FeatureConfig
from speechseq.features.config import FeatureSource
from tests.asr.helpers import TINY

runner = CliRunner()
AUDIO_ONLY = ("wav.scp", "text", "utt2spk", "spk2utt")
# the settings the digits corpus's stored features were made with (tests/conftest.py)
CORPUS_FEATS = FeatureConfig(type="fbank", num_mel_bins=40, dither=0.0)
ONE_EPOCH = dataclasses.replace(
    TINY, train=dataclasses.replace(TINY.train, max_epochs=1, num_workers=1)
)


def _audio_only(src, dst):
    """``src`` without any feature file: what a recipe that never ran compute-feats has."""
    dst.mkdir(parents=True)
    for name in AUDIO_ONLY:
        shutil.copy(src / name, dst / name)
    return dst


def _train_cli(train, dev, out, cfg, *options: str):
    """``speechseq train-ctc TRAIN --dev DEV --out OUT --config CFG OPTIONS`` in-process."""
    args = ["train-ctc", str(train), "--dev", str(dev), "--out", str(out), "--config", str(cfg)]
    return runner.invoke(app, [*args, *options])


def _first_epoch(exp) -> dict[str, str]:
    """Train loss, dev loss and dev CER of epoch 1 as metrics.csv holds them."""
    header, row = (exp / "metrics.csv").read_text().splitlines()[:2]
    values = dict(zip(header.split(","), row.split(","), strict=True))
    return {k: values[k] for k in ("train_loss", "dev_loss", "dev_cer")}


def test_one_epoch_on_the_fly_trains_exactly_as_on_stored_features(digits_corpus, tmp_path):
    """Same features in the workers, so the same batches, losses and dev CER to the digit."""
    train = _audio_only(digits_corpus / "train", tmp_path / "train")
    dev = _audio_only(digits_corpus / "dev", tmp_path / "dev")
    train_ctc(
        digits_corpus / "train", digits_corpus / "dev", tmp_path / "stored", ONE_EPOCH, quiet=True
    )
    fly = dataclasses.replace(ONE_EPOCH, features=FeatureSource(True, CORPUS_FEATS))
    train_ctc(train, dev, tmp_path / "fly", fly, quiet=True)
    assert _first_epoch(tmp_path / "fly") == _first_epoch(tmp_path / "stored")
    # provenance: the model dir holds the settings it was trained with, as from stored features
    assert (tmp_path / "fly" / "feats.yaml").read_text() == (
        digits_corpus / "train" / "conf" / "feats.yaml"
    ).read_text()
    config = yaml.safe_load((tmp_path / "fly" / "config.yaml").read_text())
    assert config["features"]["on_the_fly"] is True
    assert not (train / "feats.scp").exists()


def test_on_the_fly_with_other_settings_changes_the_training(digits_corpus, tmp_path):
    """The settings are really used: 23 bins instead of the stored 40 give a 23-dim model."""
    train = _audio_only(digits_corpus / "train", tmp_path / "train")
    dev = _audio_only(digits_corpus / "dev", tmp_path / "dev")
    cfg = tmp_path / "fly.yaml"
    cfg.write_text(
        "encoder: {subsample: stack3, hidden: 32, layers: 1}\n"
        "train: {max_epochs: 1, max_frames: 4000, device: cpu, checkpoint_every: 0}\n"
        "ctc: {spec_augment: false}\n"
        "features: {settings: {num_mel_bins: 23, dither: 0.0}}\n"
    )
    out = tmp_path / "e"
    res = _train_cli(train, dev, out, cfg, "--on-the-fly-features", "-j", "1")
    assert res.exit_code == 0, res.output
    assert yaml.safe_load((out / "config.yaml").read_text())["data"]["feature_dim"] == 23
    assert yaml.safe_load((out / "feats.yaml").read_text())["num_mel_bins"] == 23
    # and without the flag the same command wants stored features
    res = _train_cli(train, dev, tmp_path / "e2", cfg)
    assert res.exit_code == 1 and "compute-feats" in res.stderr


def test_compressed_arks_train_one_epoch(digits_corpus, tmp_path):
    train = _audio_only(digits_corpus / "train", tmp_path / "train")
    dev = _audio_only(digits_corpus / "dev", tmp_path / "dev")
    for d in (train, dev):
        res = runner.invoke(
            app, ["compute-feats", str(d), "--num-mel-bins", "40", "--dither", "0", "--compress"]
        )
        assert res.exit_code == 0, res.output
    head = (train / "feats.scp").read_text().split()[1]
    ark, offset = head.rsplit(":", 1)
    with open(ark, "rb") as f:
        f.seek(int(offset))
        assert f.read(4) == b"\0BCM"  # a Kaldi compressed matrix
    state = train_ctc(train, dev, tmp_path / "exp", ONE_EPOCH, quiet=True)
    assert (tmp_path / "exp" / "final.pt").is_file() and state.epoch == 1
    # the same corpus stored as float32 trains to a (slightly) different loss: 8-bit values
    train_ctc(
        digits_corpus / "train", digits_corpus / "dev", tmp_path / "f32", ONE_EPOCH, quiet=True
    )
    packed, plain = _first_epoch(tmp_path / "exp"), _first_epoch(tmp_path / "f32")
    assert packed["train_loss"] != plain["train_loss"]
    assert abs(float(packed["train_loss"]) - float(plain["train_loss"])) < 0.05 * float(
        plain["train_loss"]
    )


def test_unreadable_audio_on_the_fly_is_one_error_naming_the_utterance(digits_corpus, tmp_path):
    train = _audio_only(digits_corpus / "train", tmp_path / "train")
    dev = _audio_only(digits_corpus / "dev", tmp_path / "dev")
    utt, wav = (train / "wav.scp").read_text().splitlines()[3].split(maxsplit=1)
    broken = tmp_path / "broken.wav"
    shutil.copy(wav, broken)
    with open(broken, "r+b") as f:  # a header that promises samples the file does not have
        f.truncate(f.seek(0, 2) // 2)
    (train / "wav.scp").write_text((train / "wav.scp").read_text().replace(wav, str(broken)))
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "train: {max_epochs: 1, device: cpu}\nfeatures: {settings: {num_mel_bins: 40}}\n"
    )
    res = _train_cli(train, dev, tmp_path / "e", cfg, "--on-the-fly-features", "-j", "1")
    assert res.exit_code == 1
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and utt in errors[0] and "truncated" in errors[0], res.stderr
    assert "Traceback" not in res.output
