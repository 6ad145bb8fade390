"""Helpers shared by the feature tests (test modules never import each other)."""

from __future__ import annotations

import kaldiio
import numpy as np
from typer.testing import CliRunner

from speechseq.features import FeatureConfig, FeatureReader, load_feature_config
from speechseq.features.files import FEATS_NAMES


def corrupt_wav(data_dir, utt="spkB-utt1"):
    """Overwrite ``utt``'s wav in ``data_dir/wav/`` with bytes no audio reader accepts."""
    (data_dir / "wav" / f"{utt}.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk-not-audio" * 3)


CFG = FeatureConfig(type="fbank", num_mel_bins=23, dither=0.0)


NEW_ARGS = ["--type", "mfcc", "--dither", "0"]


OLD = FeatureConfig(type="fbank", num_mel_bins=40, dither=0.0)


runner = CliRunner()


def same(a, b) -> bool:
    if a is None or b is None:
        return a is b
    if a[0] != b[0] or sorted(a[1]) != sorted(b[1]) or sorted(a[2]) != sorted(b[2]):
        return False
    return all(np.array_equal(a[1][u], b[1][u]) for u in a[1]) and all(
        np.array_equal(a[2][s], b[2][s]) for s in a[2]
    )


def snapshot(d):
    """Everything a reader of ``d`` sees, or None when it has no features at all.

    Anything in between (some files visible, others not, or files of two runs) fails here.
    """
    if not any((d / n).exists() for n in FEATS_NAMES):
        return None
    reader = FeatureReader(d, cmvn="speaker")
    raw = {u: reader.raw(u) for u in reader.utt_ids}
    assert {u: reader.num_frames(u) for u in raw} == {u: m.shape[0] for u, m in raw.items()}
    kaldi = kaldiio.load_scp(str(d / "feats.scp"))  # the Kaldi-visible file agrees
    for u, m in raw.items():
        np.testing.assert_array_equal(kaldi[u], m)
    cfg = load_feature_config(d)
    assert cfg.dim == reader.dim
    stats = dict(kaldiio.load_ark(str(d / "cmvn.ark")))
    assert next(iter(stats.values())).shape[1] == reader.dim + 1
    return cfg, raw, stats
