"""speechseq data augment: speed, reverberation, noise copies of a data directory."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from speechseq.cli.main import app
from speechseq.data.augment import MICS, AugmentConfig, augment_data_dir, parse_range
from speechseq.data.kaldi_dir import read_ctm, read_table
from speechseq.data.signal import MIC_CLASSES, speech_power
from speechseq.data.validate import validate_data_dir
from speechseq.errors import SpeechseqError, UsageError
from tests.data.helpers import tone, write_audio

QUIET = dict(progress=False)


def _audio(d, utt):
    x, sr = sf.read(read_table(d / "wav.scp")[utt], dtype="float32")
    return x, sr


def test_copies_are_a_valid_dir_with_prefixed_ids(src, tmp_path):
    out = tmp_path / "aug"
    s = augment_data_dir(src, out, AugmentConfig(copies=2, seed=3), **QUIET)
    assert s.num_utts == 12
    assert validate_data_dir(out) == []
    utt2spk = read_table(out / "utt2spk")
    assert utt2spk["aug1-s0-1"] == "aug1-s0" and utt2spk["aug2-s1-2"] == "aug2-s1"
    assert read_table(out / "text")["aug2-s0-2"] == "word2"
    assert len(read_table(out / "spk2utt")) == 4
    assert (out / "augment.tsv").read_text().count("\n") == 13
    # the copies differ from the source and from each other
    a, _ = _audio(out, "aug1-s0-0")
    b, _ = _audio(out, "aug2-s0-0")
    assert a.shape != b.shape or not np.allclose(a, b)


def test_speed_scales_duration_and_ctm(src, tmp_path):
    out = tmp_path / "aug"
    cfg = AugmentConfig(speeds=(1.25,), reverb_prob=0.0, noise_prob=0.0)
    augment_data_dir(src, out, cfg, **QUIET)
    x, sr = _audio(out, "aug1-s1-0")
    assert len(x) == pytest.approx(0.5 * sr / 1.25, abs=2)
    assert float(read_table(out / "utt2dur")["aug1-s1-0"]) == pytest.approx(0.4, abs=1e-3)
    e = [e for e in read_ctm(out / "ctm") if e.utt == "aug1-s1-0"][0]
    assert (e.start_s, e.dur_s) == pytest.approx((0.08, 0.16), abs=1e-3)


@pytest.mark.parametrize("kind", ["white", "babble", "speech"])
def test_noise_at_the_asked_snr(src, tmp_path, kind):
    out = tmp_path / "aug"
    cfg = AugmentConfig(
        speeds=(1.0,), reverb_prob=0.0, noise_types=(kind,), snr_db=(10.0, 10.0), seed=1
    )
    augment_data_dir(src, out, cfg, **QUIET)
    clean, sr = _audio(src, "s0-1")
    noisy, _ = _audio(out, "aug1-s0-1")
    noise = noisy - clean  # 16-bit rounding is far below this noise
    snr = 10 * np.log10(speech_power(clean, sr) / np.mean(noise.astype(np.float64) ** 2))
    assert snr == pytest.approx(10.0, abs=0.3)
    assert f"noise={kind}:10.0dB" in (out / "augment.tsv").read_text()


def test_noise_recordings_from_a_folder(src, tmp_path):
    write_audio(tmp_path / "noise" / "hum.wav", tone(50, 0.3, amp=0.2))
    out = tmp_path / "aug"
    cfg = AugmentConfig(
        speeds=(1.0,), reverb_prob=0.0, noise_types=("file",), noise_dir=str(tmp_path / "noise")
    )
    augment_data_dir(src, out, cfg, **QUIET)
    noisy, sr = _audio(out, "aug1-s1-1")
    spec = np.abs(np.fft.rfft(noisy - _audio(src, "s1-1")[0]))
    assert np.argmax(spec) == pytest.approx(50 * len(noisy) / sr, abs=2)  # the 50 Hz hum


@pytest.mark.parametrize("tilt", [0.8, -0.5])
def test_channel_filter_gain_matches_its_coefficient(src, tmp_path, tilt):
    out = tmp_path / "aug"
    cfg = AugmentConfig(
        speeds=(1.0,), channel_prob=1.0, tilt=(tilt, tilt), reverb_prob=0.0, noise_prob=0.0
    )
    augment_data_dir(src, out, cfg, **QUIET)
    clean, sr = _audio(src, "s1-2")  # a 550 Hz tone
    y, _ = _audio(out, "aug1-s1-2")
    z = np.exp(-2j * np.pi * 550 / sr)
    gain = abs((1 - tilt) / (1 - tilt * z)) if tilt > 0 else abs(1 + tilt * z) / (1 - tilt)
    power = np.mean(y[800:].astype(np.float64) ** 2) / np.mean(clean[800:].astype(np.float64) ** 2)
    assert np.sqrt(power) == pytest.approx(gain, rel=0.02)  # past the filter's onset
    assert f"tilt={tilt:.2f}" in (out / "augment.tsv").read_text()


def test_no_channel_filter_unless_asked(src, tmp_path):
    augment_data_dir(src, tmp_path / "a", AugmentConfig(seed=2), **QUIET)
    assert "tilt=" not in (tmp_path / "a" / "augment.tsv").read_text()


def test_same_seed_same_output_independent_of_jobs(src, tmp_path):
    cfg = AugmentConfig(seed=5, channel_prob=0.5)
    augment_data_dir(src, tmp_path / "a", cfg, num_jobs=1, **QUIET)
    augment_data_dir(src, tmp_path / "b", cfg, num_jobs=2, **QUIET)
    for utt in read_table(tmp_path / "a" / "utt2spk"):
        assert np.array_equal(_audio(tmp_path / "a", utt)[0], _audio(tmp_path / "b", utt)[0])


def test_segments_are_cut_out(seg_dir, tmp_path):
    out = tmp_path / "aug"
    cfg = AugmentConfig(speeds=(1.0,), noise_types=("white",))
    augment_data_dir(seg_dir, out, cfg, **QUIET)
    assert not (out / "segments").exists()
    assert validate_data_dir(out) == []
    assert len(_audio(out, "aug1-s-2")[0]) == int(0.3 * 16000)


def test_bad_options_are_usage_errors(src, tmp_path):
    with pytest.raises(UsageError, match="--speeds"):
        augment_data_dir(src, tmp_path / "x", AugmentConfig(speeds=(3.0,)), **QUIET)
    with pytest.raises(UsageError, match="--noise-dir"):
        augment_data_dir(src, tmp_path / "x", AugmentConfig(noise_types=("file",)), **QUIET)
    with pytest.raises(UsageError, match="unknown type"):
        augment_data_dir(src, tmp_path / "x", AugmentConfig(noise_types=("pinkish",)), **QUIET)
    with pytest.raises(UsageError, match="--tilt"):
        augment_data_dir(src, tmp_path / "x", AugmentConfig(tilt=(0.5, 1.0)), **QUIET)
    with pytest.raises(UsageError, match="--channel-prob"):
        augment_data_dir(src, tmp_path / "x", AugmentConfig(channel_prob=2.0), **QUIET)
    with pytest.raises(UsageError, match="the output is the input"):
        augment_data_dir(src, src, AugmentConfig(), **QUIET)
    with pytest.raises(UsageError, match="LOW:HIGH"):
        parse_range("5-25", "--snr")
    assert not (tmp_path / "x").exists()


def test_unreadable_audio_names_the_utterance_and_leaves_nothing(src, tmp_path):
    (src / "wav" / "s1-2.wav").write_bytes(b"not audio")
    with pytest.raises(SpeechseqError, match="s1-2"):
        augment_data_dir(src, tmp_path / "aug", AugmentConfig(), **QUIET)
    assert not (tmp_path / "aug").exists()
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".aug")] == []


def test_cli(src, tmp_path):
    r = CliRunner().invoke(
        app, ["data", "augment", str(src), str(tmp_path / "aug"), "--speeds", "1.0", "--snr", "20"]
    )
    assert r.exit_code == 0, r.output
    assert "6 utterances" in r.output
    r = CliRunner().invoke(app, ["data", "augment", str(src), str(tmp_path / "x"), "--rt60", "2:1"])
    assert r.exit_code == 2 and "--rt60" in r.output


# --- speaker space and channel simulation ------------------------------------------------------

NOTHING_ELSE = dict(speeds=(1.0,), reverb_prob=0.0, noise_prob=0.0)


def test_speaker_space_draws_are_recorded_move_the_tone_and_scale_the_ctm(src, tmp_path):
    out = tmp_path / "aug"
    cfg = AugmentConfig(
        **NOTHING_ELSE,
        tempo_prob=1.0,
        tempo=(1.25, 1.25),
        vtlp_prob=1.0,
        vtlp=(1.1, 1.1),
        pitch_prob=1.0,
        pitch_semitones=(2.0, 2.0),
        formant_prob=1.0,
        formant=(0.95, 0.95),
    )
    s = augment_data_dir(src, out, cfg, **QUIET)
    assert s.counts == {"tempo": 6, "vtlp": 6, "pitch": 6, "formant": 6}
    tsv = (out / "augment.tsv").read_text().splitlines()
    assert tsv[1] == "aug1-s0-0\ts0-0\tspeed=1 tempo=1.250 vtlp=1.100 pitch=+2.00st formant=0.950"
    assert validate_data_dir(out) == []
    y, sr = _audio(out, "aug1-s1-2")  # a 550 Hz tone
    assert len(y) == round(0.5 * sr / 1.25)
    assert float(read_table(out / "utt2dur")["aug1-s1-2"]) == pytest.approx(0.4, abs=1e-3)
    spec = np.abs(np.fft.rfft(y[1000:-1000] * np.hanning(len(y) - 2000), 16 * sr))
    assert np.argmax(spec) / 16 == pytest.approx(550 * 1.1 * 2 ** (2 / 12), rel=0.004)
    e = [e for e in read_ctm(out / "ctm") if e.utt == "aug1-s1-2"][0]
    assert (e.start_s, e.dur_s) == pytest.approx((0.08, 0.16), abs=1e-3)


def test_channel_draws_are_recorded(src, tmp_path):
    out = tmp_path / "aug"
    cfg = AugmentConfig(
        **NOTHING_ELSE,
        mic_prob=1.0,
        mics=("webcam",),
        clip_prob=1.0,
        clip_db=(6.0, 6.0),
        telephone_prob=1.0,
        codec_prob=1.0,
        codecs=("mulaw",),
    )
    s = augment_data_dir(src, out, cfg, **QUIET)
    assert s.counts == {"mic webcam": 6, "clip": 6, "telephone": 6, "mulaw": 6}
    for line in (out / "augment.tsv").read_text().splitlines()[1:]:
        assert line.endswith("\tspeed=1 mic=webcam clip=6.0dB telephone codec=mulaw")
    assert validate_data_dir(out) == []
    y, sr = _audio(out, "aug1-s0-0")  # a 300 Hz tone: at the telephone band's lower edge
    assert len(y) == sr // 2 and 0.05 < np.max(np.abs(y)) <= 0.99


@pytest.mark.parametrize("codec", ["alaw", "rpe-ltp"])
def test_each_codec_runs_and_is_recorded(src, tmp_path, codec):
    out = tmp_path / "aug"
    cfg = AugmentConfig(**NOTHING_ELSE, codec_prob=1.0, codecs=(codec,))
    augment_data_dir(src, out, cfg, **QUIET)
    assert f"codec={codec}" in (out / "augment.tsv").read_text()
    clean, _ = _audio(src, "s1-1")
    coded, _ = _audio(out, "aug1-s1-1")
    assert len(coded) == len(clean) and not np.allclose(coded, clean, atol=1e-3)


def test_nothing_new_is_drawn_unless_asked(src, tmp_path):
    augment_data_dir(src, tmp_path / "a", AugmentConfig(seed=2, channel_prob=0.5), **QUIET)
    tsv = (tmp_path / "a" / "augment.tsv").read_text()
    for key in ("tempo=", "vtlp=", "pitch=", "formant=", "mic=", "clip=", "telephone", "codec="):
        assert key not in tsv


def test_mic_classes_are_those_of_the_signal_module():
    assert MICS == tuple(MIC_CLASSES)


@pytest.mark.parametrize(
    "args, option",
    [
        (["--vtlp", "1.2:0.9"], "--vtlp"),
        (["--vtlp", "0.5:1.1"], "--vtlp"),
        (["--pitch-semitones", "-20:3"], "--pitch-semitones"),
        (["--tempo", "0:1"], "--tempo"),
        (["--formant", "1.1:1.0"], "--formant"),
        (["--clip-db", "-3:6"], "--clip-db"),
        (["--pitch-prob", "1.5"], "--pitch-prob"),
        (["--codecs", "gsm0610"], "--codecs"),
        (["--mics", "shotgun"], "--mics"),
        (["--tempo", "fast"], "--tempo"),
    ],
)
def test_cli_bad_new_options_are_usage_errors_naming_the_option(src, tmp_path, args, option):
    r = CliRunner().invoke(app, ["data", "augment", str(src), str(tmp_path / "x"), *args])
    assert r.exit_code == 2, r.output
    assert option in r.output
    assert not (tmp_path / "x").exists()


def test_cli_records_the_new_draws(src, tmp_path):
    r = CliRunner().invoke(
        app,
        ["data", "augment", str(src), str(tmp_path / "aug"), "--speeds", "1.0", "--noise-prob",
         "0", "--reverb-prob", "0", "--vtlp-prob", "1", "--vtlp", "0.9:1.1", "--pitch-prob", "1",
         "--tempo-prob", "1", "--tempo", "0.9", "--telephone-prob", "1", "--codec-prob", "1",
         "--codecs", "alaw", "--mic-prob", "1", "--clip-prob", "1"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "pitch 6" in r.output and "telephone 6" in r.output and "alaw 6" in r.output
    rows = (tmp_path / "aug" / "augment.tsv").read_text().splitlines()[1:]
    assert len(rows) == 6
    for row in rows:
        got = dict(kv.split("=") for kv in row.split("\t")[2].split() if "=" in kv)
        assert 0.9 <= float(got["vtlp"]) <= 1.1 and got["tempo"] == "0.900"
        assert -3 <= float(got["pitch"].rstrip("st")) <= 3
        assert got["codec"] == "alaw" and got["mic"] in MICS
        assert 1.0 <= float(got["clip"].rstrip("dB")) <= 10.0
