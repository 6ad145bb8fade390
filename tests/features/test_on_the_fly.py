"""Features computed on the fly from the audio equal the stored ones; compressed arks read back."""

from __future__ import annotations

import dataclasses

import kaldiio
import numpy as np
import pytest

from speechseq.data.audio import AudioSpec, read_spec, write_wav
from speechseq.errors import SpeechseqError
from speechseq.features import FeatureConfig, FeatureReader, cmvn_stats, compute_feats
from speechseq.features.cmvn import GLOBAL_KEY
from speechseq.features.extract import expected_samples
from tests.features.conftest import chirp_with_noise, make_data_dir

DITHERED = FeatureConfig(type="fbank", num_mel_bins=23)  # dither 1.0, seeded per utterance


def _stored(tmp_path):
    """A data dir with DITHERED features stored by compute-feats."""
    data = make_data_dir(tmp_path / "data")
    compute_feats(data, DITHERED, progress=False)
    return data


@pytest.mark.parametrize("cmvn", ["utterance", "speaker", "global", "none"])
def test_on_the_fly_reader_gives_the_stored_features(tmp_path, cmvn):
    stored = _stored(tmp_path)
    disk = FeatureReader(stored, cmvn=cmvn)
    fly = FeatureReader(stored, cmvn=cmvn, compute=DITHERED)
    assert fly.utt_ids == disk.utt_ids and fly.dim == disk.dim == 23
    for utt in disk.utt_ids:
        assert fly.num_frames(utt) == disk.num_frames(utt)
        np.testing.assert_allclose(fly[utt], disk[utt], rtol=0, atol=1e-5)


def test_on_the_fly_needs_no_feats_scp(tmp_path):
    stored = _stored(tmp_path)
    bare = make_data_dir(tmp_path / "bare")
    assert not (bare / "feats.scp").exists()
    fly = FeatureReader(bare, cmvn="utterance", compute=DITHERED)
    disk = FeatureReader(stored, cmvn="utterance")
    # the same audio under the same utterance ids: the same (dithered) numbers
    np.testing.assert_array_equal(fly.raw("spkA-utt1"), disk.raw("spkA-utt1"))


def test_frame_counts_from_headers_match_resampled_and_segmented_audio(tmp_path):
    data = tmp_path / "mixed"
    (data / "wav").mkdir(parents=True)
    wav, seg, utt2spk = [], [], []
    for k, sr in enumerate((8000, 22050, 44100, 16000)):
        x = chirp_with_noise(1.3 + 0.01 * k, seed=k)
        n = int(len(x) * sr / 16000) + 7 * k
        write_wav(data / "wav" / f"r{k}.wav", np.resize(x, n), sr)
        wav.append(f"r{k} {data / 'wav' / f'r{k}.wav'}")
        for j, (a, b) in enumerate(((0.0, 0.5173), (0.31, 1.2049))):
            seg.append(f"s-r{k}-{j} r{k} {a} {b}")
            utt2spk.append(f"s-r{k}-{j} s")
    (data / "wav.scp").write_text("\n".join(wav) + "\n")
    (data / "segments").write_text("\n".join(seg) + "\n")
    (data / "utt2spk").write_text("\n".join(sorted(utt2spk)) + "\n")
    (data / "spk2utt").write_text("s " + " ".join(sorted(u.split()[0] for u in utt2spk)) + "\n")
    for cfg in (DITHERED, dataclasses.replace(DITHERED, snip_edges=False)):
        fly = FeatureReader(data, cmvn="none", compute=cfg)
        for utt in fly.utt_ids:
            assert fly[utt].shape[0] == fly.num_frames(utt), utt


def test_sample_counts_from_headers_match_what_resampling_gives(tmp_path):
    rng = np.random.default_rng(0)
    for sr in (8000, 22050, 32000, 44100, 48000):
        for n in rng.integers(1000, 30000, size=12):
            path = tmp_path / f"{sr}-{n}.wav"
            write_wav(path, np.resize(chirp_with_noise(2.0), int(n)), sr)
            for start, end in ((0.0, None), (0.01, None), (0.0237, 0.0237 + 0.5 * n / sr)):
                spec = AudioSpec(str(path), start, end)
                for target in (16000, 8000):
                    want = len(read_spec(spec, target_sr=target))
                    assert expected_samples(path.name, spec, target) == want, (sr, n, start, target)


def test_an_utterance_shorter_than_a_frame_is_refused_when_the_reader_is_made(tmp_path):
    data = make_data_dir(tmp_path / "d")
    write_wav(data / "wav" / "spkA-utt0.wav", np.zeros(100, np.float32), 16000)
    with pytest.raises(SpeechseqError, match=r"'spkA-utt0' \(1 in all\) is shorter than one 25 ms"):
        FeatureReader(data, cmvn="utterance", compute=DITHERED)


def test_compressed_arks_are_a_quarter_of_float32_and_read_back_close(tmp_path):
    stored = _stored(tmp_path)
    packed = make_data_dir(tmp_path / "packed")
    compute_feats(packed, DITHERED, progress=False, compress=True)
    size = lambda d: sum(p.stat().st_size for p in (d / "feats").rglob("*.ark"))  # noqa: E731
    assert size(packed) < 0.4 * size(stored)
    disk, small = FeatureReader(stored, cmvn="none"), FeatureReader(packed, cmvn="none")
    for utt in disk.utt_ids:
        a, b = disk[utt], small[utt]
        assert small.num_frames(utt) == a.shape[0]
        span = a.max(0) - a.min(0)
        assert np.all(np.abs(a - b) <= 0.02 * span + 1e-3), utt  # 8-bit quantisation
        assert not np.array_equal(a, b)  # really compressed
    # the statistics are those of the values as stored
    stats = dict(kaldiio.load_ark(str(packed / "cmvn.ark")))
    total = sum(cmvn_stats(small[u]) for u in small.utt_ids)
    np.testing.assert_allclose(stats[GLOBAL_KEY], total, rtol=1e-6)
