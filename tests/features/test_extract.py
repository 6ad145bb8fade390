import dataclasses

import kaldiio
import numpy as np
import pytest

from speechseq.data.audio import read_audio, write_wav
from speechseq.errors import SpeechseqError
from speechseq.features import (
    GLOBAL_KEY,
    FeatureConfig,
    FeatureReader,
    compute_feats,
    compute_features,
    load_feature_config,
)
from tests.features.conftest import SR, chirp_with_noise
from tests.features.helpers import corrupt_wav

CFG = FeatureConfig(type="fbank", num_mel_bins=40, dither=0.0)


def test_compute_feats_writes_feats_scp_utt2num_frames_cmvn_and_config(data_dir):
    summary = compute_feats(data_dir, CFG, progress=False)
    assert summary.num_utts == 6 and summary.bad == []
    scp = kaldiio.load_scp(str(data_dir / "feats.scp"))
    utts = list(scp)
    assert utts == sorted(utts, key=str.encode)
    assert all(
        line.split()[1].startswith("/")
        for line in (data_dir / "feats.scp").read_text().splitlines()
    )
    num_frames = dict(
        line.split() for line in (data_dir / "utt2num_frames").read_text().splitlines()
    )
    for utt in utts:
        expected = compute_features(read_audio(data_dir / "wav" / f"{utt}.wav"), CFG)
        np.testing.assert_array_equal(scp[utt], expected)
        assert int(num_frames[utt]) == expected.shape[0]
    stats = dict(kaldiio.load_ark(str(data_dir / "cmvn.ark")))
    assert sorted(stats) == [GLOBAL_KEY, "spkA", "spkB"]
    assert stats[GLOBAL_KEY].shape == (2, 41)
    assert (
        stats[GLOBAL_KEY][0, -1]
        == summary.num_frames
        == stats["spkA"][0, -1] + stats["spkB"][0, -1]
    )
    assert load_feature_config(data_dir) == CFG


def test_feature_reader_normalises_each_speaker(data_dir):
    compute_feats(data_dir, CFG, progress=False)
    reader = FeatureReader(data_dir, cmvn="speaker")
    assert len(reader) == 6 and reader.dim == 40
    for spk in ("spkA", "spkB"):
        feats = np.concatenate([reader[u] for u in reader.utt_ids if u.startswith(spk)])
        np.testing.assert_allclose(feats.mean(0), 0, atol=1e-4)
        np.testing.assert_allclose(feats.std(0), 1, atol=1e-3)
    assert reader.num_frames("spkA-utt0") == reader["spkA-utt0"].shape[0]


def test_feature_reader_global_cmvn_with_deltas(data_dir):
    compute_feats(data_dir, CFG, progress=False)
    reader = FeatureReader(data_dir, cmvn="global", deltas=2)
    assert reader.dim == 120
    feats = np.concatenate([reader[u] for u in reader.utt_ids])
    assert feats.shape[1] == 120
    np.testing.assert_allclose(feats[:, :40].mean(0), 0, atol=1e-4)
    raw = FeatureReader(data_dir, cmvn="none")
    np.testing.assert_array_equal(
        raw["spkB-utt1"], kaldiio.load_scp(str(data_dir / "feats.scp"))["spkB-utt1"]
    )


def test_feature_reader_without_feats_scp_says_to_run_compute_feats(data_dir):
    with pytest.raises(SpeechseqError, match="run `speechseq compute-feats"):
        FeatureReader(data_dir)


def test_two_jobs_give_the_same_features_as_one_even_with_dither(data_dir):
    cfg = dataclasses.replace(CFG, dither=1.0)
    compute_feats(data_dir, cfg, num_jobs=2, progress=False)
    assert _arks(data_dir) == ["gen-0001/raw_fbank.1.ark", "gen-0001/raw_fbank.2.ark"]
    two = {u: m.copy() for u, m in kaldiio.load_scp(str(data_dir / "feats.scp")).items()}
    cmvn_two = dict(kaldiio.load_ark(str(data_dir / "cmvn.ark")))
    compute_feats(data_dir, cfg, num_jobs=1, progress=False)
    assert _arks(data_dir) == ["gen-0002/raw_fbank.1.ark"]  # the previous run's arks are gone
    one = kaldiio.load_scp(str(data_dir / "feats.scp"))
    assert sorted(one) == sorted(two)
    for utt in one:
        np.testing.assert_array_equal(one[utt], two[utt])
    for key, stats in dict(kaldiio.load_ark(str(data_dir / "cmvn.ark"))).items():
        np.testing.assert_array_equal(stats, cmvn_two[key])


def _arks(data_dir):
    return sorted(
        str(p.relative_to(data_dir / "feats")) for p in data_dir.glob("feats/gen-*/raw_*.ark")
    )


def test_segments_are_honoured(tmp_path):
    data = tmp_path / "seg"
    x = chirp_with_noise(3.0, seed=5)
    write_wav(data / "reco1.wav", x, SR)
    (data / "wav.scp").write_text(f"reco1 {data / 'reco1.wav'}\n")
    (data / "segments").write_text("reco1-a reco1 0.10 1.20\nreco1-b reco1 1.50 2.90\n")
    (data / "utt2spk").write_text("reco1-a spk\nreco1-b spk\n")
    compute_feats(data, CFG, progress=False)
    scp = kaldiio.load_scp(str(data / "feats.scp"))
    audio = read_audio(data / "reco1.wav")
    for utt, (start_s, end_s) in {"reco1-a": (0.10, 1.20), "reco1-b": (1.50, 2.90)}.items():
        cut = audio[int(round(start_s * SR)) : int(round(end_s * SR))]
        np.testing.assert_array_equal(scp[utt], compute_features(cut, CFG))


def test_corrupt_wav_stops_with_an_error_naming_it_and_leaves_no_feats_scp(data_dir):
    corrupt_wav(data_dir)
    with pytest.raises(SpeechseqError, match="spkB-utt1: cannot read audio"):
        compute_feats(data_dir, CFG, progress=False)
    assert not (data_dir / "feats.scp").exists()
    assert not (data_dir / "cmvn.ark").exists()
    assert [p.name for p in (data_dir / "feats").iterdir()] == []  # no temporary arks left


def test_failed_rerun_keeps_the_previous_features_whole(data_dir):
    compute_feats(data_dir, CFG, progress=False)
    before = {u: m.copy() for u, m in kaldiio.load_scp(str(data_dir / "feats.scp")).items()}
    corrupt_wav(data_dir, "spkA-utt0")
    mfcc = FeatureConfig(type="mfcc", dither=0.0)
    with pytest.raises(SpeechseqError, match="spkA-utt0"):
        compute_feats(data_dir, mfcc, num_jobs=2, progress=False)
    after = kaldiio.load_scp(str(data_dir / "feats.scp"))
    assert sorted(after) == sorted(before)
    for utt, feats in after.items():
        np.testing.assert_array_equal(feats, before[utt])
    assert load_feature_config(data_dir) == CFG and FeatureReader(data_dir).dim == 40
    assert _arks(data_dir) == ["gen-0001/raw_fbank.1.ark"]  # the failed run's arks are gone


def test_skip_bad_lists_bad_utterances_and_goes_on(data_dir):
    corrupt_wav(data_dir)
    write_wav(
        data_dir / "wav" / "spkA-utt2.wav", np.zeros(160, np.float32), SR
    )  # 10 ms: shorter than a frame
    summary = compute_feats(data_dir, CFG, skip_bad=True, progress=False)
    assert [u for u, _ in summary.bad] == ["spkA-utt2", "spkB-utt1"]
    lines = (data_dir / "bad_utts").read_text().splitlines()
    assert [line.split()[0] for line in lines] == ["spkA-utt2", "spkB-utt1"]
    assert "shorter than one frame" in lines[0]
    reader = FeatureReader(data_dir)
    assert len(reader) == 4 and "spkB-utt1" not in reader


def test_utterance_without_audio_is_an_error_naming_it(data_dir):
    with open(data_dir / "utt2spk", "a") as f:
        f.write("spkB-utt9 spkB\n")
    with pytest.raises(SpeechseqError, match="utterance 'spkB-utt9' of utt2spk has no audio"):
        compute_feats(data_dir, CFG, progress=False)
