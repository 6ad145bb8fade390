"""compute-feats --from-parts: features computed part by part and merged are those of one run."""

from __future__ import annotations

import shutil

import kaldiio
import numpy as np
import pytest

from speechseq.data.ops import split_data_dir
from speechseq.errors import SpeechseqError
from speechseq.features import FeatureConfig, compute_feats
from speechseq.features.merge import merge_part_features

TABLES = ("wav.scp", "text", "utt2spk", "spk2utt", "utt2dur")
CFG = FeatureConfig(type="fbank", num_mel_bins=23, dither=1.0, seed=4)


def _bare(corpus, name, tmp_path):
    d = tmp_path / name
    d.mkdir()
    for t in TABLES:
        shutil.copy(corpus / "train" / t, d / t)
    return d


def test_merged_parts_equal_one_run_and_the_split_can_go(digits_corpus, tmp_path):
    whole = _bare(digits_corpus, "whole", tmp_path)
    compute_feats(whole, CFG, progress=False)
    data = _bare(digits_corpus, "parts", tmp_path)
    parts = split_data_dir(data, 3)
    for p in parts:
        compute_feats(p, CFG, progress=False)
    summary = merge_part_features(data, data / "split3")
    shutil.rmtree(data / "split3")  # the arks were linked into data's own generation
    want = dict(kaldiio.load_scp(str(whole / "feats.scp")))
    got = dict(kaldiio.load_scp(str(data / "feats.scp")))
    assert summary.num_utts == len(want) and list(got) == list(want)
    for utt in want:
        np.testing.assert_array_equal(got[utt], want[utt])  # dither seeded per utterance
    cw, cg = (
        dict(kaldiio.load_ark(str(whole / "cmvn.ark"))),
        dict(kaldiio.load_ark(str(data / "cmvn.ark"))),
    )
    assert list(cg) == list(cw)
    for k in cw:
        np.testing.assert_allclose(cg[k], cw[k], rtol=1e-9)
    assert (data / "utt2num_frames").read_text() == (whole / "utt2num_frames").read_text()
    assert (data / "conf" / "feats.yaml").read_text() == (whole / "conf" / "feats.yaml").read_text()


def test_a_part_without_features_is_named(digits_corpus, tmp_path):
    data = _bare(digits_corpus, "d", tmp_path)
    parts = split_data_dir(data, 2)
    compute_feats(parts[0], CFG, progress=False)
    with pytest.raises(SpeechseqError, match=r"split2/2/feats.scp: not found"):
        merge_part_features(data, data / "split2")
    assert not (data / "feats.scp").exists()
