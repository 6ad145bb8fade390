"""read_audio, audio_info, write_wav on good and bad files."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from speechseq.data.audio import audio_duration, read_audio, read_audio_native, resample, write_wav
from speechseq.errors import SpeechseqError
from tests.data.helpers import SR, tone, write_audio


def dominant_freq(x: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / sr)[np.argmax(spec)])


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_32", "FLOAT"])
def test_read_audio_reads_int_and_float_wav_as_float(tmp_path, subtype):
    x = tone(440, 0.1)
    p = write_audio(tmp_path / "a.wav", x, subtype=subtype)
    y = read_audio(p)
    assert y.dtype == np.float32 and y.shape == x.shape
    assert np.max(np.abs(y - x)) < 1e-3


def test_read_audio_reads_flac(tmp_path):
    x = tone(440, 0.1)
    p = write_audio(tmp_path / "a.flac", x)
    assert np.max(np.abs(read_audio(p) - x)) < 1e-3


def test_read_audio_resamples_44k_to_16k_keeping_pitch(tmp_path):
    p = write_audio(tmp_path / "a.wav", tone(1000, 1.0, sr=44100), sr=44100)
    y = read_audio(p, target_sr=16000)
    assert abs(len(y) - 16000) <= 1
    assert abs(dominant_freq(y, 16000) - 1000) < 5


def test_read_audio_without_resampling_rejects_other_rate(tmp_path):
    p = write_audio(tmp_path / "a.wav", tone(440, 0.1, sr=8000), sr=8000)
    with pytest.raises(SpeechseqError, match="sample rate is 8000 Hz, expected 16000 Hz"):
        read_audio(p, allow_resample=False)


def test_read_audio_picks_channel_of_stereo(tmp_path):
    left, right = tone(300, 0.1), tone(1200, 0.1)
    p = tmp_path / "st.wav"
    sf.write(p, np.stack([left, right], axis=1), SR, subtype="PCM_16")
    assert dominant_freq(read_audio(p, channel=1), SR) == pytest.approx(1200, abs=20)
    assert dominant_freq(read_audio(p, channel=0), SR) == pytest.approx(300, abs=20)
    with pytest.raises(SpeechseqError, match="channel 2 asked for, but the audio has 2"):
        read_audio(p, channel=2)


def test_read_audio_runs_pipe_entry(tmp_path):
    x = tone(440, 0.1)
    p = write_audio(tmp_path / "a.wav", x)
    y = read_audio(f"cat {p} |")
    assert np.max(np.abs(y - x)) < 1e-3


def test_read_audio_reports_failing_pipe(tmp_path):
    with pytest.raises(SpeechseqError, match="failed with exit code"):
        read_audio(f"cat {tmp_path}/nope.wav |", what="utt1")


def test_read_audio_cuts_segment(tmp_path):
    p = write_audio(tmp_path / "a.wav", tone(440, 1.0))
    assert len(read_audio(p, start_s=0.25, end_s=0.5)) == 4000


def test_read_audio_rejects_missing_file(tmp_path):
    with pytest.raises(SpeechseqError, match=r"utt1: audio file .*nope.wav not found"):
        read_audio(tmp_path / "nope.wav", what="utt1")


def test_read_audio_rejects_empty_file(tmp_path):
    p = tmp_path / "empty.wav"
    p.write_bytes(b"")
    with pytest.raises(SpeechseqError, match=r"is empty \(0 bytes\)"):
        read_audio(p)


def test_read_audio_rejects_truncated_wav(tmp_path):
    p = write_audio(tmp_path / "a.wav", tone(440, 1.0))
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(SpeechseqError, match="truncated"):
        read_audio(p)
    with pytest.raises(SpeechseqError, match="truncated"):
        audio_duration(p)


def test_read_audio_rejects_header_only_wav(tmp_path):
    p = write_audio(tmp_path / "a.wav", tone(440, 0.1))
    p.write_bytes(p.read_bytes()[:44])
    with pytest.raises(SpeechseqError, match="truncated|no samples"):
        read_audio(p)


def test_read_audio_rejects_truncated_flac(tmp_path):
    p = write_audio(tmp_path / "a.flac", tone(440, 1.0))
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(SpeechseqError, match="cannot read audio|truncated"):
        read_audio(p)


def test_read_audio_rejects_garbage_bytes(tmp_path):
    p = tmp_path / "junk.wav"
    p.write_bytes(b"this is not audio at all " * 20)
    with pytest.raises(
        SpeechseqError, match=r"junk.wav: cannot read audio \(Format not recognised"
    ):
        read_audio(p)


def test_read_audio_native_returns_file_rate(tmp_path):
    p = write_audio(tmp_path / "a.wav", tone(440, 0.1, sr=22050), sr=22050)
    x, sr = read_audio_native(p)
    assert sr == 22050 and len(x) == 2205


def test_resample_changes_length_by_rate_ratio():
    assert len(resample(tone(440, 1.0, sr=8000), 8000, 16000)) == 16000


def test_write_wav_round_trips_and_leaves_no_temp_file(tmp_path):
    x = tone(440, 0.1)
    write_wav(tmp_path / "o.wav", x)
    assert np.max(np.abs(read_audio(tmp_path / "o.wav") - x)) < 1e-3
    assert [p.name for p in tmp_path.iterdir()] == ["o.wav"]
    assert audio_duration(tmp_path / "o.wav") == pytest.approx(0.1)
