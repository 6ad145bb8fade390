"""The inference front end: the model's feature settings and normalisation, applied alike
to audio files and data dirs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from speechseq.core.loading import save_global_stats
from speechseq.errors import SpeechseqError
from speechseq.features import save_feature_config
from speechseq.features.cmvn import apply_cmvn, cmvn_stats
from speechseq.features.frontend import FrontEnd
from speechseq.features.reader import FeatureReader
from tests.features.helpers import CFG


def _model_dir(tmp_path, cfg=CFG):
    exp = tmp_path / "exp"
    exp.mkdir()
    save_feature_config(exp / "feats.yaml", cfg)
    return exp


def test_utterance_cmvn_is_the_same_for_a_file_and_a_data_dir(feats_dir, tmp_path):
    fe = FrontEnd.of_model_dir(_model_dir(tmp_path), "utterance", 23)
    reader = fe.data_reader(feats_dir)
    utt = reader.utt_ids[0]
    from_file = fe.file_features(feats_dir / "wav" / f"{utt}.wav")
    np.testing.assert_allclose(from_file, reader[utt], atol=1e-5)
    raw = FeatureReader(feats_dir, cmvn="none")[utt]
    np.testing.assert_allclose(reader[utt], apply_cmvn(raw, cmvn_stats(raw)), atol=1e-6)
    assert abs(reader[utt].mean(0)).max() < 1e-4  # each utterance zero-mean on its own


def test_global_cmvn_uses_the_training_statistics_saved_with_the_model(feats_dir, tmp_path):
    exp = _model_dir(tmp_path)
    train_stats = cmvn_stats(np.full((10, 23), 3.0)) + cmvn_stats(np.full((10, 23), 5.0))
    save_global_stats(exp, train_stats)  # mean 4, variance 1
    fe = FrontEnd.of_model_dir(exp, "global", 23)
    utt = "spkA-utt0"
    raw = FeatureReader(feats_dir, cmvn="none")[utt]
    np.testing.assert_allclose(fe.data_reader(feats_dir)[utt], raw - 4.0, atol=1e-4)
    np.testing.assert_allclose(
        fe.file_features(feats_dir / "wav" / f"{utt}.wav"), raw - 4.0, atol=1e-4
    )


def test_global_cmvn_without_saved_statistics_is_an_error(tmp_path):
    with pytest.raises(SpeechseqError, match="cmvn.ark: not found .* global CMVN"):
        FrontEnd.of_model_dir(_model_dir(tmp_path), "global", 23)


def test_data_made_with_other_feature_settings_is_refused_naming_both(feats_dir, tmp_path):
    exp = _model_dir(tmp_path, dataclasses.replace(CFG, low_freq=60.0))
    fe = FrontEnd.of_model_dir(exp, "utterance", 23)
    with pytest.raises(SpeechseqError, match=r"low_freq 20.0 \(model: 60.0\)"):
        fe.data_reader(feats_dir)
    # dither is for training data only: it may differ
    exp2 = tmp_path / "x"
    exp2.mkdir()
    save_feature_config(exp2 / "feats.yaml", dataclasses.replace(CFG, dither=1.0, seed=4))
    assert FrontEnd.of_model_dir(exp2, "utterance", 23).data_reader(feats_dir).dim == 23


def test_a_model_dir_without_feature_settings_cannot_featurise_audio(feats_dir, tmp_path):
    exp = tmp_path / "bare"
    exp.mkdir()
    fe = FrontEnd.of_model_dir(exp, "utterance", 23)
    assert fe.data_reader(feats_dir).dim == 23  # stored features still decode
    with pytest.raises(SpeechseqError, match="feats.yaml: not found"):
        fe.file_features(feats_dir / "wav" / "spkA-utt0.wav")
