"""subset, split, combine and fix keep a data dir's features usable: feats.scp,
utt2num_frames, cmvn.ark (checked against CMVN computed by hand from the features),
conf/feats.yaml and reco2file_and_channel."""

from __future__ import annotations

import ast
from pathlib import Path

import kaldiio
import numpy as np
import pytest

import speechseq.data
from speechseq.data.cmvn_stats import GLOBAL_KEY, read_cmvn_ark
from speechseq.data.kaldi_dir import read_table, write_table
from speechseq.data.ops import (
    combine_data_dirs,
    copy_data_dir,
    fix_data_dir,
    split_data_dir,
    subset_data_dir,
)
from speechseq.data.validate import validate_data_dir
from speechseq.errors import SpeechseqError
from speechseq.features import FeatureReader


def hand_stats(data: Path, utts: list[str]) -> np.ndarray:
    """Kaldi stats [2, C + 1] of ``utts``, summed with numpy from the features in ``data``."""
    scp = read_table(data / "feats.scp")
    feats = np.concatenate([kaldiio.load_mat(scp[u]).astype(np.float64) for u in utts])
    return np.stack(
        [
            np.append(feats.sum(0), feats.shape[0]),
            np.append(np.square(feats).sum(0), 0.0),
        ]
    )


def hand_cmvn(feats: np.ndarray, stats: np.ndarray) -> np.ndarray:
    count = stats[0, -1]
    mean = stats[0, :-1] / count
    var = stats[1, :-1] / count - mean**2
    return (feats - mean) / np.sqrt(var)


def test_subset_recomputes_cmvn_of_partly_kept_speaker(tmp_path, feats_dir):
    sub = tmp_path / "sub"
    subset_data_dir(feats_dir, sub, num_utts=3)  # a-1 a-2 (all of a), b-1 (one of b's three)
    stats = read_cmvn_ark(sub / "cmvn.ark")
    assert list(stats) == ["a", "b", GLOBAL_KEY]
    np.testing.assert_array_equal(stats["a"], read_cmvn_ark(feats_dir / "cmvn.ark")["a"])
    np.testing.assert_allclose(stats["b"], hand_stats(feats_dir, ["b-1"]))
    np.testing.assert_allclose(stats[GLOBAL_KEY], hand_stats(feats_dir, ["a-1", "a-2", "b-1"]))
    reader = FeatureReader(sub, cmvn="speaker")
    assert reader.utt_ids == ["a-1", "a-2", "b-1"]
    spk_utts = {"a-1": ["a-1", "a-2"], "a-2": ["a-1", "a-2"], "b-1": ["b-1"]}
    for utt in reader:
        expected = hand_cmvn(reader.raw(utt), hand_stats(feats_dir, spk_utts[utt]))
        np.testing.assert_allclose(reader[utt], expected, rtol=1e-4, atol=1e-4)
    assert validate_data_dir(sub) == []


def test_subset_by_speakers_keeps_their_stats(tmp_path, feats_dir):
    subset_data_dir(feats_dir, tmp_path / "sub", speakers="a,c")
    stats, orig = (
        read_cmvn_ark(tmp_path / "sub" / "cmvn.ark"),
        read_cmvn_ark(feats_dir / "cmvn.ark"),
    )
    assert list(stats) == ["a", "c", GLOBAL_KEY]
    np.testing.assert_array_equal(stats["c"], orig["c"])
    np.testing.assert_allclose(stats[GLOBAL_KEY], hand_stats(feats_dir, ["a-1", "a-2", "c-1"]))
    FeatureReader(tmp_path / "sub", cmvn="global")


def test_subset_carries_feats_yaml_and_filters_reco2file_and_channel(tmp_path, feats_dir):
    subset_data_dir(feats_dir, tmp_path / "sub", speakers="c")
    sub = tmp_path / "sub"
    assert (sub / "conf" / "feats.yaml").read_text() == (
        feats_dir / "conf" / "feats.yaml"
    ).read_text()
    assert read_table(sub / "reco2file_and_channel") == {"c-1": "c-1 A"}
    assert read_table(sub / "utt2num_frames") == {
        "c-1": read_table(feats_dir / "utt2num_frames")["c-1"]
    }


def test_copy_carries_every_table_but_the_features_unless_asked(tmp_path, feats_dir):
    copy_data_dir(feats_dir, tmp_path / "copy")
    copy = tmp_path / "copy"
    names = {p.name for p in feats_dir.iterdir() if p.is_file()}
    assert {"feats.scp", "utt2num_frames", "cmvn.ark", "reco2file_and_channel"} <= names
    kept = {p.name for p in copy.iterdir() if p.is_file()}
    assert kept == names - {"feats.scp", "utt2num_frames", "cmvn.ark"}
    assert not (copy / "conf").exists()
    for name in kept:
        assert read_table(copy / name) == read_table(feats_dir / name), name
    assert not [p for p in validate_data_dir(copy, check_audio=False) if p.is_error]
    # --feats: the features come along and load as the original's
    copy_data_dir(feats_dir, tmp_path / "with", feats=True)
    assert {p.name for p in (tmp_path / "with").iterdir() if p.is_file()} == names
    a, b = (
        FeatureReader(feats_dir, cmvn="speaker"),
        FeatureReader(tmp_path / "with", cmvn="speaker"),
    )
    for utt in a:
        np.testing.assert_array_equal(a[utt], b[utt])


def test_copy_refuses_itself_and_an_invalid_dir(tmp_path, feats_dir):
    with pytest.raises(SpeechseqError, match="the output is the input directory"):
        copy_data_dir(feats_dir, feats_dir)
    (feats_dir / "utt2spk").write_text("a-1 a\n")  # text names utterances utt2spk lacks
    with pytest.raises(SpeechseqError, match="not a valid data directory"):
        copy_data_dir(feats_dir, tmp_path / "copy")
    assert not (tmp_path / "copy").exists()


def test_subset_leaves_nothing_when_features_cannot_be_read(tmp_path, feats_dir):
    scp = read_table(feats_dir / "feats.scp")
    (tmp_path / "empty.ark").write_bytes(b"")
    scp["b-1"] = str(tmp_path / "empty.ark") + ":10"
    write_table(feats_dir / "feats.scp", scp)
    with pytest.raises(SpeechseqError, match=r"feats.scp: cannot load 'b-1'"):
        subset_data_dir(feats_dir, tmp_path / "sub", num_utts=3)
    assert not (tmp_path / "sub").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".sub")] == []


def test_split_parts_load_with_their_speakers_stats(feats_dir):
    orig = read_cmvn_ark(feats_dir / "cmvn.ark")
    for part in split_data_dir(feats_dir, 2):
        stats = read_cmvn_ark(part / "cmvn.ark")
        spks = sorted(set(read_table(part / "utt2spk").values()))
        assert list(stats) == [*spks, GLOBAL_KEY]
        for s in spks:
            np.testing.assert_array_equal(stats[s], orig[s])
        np.testing.assert_allclose(
            stats[GLOBAL_KEY], hand_stats(part, list(read_table(part / "utt2spk")))
        )
        reader = FeatureReader(part, cmvn="speaker")
        assert len(reader) == 3 and reader[reader.utt_ids[0]].shape[1] == 23
        assert (part / "conf" / "feats.yaml").is_file()


def test_combine_of_split_parts_gives_the_original_stats(tmp_path, feats_dir):
    parts = split_data_dir(feats_dir, 2)
    assert combine_data_dirs(tmp_path / "all", parts) == []
    stats, orig = (
        read_cmvn_ark(tmp_path / "all" / "cmvn.ark"),
        read_cmvn_ark(feats_dir / "cmvn.ark"),
    )
    assert list(stats) == list(orig)
    for k in orig:
        np.testing.assert_allclose(stats[k], orig[k])
    for name in ("feats.scp", "utt2num_frames", "reco2file_and_channel", "conf/feats.yaml"):
        assert (tmp_path / "all" / name).read_text() == (feats_dir / name).read_text()
    FeatureReader(tmp_path / "all", cmvn="speaker")


def test_combine_adds_stats_of_a_speaker_in_two_inputs(tmp_path, feats_dir):
    s1, s2 = tmp_path / "s1", tmp_path / "s2"
    subset_data_dir(feats_dir, s1, num_utts=3)  # a-1 a-2 b-1
    subset_data_dir(feats_dir, s2, speakers="b,c")
    write_table(s2 / "text", {"b-2": "x", "b-3": "y", "c-1": "z"})
    fix_data_dir(s2, backup=False)  # drops b-1: speaker b is in both inputs
    combine_data_dirs(tmp_path / "all", [s1, s2])
    stats, orig = (
        read_cmvn_ark(tmp_path / "all" / "cmvn.ark"),
        read_cmvn_ark(feats_dir / "cmvn.ark"),
    )
    assert list(stats) == list(orig)
    for k in orig:
        np.testing.assert_allclose(stats[k], orig[k])


def test_fix_recomputes_stats_of_a_speaker_it_shrinks(feats_dir):
    text = read_table(feats_dir / "text")
    del text["b-2"]
    write_table(feats_dir / "text", text)
    before = (feats_dir / "cmvn.ark").read_bytes()
    fix_data_dir(feats_dir)
    np.testing.assert_allclose(
        read_cmvn_ark(feats_dir / "cmvn.ark")["b"], hand_stats(feats_dir, ["b-1", "b-3"])
    )
    assert (feats_dir / ".backup" / "cmvn.ark").read_bytes() == before
    assert "b-2" not in read_table(feats_dir / "reco2file_and_channel")


def test_combine_rejects_different_feature_settings(tmp_path, feats_dir):
    p1, p2 = split_data_dir(feats_dir, 2)
    yaml_path = p2 / "conf" / "feats.yaml"
    yaml_path.write_text(yaml_path.read_text().replace("num_mel_bins: 23", "num_mel_bins: 40"))
    with pytest.raises(SpeechseqError) as e:
        combine_data_dirs(tmp_path / "all", [p1, p2])
    msg = str(e.value)
    assert str(p1) in msg and str(p2) in msg and "num_mel_bins: 23" in msg and "40" in msg
    assert "speechseq compute-feats" in msg
    assert not (tmp_path / "all").exists()


def test_combine_leaves_out_features_missing_from_an_input(tmp_path, feats_dir, data_dir):
    subset_data_dir(feats_dir, tmp_path / "s1", speakers="a")
    subset_data_dir(data_dir, tmp_path / "s2", speakers="b")  # no features
    notes = combine_data_dirs(tmp_path / "all", [tmp_path / "s1", tmp_path / "s2"])
    assert any(n.startswith("left out cmvn.ark") for n in notes)
    assert any(n.startswith("left out conf/feats.yaml") for n in notes)
    assert not (tmp_path / "all" / "cmvn.ark").exists()
    assert not (tmp_path / "all" / "conf").exists()


def test_data_package_does_not_import_features():
    for path in Path(speechseq.data.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            assert not any(n.startswith("speechseq.features") for n in names), path
