"""FeatureReader on a data dir made by Kaldi: feats.scp without utt2num_frames, and
Kaldi's per-speaker cmvn.scp instead of speechseq's cmvn.ark (arks written with kaldiio)."""

from __future__ import annotations

from pathlib import Path

import kaldiio
import numpy as np
import pytest

from speechseq.errors import SpeechseqError
from speechseq.features.cmvn import GLOBAL_KEY, apply_cmvn, cmvn_stats
from speechseq.features.reader import FeatureReader, ark_matrix_rows

DIM = 5
UTTS = {"spkA-u1": ("spkA", 7), "spkA-u2": ("spkA", 4), "spkB-u1": ("spkB", 9)}


def kaldi_dir(root: Path, compression: int | None = None, with_cmvn: bool = True) -> dict:
    """What steps/make_fbank.sh + steps/compute_cmvn_stats.sh leave: data/feats.scp and
    data/cmvn.scp pointing into arks in another folder; no utt2num_frames, no cmvn.ark."""
    rng = np.random.default_rng(0)
    data, arks = root / "data" / "train", root / "fbank"
    data.mkdir(parents=True)
    arks.mkdir()
    feats = {
        utt: (rng.standard_normal((n, DIM)) * (1 + i) + i).astype(np.float32)
        for i, (utt, (_, n)) in enumerate(UTTS.items())
    }
    kaldiio.save_ark(
        str(arks / "raw_fbank_train.1.ark"),
        feats,
        scp=str(data / "feats.scp"),
        compression_method=compression,
    )
    if compression is not None:  # what Kaldi's copy-feats --compress wrote, decoded
        feats = {u: np.asarray(m) for u, m in kaldiio.load_scp(str(data / "feats.scp")).items()}
    (data / "utt2spk").write_text("".join(f"{u} {s}\n" for u, (s, _) in UTTS.items()))
    (data / "spk2utt").write_text("spkA spkA-u1 spkA-u2\nspkB spkB-u1\n")
    stats = {
        spk: sum(cmvn_stats(feats[u]) for u, (s, _) in UTTS.items() if s == spk)
        for spk in ("spkA", "spkB")
    }
    if with_cmvn:
        kaldiio.save_ark(str(arks / "cmvn_train.ark"), stats, scp=str(data / "cmvn.scp"))
    return {"dir": data, "feats": feats, "stats": stats}


@pytest.mark.parametrize("compression", [None, 2, 1, 5], ids=["FM", "CM", "CM2", "CM3"])
def test_frame_counts_come_from_the_ark_headers_without_utt2num_frames(tmp_path, compression):
    k = kaldi_dir(tmp_path, compression)
    assert not (k["dir"] / "utt2num_frames").exists()
    reader = FeatureReader(k["dir"], cmvn="utterance")
    assert {u: reader.num_frames(u) for u in reader} == {u: n for u, (_, n) in UTTS.items()}
    np.testing.assert_allclose(
        reader["spkB-u1"], apply_cmvn(k["feats"]["spkB-u1"], cmvn_stats(k["feats"]["spkB-u1"]))
    )


def test_ark_header_rows_are_read_without_loading_and_ranges_fall_back(tmp_path):
    k = kaldi_dir(tmp_path)
    lines = dict(ln.split() for ln in (k["dir"] / "feats.scp").read_text().splitlines())
    assert ark_matrix_rows(lines["spkA-u1"]) == 7
    assert ark_matrix_rows(lines["spkA-u1"] + "[0:2]") is None  # a row range: load it
    assert ark_matrix_rows("gunzip -c x.ark.gz |") is None


def test_a_row_range_in_feats_scp_is_counted_by_loading(tmp_path):
    k = kaldi_dir(tmp_path)
    scp = k["dir"] / "feats.scp"
    lines = [ln.split() for ln in scp.read_text().splitlines()]
    scp.write_text("".join(f"{u} {s}[1:3]\n" if u == "spkA-u1" else f"{u} {s}\n" for u, s in lines))
    reader = FeatureReader(k["dir"], cmvn="none")
    assert reader.num_frames("spkA-u1") == 3 and reader["spkA-u1"].shape == (3, DIM)


def test_kaldi_cmvn_scp_gives_the_speaker_statistics(tmp_path):
    k = kaldi_dir(tmp_path)
    reader = FeatureReader(k["dir"], cmvn="speaker")
    assert reader.dim == DIM
    for utt, (spk, _) in UTTS.items():
        np.testing.assert_allclose(reader.stats_for(utt), k["stats"][spk])
        np.testing.assert_allclose(
            reader[utt], apply_cmvn(k["feats"][utt], k["stats"][spk]), rtol=1e-5, atol=1e-5
        )


def test_kaldi_cmvn_scp_sums_to_the_global_statistics(tmp_path):
    k = kaldi_dir(tmp_path)
    reader = FeatureReader(k["dir"], cmvn="global")
    total = k["stats"]["spkA"] + k["stats"]["spkB"]
    np.testing.assert_allclose(reader.stats_for("spkA-u1"), total)
    assert GLOBAL_KEY not in (k["dir"] / "cmvn.scp").read_text()


def test_speechseq_cmvn_ark_wins_over_kaldi_cmvn_scp(tmp_path):
    k = kaldi_dir(tmp_path)
    ours = {"spkA": k["stats"]["spkB"], "spkB": k["stats"]["spkA"]}  # distinguishable
    kaldiio.save_ark(str(k["dir"] / "cmvn.ark"), ours)
    reader = FeatureReader(k["dir"], cmvn="speaker")
    np.testing.assert_allclose(reader.stats_for("spkA-u1"), k["stats"]["spkB"])


def test_without_any_cmvn_statistics_the_error_names_both_files(tmp_path):
    k = kaldi_dir(tmp_path, with_cmvn=False)
    with pytest.raises(SpeechseqError, match=r"cmvn\.ark: not found .*cmvn\.scp"):
        FeatureReader(k["dir"], cmvn="speaker")


def test_cmvn_scp_of_other_features_is_refused_naming_line_and_speaker(tmp_path):
    k = kaldi_dir(tmp_path)
    kaldiio.save_ark(
        str(tmp_path / "fbank" / "cmvn_bad.ark"),
        {"spkA": k["stats"]["spkA"], "spkB": np.zeros((2, DIM + 3))},
        scp=str(k["dir"] / "cmvn.scp"),
    )
    with pytest.raises(SpeechseqError) as e:
        FeatureReader(k["dir"], cmvn="speaker")
    msg = str(e.value)
    assert "cmvn.scp:2: the statistics of speaker 'spkB' have shape [2, 8], expected [2, 6]" in msg
    assert "compute-cmvn-stats" in msg


def test_cmvn_scp_pointing_at_a_missing_ark_is_one_error(tmp_path):
    k = kaldi_dir(tmp_path)
    (tmp_path / "fbank" / "cmvn_train.ark").unlink()
    with pytest.raises(
        SpeechseqError, match=r"cmvn\.scp:1: cannot load the statistics of speaker 'spkA'"
    ):
        FeatureReader(k["dir"], cmvn="speaker")


def test_a_speaker_missing_from_cmvn_scp_is_named_with_the_kaldi_fix(tmp_path):
    k = kaldi_dir(tmp_path)
    scp = k["dir"] / "cmvn.scp"
    scp.write_text(scp.read_text().splitlines()[0] + "\n")  # spkA only
    with pytest.raises(
        SpeechseqError,
        match=r"cmvn\.scp: no CMVN statistics for the speaker of 'spkB-u1' \(spkB\) — recompute them with Kaldi's compute-cmvn-stats",
    ):
        FeatureReader(k["dir"], cmvn="speaker")
