"""Multi-channel audio is never quietly cut to channel 0: --channel N|mix, reco2file_and_channel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from speechseq.cli.main import app
from speechseq.data.audio import read_audio, read_spec
from speechseq.data.kaldi_dir import DataDir, TableError, write_table
from speechseq.data.validate import format_problems, validate_data_dir
from speechseq.errors import SpeechseqError
from speechseq.features import FeatureConfig, FeatureReader, compute_feats
from tests.data.helpers import STEREO_UTTS, make_dir, speech_on_channel_1, tone, write_audio

CFG = FeatureConfig(type="fbank", num_mel_bins=23, dither=0.0)


def feats_of(data: Path) -> dict[str, np.ndarray]:
    reader = FeatureReader(data)
    return {u: reader.raw(u) for u in reader.utt_ids}


def mono_dir(root: Path, samples: dict[str, np.ndarray]) -> Path:
    """A data dir of one-channel FLOAT wavs holding exactly ``samples`` (so no requantising)."""
    files = {
        u: write_audio(root / "wav" / f"{u}.wav", x, subtype="FLOAT") for u, x in samples.items()
    }
    return make_dir(root, files)


# --- reading ---------------------------------------------------------------------------------


def test_read_audio_mixes_the_channels_by_default(tmp_path):
    x = speech_on_channel_1(tmp_path / "st.wav")
    y = read_audio(tmp_path / "st.wav")
    assert np.max(np.abs(y)) > 0.1  # not the silent channel 0
    np.testing.assert_array_equal(y, x.mean(axis=1).astype(np.float32))


def test_read_audio_channel_1_reads_the_second_channel_exactly(tmp_path):
    x = speech_on_channel_1(tmp_path / "st.wav")
    np.testing.assert_array_equal(read_audio(tmp_path / "st.wav", channel=1), x[:, 1])
    np.testing.assert_array_equal(read_audio(tmp_path / "st.wav", channel=0), x[:, 0])


def test_read_audio_channel_the_file_lacks_names_file_count_and_fix(tmp_path):
    speech_on_channel_1(tmp_path / "st.wav")
    with pytest.raises(SpeechseqError) as e:
        read_audio(tmp_path / "st.wav", channel=2, what="utt1")
    msg = str(e.value)
    assert msg.startswith(f"utt1 ({tmp_path / 'st.wav'}): channel 2 asked for")
    assert "has 2 channel(s)" in msg and "--channel 0 to 1, or --channel mix" in msg


def test_one_channel_audio_reads_the_same_with_mix_and_channel_0(tmp_path):
    p = write_audio(tmp_path / "m.wav", tone(440, 0.1))
    np.testing.assert_array_equal(read_audio(p), read_audio(p, channel=0))
    with pytest.raises(SpeechseqError, match="has 1 channel"):
        read_audio(p, channel=1)


def test_data_dir_channel_option_reaches_the_audio_spec(stereo):
    d, samples = stereo
    data = DataDir(d)
    np.testing.assert_array_equal(read_spec(data.audio_spec("s-1", 1)), samples["s-1"][:, 1])
    np.testing.assert_array_equal(
        read_spec(data.audio_spec("s-1")), samples["s-1"].mean(axis=1).astype(np.float32)
    )


# --- reco2file_and_channel -------------------------------------------------------------------


@pytest.mark.parametrize("label", ["B", "b", "2"])
def test_reco2file_and_channel_b_picks_the_second_channel(stereo, label):
    d, samples = stereo
    write_table(d / "reco2file_and_channel", {u: f"{u} {label}" for u in STEREO_UTTS})
    spec = DataDir(d).audio_spec("s-1", channel=0)  # the table wins over the option
    assert spec.channel == 1 and spec.channel_from.endswith(
        f"reco2file_and_channel:1 (channel {label})"
    )
    np.testing.assert_array_equal(read_spec(spec), samples["s-1"][:, 1])


def test_reco2file_and_channel_a_picks_the_first_channel(stereo):
    d, samples = stereo
    write_table(d / "reco2file_and_channel", {u: f"{u} A" for u in STEREO_UTTS})
    np.testing.assert_array_equal(read_spec(DataDir(d).audio_spec("s-2")), samples["s-2"][:, 0])


def test_reco2file_and_channel_naming_a_missing_channel_is_an_error_naming_its_line(stereo):
    d, _ = stereo
    write_table(d / "reco2file_and_channel", {"s-1": "s-1 A", "s-2": "s-2 C"})
    with pytest.raises(SpeechseqError) as e:
        read_spec(DataDir(d).audio_spec("s-2"), what="s-2")
    msg = str(e.value)
    assert "s-2 (" in msg and "reco2file_and_channel:2 (channel C)" in msg
    assert "the audio has 2 channel(s)" in msg and "fix that line" in msg


def test_reco2file_and_channel_b_on_one_channel_audio_reads_it_as_is(tmp_path):
    """Kaldi's wav.scp often extracts the channel itself (sph2pipe -c 2 ... |)."""
    x = tone(440, 0.2)
    d = make_dir(tmp_path / "d", {"r-B": write_audio(tmp_path / "r.wav", x)})
    write_table(d / "reco2file_and_channel", {"r-B": "r B"})
    np.testing.assert_allclose(read_spec(DataDir(d).audio_spec("r-B")), x, atol=1e-4)


@pytest.mark.parametrize("line", ["s-1 A0", "s-1 0", "s-1 A extra"])
def test_reco2file_and_channel_bad_line_is_an_error_naming_it(stereo, line):
    d, _ = stereo
    (d / "reco2file_and_channel").write_text(f"{line}\n")
    with pytest.raises(TableError, match=r"reco2file_and_channel:1: "):
        DataDir(d).audio_spec("s-1")
    problems = validate_data_dir(d, check_audio=False)
    assert any("reco2file_and_channel:1: " in str(p) for p in problems if p.is_error)


# --- validate --------------------------------------------------------------------------------


def test_validate_notes_multi_channel_recordings_and_how_they_are_read(stereo):
    d, _ = stereo
    problems = validate_data_dir(d)
    assert not [p for p in problems if p.is_error]
    lines = format_problems(problems)
    assert len(lines) == 1 and lines[0].startswith(f"note: {d}/wav.scp: 2 recording(s) have")
    assert (
        "'s-1': 2 channels" in lines[0] and "average of their channels (--channel mix)" in lines[0]
    )
    one = format_problems(validate_data_dir(d, channel=1))
    assert "read as channel 1 (--channel 1)" in one[0]


def test_validate_notes_channels_chosen_by_reco2file_and_channel(stereo):
    d, _ = stereo
    write_table(d / "reco2file_and_channel", {u: f"{u} B" for u in STEREO_UTTS})
    lines = format_problems(validate_data_dir(d))
    assert len(lines) == 1 and lines[0].startswith("note: ")
    assert "reco2file_and_channel names (e.g. 's-1': B, channel index 1)" in lines[0]


def test_validate_reports_a_channel_the_recording_lacks(stereo):
    d, _ = stereo
    errors = [str(p) for p in validate_data_dir(d, channel=2) if p.is_error]
    assert len(errors) == 2
    assert errors[0].startswith(f"{d}/wav.scp:1: recording 's-1' has 2 channel(s), so channel 2")
    write_table(d / "reco2file_and_channel", {"s-1": "s-1 A", "s-2": "s-2 C"})
    errors = [str(p) for p in validate_data_dir(d) if p.is_error]
    assert errors == [
        f"{d}/reco2file_and_channel:2: recording 's-2' is channel C here, but its audio "
        f"({d.parent / 'wav' / 's-2.wav'}) has 2 channels — fix the line (A or 1 is the first "
        f"channel, B or 2 the second)"
    ]


def test_validate_reports_recordings_missing_from_reco2file_and_channel(stereo):
    d, _ = stereo
    write_table(d / "reco2file_and_channel", {"s-1": "s-1 B", "zz": "zz A"})
    errors = [str(p) for p in validate_data_dir(d, check_audio=False) if p.is_error]
    assert any("reco2file_and_channel:2: recording 'zz' is not in wav.scp" in e for e in errors)
    assert any("recording 's-2' (wav.scp line 2) is missing" in e for e in errors)


def test_cli_validate_prints_the_note_and_exits_0(stereo):
    d, _ = stereo
    res = CliRunner().invoke(app, ["data", "validate", str(d)])
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines()[0].startswith("note: ")
    assert f"{d}: OK (2 utterances" in res.stdout


# --- compute-feats ---------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["mix", "1", "reco2file_and_channel B"])
def test_compute_feats_of_stereo_equals_that_of_the_chosen_channel_as_mono(stereo, tmp_path, how):
    d, samples = stereo
    if how == "mix":
        chosen, channel = {u: x.mean(axis=1).astype(np.float32) for u, x in samples.items()}, "mix"
    elif how == "1":
        chosen, channel = {u: x[:, 1] for u, x in samples.items()}, 1
    else:
        chosen, channel = {u: x[:, 1] for u, x in samples.items()}, 0  # the table overrides 0
        write_table(d / "reco2file_and_channel", {u: f"{u} B" for u in STEREO_UTTS})
    mono = mono_dir(tmp_path / "mono", chosen)
    compute_feats(d, CFG, progress=False, channel=channel)
    compute_feats(mono, CFG, progress=False)
    got, want = feats_of(d), feats_of(mono)
    assert list(got) == list(STEREO_UTTS)
    for u in STEREO_UTTS:
        np.testing.assert_array_equal(got[u], want[u])


def test_cli_compute_feats_channel_option(stereo, tmp_path):
    d, samples = stereo
    mono = mono_dir(tmp_path / "mono", {u: x[:, 1] for u, x in samples.items()})
    res = CliRunner().invoke(
        app, ["compute-feats", str(d), "--channel", "1", "--num-mel-bins", "23", "--dither", "0"]
    )
    assert res.exit_code == 0, res.output
    compute_feats(mono, CFG, progress=False)
    for u in STEREO_UTTS:
        np.testing.assert_array_equal(feats_of(d)[u], feats_of(mono)[u])


def test_cli_compute_feats_channel_past_the_last_is_one_error_line(stereo):
    d, _ = stereo
    res = CliRunner().invoke(app, ["compute-feats", str(d), "--channel", "2"])
    assert res.exit_code == 1
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: s-1 (")
    assert "s-1.wav): channel 2 asked for, but the audio has 2 channel(s)" in lines[0]
    assert "Traceback" not in res.output
    assert not (d / "feats.scp").exists()


def test_cli_channel_that_is_not_a_number_or_mix_is_a_usage_error(stereo):
    d, _ = stereo
    res = CliRunner().invoke(app, ["compute-feats", str(d), "--channel", "left"])
    assert res.exit_code == 2
    assert res.stderr.splitlines() == [
        "error: --channel left: give a channel number (0 = the first channel) or mix "
        "(the average of the channels)"
    ]


def test_augment_reads_the_chosen_channel(stereo, tmp_path):
    from speechseq.data.augment import AugmentConfig, augment_data_dir

    d, samples = stereo
    cfg = AugmentConfig(speeds=(1.0,), reverb_prob=0.0, noise_prob=0.0, noise_types=("white",))
    augment_data_dir(d, tmp_path / "aug", cfg, progress=False, channel=1)
    out = DataDir(tmp_path / "aug")
    x = read_audio(out.wav_scp["aug1-s-1"])
    np.testing.assert_allclose(x, samples["s-1"][:, 1], atol=1e-4)
