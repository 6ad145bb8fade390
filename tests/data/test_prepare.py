"""from-folder and librispeech preparation."""

from __future__ import annotations

import pytest

from speechseq.data.kaldi_dir import read_table
from speechseq.data.prepare import prepare_from_folder, prepare_librispeech
from speechseq.data.validate import validate_data_dir
from speechseq.errors import SpeechseqError
from tests.data.helpers import tone, write_audio


def make_folder(root, with_text=True):
    """alice/one.wav, alice/two.flac, bob/three.ogg (+ same-name .txt/.lab)."""
    write_audio(root / "alice" / "one.wav", tone(300, 0.2))
    write_audio(root / "alice" / "two.flac", tone(400, 0.3, sr=22050), sr=22050)
    write_audio(root / "bob" / "three.ogg", tone(500, 0.2), subtype="VORBIS")
    if with_text:
        (root / "alice" / "one.txt").write_text("hello  world\n")
        (root / "alice" / "two.lab").write_text("good\nmorning\n")
        (root / "bob" / "three.txt").write_text("three")
    return root


def test_from_folder_reads_formats_transcripts_and_speakers(tmp_path):
    report = prepare_from_folder(make_folder(tmp_path / "audio"), tmp_path / "out")
    out = tmp_path / "out"
    assert read_table(out / "text") == {
        "alice-one": "hello world",
        "alice-two": "good morning",
        "bob-three": "three",
    }
    assert read_table(out / "utt2spk") == {
        "alice-one": "alice",
        "alice-two": "alice",
        "bob-three": "bob",
    }
    assert read_table(out / "utt2dur")["alice-two"] == "0.300"
    assert (report.num_utts, report.num_spks, report.sample_rates) == (3, 2, {16000: 2, 22050: 1})
    assert [p for p in validate_data_dir(out) if not p.warning] == []


def test_from_folder_reads_tsv_and_speaker_regex(tmp_path):
    audio = tmp_path / "audio"
    write_audio(audio / "spkA_001.wav", tone())
    write_audio(audio / "spkB_002.wav", tone())
    (tmp_path / "t.tsv").write_text("spkA_001\tyes please\nspkB_002\tno thanks\n")
    prepare_from_folder(
        audio, tmp_path / "out", transcripts=tmp_path / "t.tsv", speaker_regex=r"^(spk\w)_"
    )
    assert read_table(tmp_path / "out" / "utt2spk") == {
        "spkA-spkA_001": "spkA",
        "spkB-spkB_002": "spkB",
    }
    assert read_table(tmp_path / "out" / "text")["spkB-spkB_002"] == "no thanks"


def test_from_folder_rejects_audio_without_transcript(tmp_path):
    audio = make_folder(tmp_path / "audio")
    (audio / "bob" / "three.txt").unlink()
    with pytest.raises(
        SpeechseqError, match=r"three.ogg: audio without a transcript .*--allow-missing-text"
    ):
        prepare_from_folder(audio, tmp_path / "out")
    assert not (tmp_path / "out").exists() and list(tmp_path.iterdir()) == [audio]


def test_from_folder_allow_missing_text_leaves_file_out(tmp_path):
    audio = make_folder(tmp_path / "audio")
    (audio / "bob" / "three.txt").unlink()
    report = prepare_from_folder(audio, tmp_path / "out", allow_missing_text=True)
    assert report.num_utts == 2 and "left out 1" in report.notes[0]


def test_from_folder_no_text_writes_unlabelled_dir(tmp_path):
    prepare_from_folder(
        make_folder(tmp_path / "audio", with_text=False), tmp_path / "out", no_text=True
    )
    assert not (tmp_path / "out" / "text").exists() and (tmp_path / "out" / "wav.scp").is_file()


def test_from_folder_rejects_transcript_without_audio(tmp_path):
    audio = make_folder(tmp_path / "audio")
    (audio / "bob" / "four.txt").write_text("orphan")
    with pytest.raises(SpeechseqError, match=r"four.txt: transcript without audio"):
        prepare_from_folder(audio, tmp_path / "out")


def test_from_folder_rejects_tsv_line_without_audio(tmp_path):
    audio = tmp_path / "audio"
    write_audio(audio / "s" / "a.wav", tone())
    (tmp_path / "t.tsv").write_text("a\tyes\nb\tno\n")
    with pytest.raises(SpeechseqError, match=r"t.tsv:2: transcript for 'b', but there is no audio"):
        prepare_from_folder(audio, tmp_path / "out", transcripts=tmp_path / "t.tsv")


def test_from_folder_rejects_non_utf8_transcript(tmp_path):
    audio = make_folder(tmp_path / "audio")
    (audio / "bob" / "three.txt").write_bytes(b"caf\xe9")
    with pytest.raises(SpeechseqError, match=r"three.txt:1: not valid UTF-8"):
        prepare_from_folder(audio, tmp_path / "out")


def test_from_folder_rejects_empty_audio_file(tmp_path):
    audio = make_folder(tmp_path / "audio")
    (audio / "bob" / "three.ogg").write_bytes(b"")
    with pytest.raises(SpeechseqError, match=r"utterance 'bob-three' .*is empty"):
        prepare_from_folder(audio, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_from_folder_rejects_truncated_wav(tmp_path):
    audio = make_folder(tmp_path / "audio")
    p = audio / "alice" / "one.wav"
    p.write_bytes(p.read_bytes()[:1000])
    with pytest.raises(SpeechseqError, match=r"alice-one.*truncated"):
        prepare_from_folder(audio, tmp_path / "out")


def test_from_folder_rejects_duplicate_utterance_ids(tmp_path):
    audio = make_folder(tmp_path / "audio")
    write_audio(audio / "alice" / "one.flac", tone())
    with pytest.raises(SpeechseqError, match=r"utterance id 'alice-one' is also made from"):
        prepare_from_folder(audio, tmp_path / "out")


def test_from_folder_keeps_old_output_on_failure(tmp_path):
    audio = make_folder(tmp_path / "audio")
    prepare_from_folder(audio, tmp_path / "out")
    (audio / "bob" / "three.txt").unlink()
    with pytest.raises(SpeechseqError):
        prepare_from_folder(audio, tmp_path / "out")
    assert len(read_table(tmp_path / "out" / "text")) == 3


def make_librispeech(root):
    """Two speakers, three chapters, flac files written by soundfile."""
    for spk, chapter, n in [("84", "121123", 2), ("84", "121550", 1), ("174", "50561", 2)]:
        d = root / spk / chapter
        lines = []
        for i in range(n):
            utt = f"{spk}-{chapter}-{i:04d}"
            write_audio(d / f"{utt}.flac", tone(300 + 100 * i, 0.2))
            lines.append(f"{utt} WORD NUMBER {i}")
        (d / f"{spk}-{chapter}.trans.txt").write_text("\n".join(lines) + "\n")
    return root


def test_librispeech_prepares_tree(tmp_path):
    report = prepare_librispeech(make_librispeech(tmp_path / "dev-clean"), tmp_path / "out")
    out = tmp_path / "out"
    assert (report.num_utts, report.num_spks) == (5, 2)
    assert read_table(out / "text")["84-121123-0001"] == "WORD NUMBER 1"
    assert read_table(out / "spk2utt")["84"] == "84-121123-0000 84-121123-0001 84-121550-0000"
    assert validate_data_dir(out) == []


def test_librispeech_lowercases_on_request(tmp_path):
    prepare_librispeech(make_librispeech(tmp_path / "ls"), tmp_path / "out", lowercase=True)
    assert read_table(tmp_path / "out" / "text")["174-50561-0000"] == "word number 0"


def test_librispeech_rejects_transcript_without_flac(tmp_path):
    root = make_librispeech(tmp_path / "ls")
    (root / "174" / "50561" / "174-50561-0001.flac").unlink()
    with pytest.raises(
        SpeechseqError, match=r"174-50561.trans.txt:2: transcript for '174-50561-0001'"
    ):
        prepare_librispeech(root, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_librispeech_rejects_flac_without_transcript(tmp_path):
    root = make_librispeech(tmp_path / "ls")
    write_audio(root / "84" / "121550" / "84-121550-0009.flac", tone())
    with pytest.raises(SpeechseqError, match=r"84-121550-0009.flac: audio without a transcript"):
        prepare_librispeech(root, tmp_path / "out")


def test_librispeech_rejects_root_without_tree(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SpeechseqError, match="give a subset folder such as LibriSpeech/dev-clean"):
        prepare_librispeech(tmp_path / "empty", tmp_path / "out")
