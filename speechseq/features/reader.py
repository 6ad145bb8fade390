"""``FeatureReader``: random access to a data dir's features, normalised at load time.

The tables are read from one snapshot of the committed features
(:mod:`speechseq.features.files`), never from two runs of compute-feats. ``reader[utt]``
loads one matrix from its ark (kaldiio, lazily), applies CMVN (per utterance, or per
speaker or global from ``DATA/cmvn.ark``) and then deltas, as Kaldi's
``apply-cmvn ... | add-deltas`` pipeline does. The reader holds only tables and
statistics, so it pickles into DataLoader workers.

A data dir made by Kaldi (``steps/make_fbank.sh`` + ``steps/compute_cmvn_stats.sh``) reads
as it is: without ``utt2num_frames`` the frame counts come from the matrices' headers in the
arks (plain or compressed), and without ``cmvn.ark`` Kaldi's per-speaker ``cmvn.scp``
(``[2, D + 1]`` each) gives the speaker statistics, their sum the global ones.

With ``compute=FeatureConfig`` the reader stores nothing and needs no feats.scp: the
utterances are those of utt2spk, ``reader[utt]`` reads the audio (wav.scp, segments,
reco2file_and_channel) and computes its features with those settings, exactly as
compute-feats would store them (dither seeded by utterance), in whichever DataLoader worker
asks for it; frame counts come from the audio headers, and speaker or global CMVN
statistics from one pass over the audio when the reader is made. The normalisation is the
same as for stored features.
"""

from __future__ import annotations

import os
from pathlib import Path

import kaldiio
import numpy as np

from speechseq.data.kaldi_dir import DataDir, c_sorted, read_table
from speechseq.errors import SpeechseqError, UsageError
from speechseq.features.cmvn import GLOBAL_KEY, apply_cmvn, cmvn_stats
from speechseq.features.config import FeatureConfig
from speechseq.features.deltas import add_deltas
from speechseq.features.extract import (
    audio_cmvn_stats,
    audio_features,
    audio_items,
    expected_frames,
)
from speechseq.features.files import feature_files

CMVN_MODES = ("utterance", "speaker", "global", "none")
KALDI_CMVN_SCP = "cmvn.scp"  # Kaldi's per-speaker statistics; used when cmvn.ark is absent


def ark_matrix_rows(spec: str) -> int | None:
    """Rows of the binary Kaldi matrix at ``spec`` (``file.ark:offset``) read from its header
    alone; None when the header cannot say (a pipe, a row range, a text matrix)."""
    if "[" in spec or spec.rstrip().endswith("|") or spec.lstrip().startswith("|"):
        return None
    name, sep, offset = spec.rpartition(":")
    if not sep or not offset.isdigit():
        return None
    try:
        with open(name, "rb") as f:
            f.seek(int(offset))
            head = f.read(2 + 4 + 12)
    except OSError:
        return None
    if head[:2] != b"\0B":
        return None
    kind, _, rest = head[2:].partition(b" ")
    if kind in (b"FM", b"DM") and rest[:1] == b"\4" and len(rest) >= 5:
        return int(np.frombuffer(rest[1:5], dtype="<i4")[0])
    if kind in (b"CM", b"CM2", b"CM3") and len(rest) >= 12:  # min, range (float32), rows, cols
        return int(np.frombuffer(rest[8:12], dtype="<i4")[0])
    return None


def _missing(path: Path, what: str) -> SpeechseqError:
    return SpeechseqError(
        f"{path}: not found — {what}; run `speechseq compute-feats {path.parent}` first"
    )


class FeatureReader:
    """Features of ``data_dir``: ``reader[utt] -> float32 [T, dim]``.

    ``cmvn``: "utterance" (stats of the utterance itself), "speaker" (stats of the
    utterance's speaker), "global" (``global_stats`` if given — a model's training-set
    statistics — else those of the whole data dir) or "none"; mean and variance are
    normalised. ``deltas``: add that many orders of delta features (Kaldi's add-deltas,
    window 2), so ``dim = C * (deltas + 1)``. ``compute``: features computed from the audio
    with these settings instead of read from feats.scp (see the module doc); ``num_jobs``
    processes for the statistics pass that speaker or global CMVN then needs.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike,
        cmvn: str = "speaker",
        deltas: int = 0,
        global_stats: np.ndarray | None = None,
        compute: FeatureConfig | None = None,
        num_jobs: int = 1,
    ):
        if cmvn not in CMVN_MODES:
            raise UsageError(f"cmvn '{cmvn}' is unknown — use one of {', '.join(CMVN_MODES)}")
        if deltas < 0:
            raise UsageError(f"deltas must be 0 or more, got {deltas}")
        self.path = Path(data_dir)
        self.cmvn = cmvn
        self.deltas = int(deltas)
        self.compute = compute
        if compute is not None:
            items = audio_items(DataDir(self.path))
            self._scp = {it.utt: it.audio for it in items}  # utt -> AudioSpec
            self.utt_ids: list[str] = [it.utt for it in items]
            self._num_frames = {it.utt: expected_frames(it.utt, it.audio, compute) for it in items}
            short = [u for u in self.utt_ids if self._num_frames[u] == 0]
            if short:
                raise SpeechseqError(
                    f"{self.path}: utterance '{short[0]}' ({len(short)} in all) is shorter than one "
                    f"{compute.frame_length_ms:g} ms frame — remove it from the data dir or fix its audio/segment"
                )
        else:
            # one snapshot of the committed features: a compute-feats run that commits while
            # this reader is made cannot mix its files with the previous run's
            self._files = feature_files(self.path).committed().paths
            if "feats.scp" not in self._files:
                raise _missing(self.path / "feats.scp", "the data dir has no features")
            self._scp = read_table(self._files["feats.scp"])
            self.utt_ids = c_sorted(self._scp)
            self._num_frames = self._read_num_frames()
        self._stats: dict[str, np.ndarray] = {}
        self._utt2spk: dict[str, str] = {}
        if cmvn == "global" and global_stats is not None:
            self._stats = {GLOBAL_KEY: np.asarray(global_stats, dtype=np.float64)}
        elif cmvn in ("speaker", "global") and compute is not None:
            self._stats = audio_cmvn_stats(items, DataDir(self.path).utt2spk, compute, num_jobs)
            self._utt2spk = DataDir(self.path).utt2spk
        elif cmvn in ("speaker", "global"):
            self._stats = self._read_stats()
            if cmvn == "speaker":
                self._utt2spk = DataDir(self.path).utt2spk
                for utt in self.utt_ids:
                    spk = self._utt2spk.get(utt)
                    if spk is None or spk not in self._stats:
                        kaldi = "cmvn.ark" not in self._files
                        raise SpeechseqError(
                            f"{self.path / ('cmvn.scp' if kaldi else 'cmvn.ark')}: no CMVN statistics "
                            f"for the speaker of '{utt}' ({spk}) — "
                            + (
                                "recompute them with Kaldi's compute-cmvn-stats --spk2utt"
                                if kaldi
                                else f"rerun `speechseq compute-feats {self.path}`"
                            )
                            + " after changing utt2spk"
                        )
        self._base_dim = self._first_dim()
        self.dim: int = self._base_dim * (self.deltas + 1)

    def _read_num_frames(self) -> dict[str, int]:
        """Frames per utterance: utt2num_frames, or (a Kaldi-made dir) the matrices' headers."""
        path = self.path / "utt2num_frames"
        if path.name not in self._files:
            return {utt: self._rows(utt) for utt in self.utt_ids}
        table = read_table(self._files[path.name])
        out = {}
        for utt in self.utt_ids:
            if utt not in table:
                raise SpeechseqError(
                    f"{path}: '{utt}' of feats.scp is missing — rerun `speechseq compute-feats {self.path}`"
                    " or delete utt2num_frames (the frame counts are then read from the arks)"
                )
            out[utt] = int(table[utt])
        return out

    def _rows(self, utt: str) -> int:
        """Frames of ``utt`` from its ark header, without loading the matrix when it can."""
        rows = ark_matrix_rows(self._scp[utt])
        return int(self._load(utt).shape[0]) if rows is None else rows

    def _read_stats(self) -> dict[str, np.ndarray]:
        path = self.path / "cmvn.ark"
        if path.name not in self._files:
            if (self.path / KALDI_CMVN_SCP).is_file():
                return self._read_kaldi_stats(self.path / KALDI_CMVN_SCP)
            raise _missing(
                path,
                "CMVN statistics are needed for cmvn='speaker' or 'global' (Kaldi's cmvn.scp "
                "from compute-cmvn-stats --spk2utt serves too)",
            )
        stats = {
            k: np.asarray(v, dtype=np.float64)
            for k, v in kaldiio.load_ark(str(self._files[path.name]))
        }
        if self.cmvn == "global" and GLOBAL_KEY not in stats:
            raise SpeechseqError(
                f"{path}: no '{GLOBAL_KEY}' entry — rerun `speechseq compute-feats {self.path}`"
            )
        return stats

    def _read_kaldi_stats(self, path: Path) -> dict[str, np.ndarray]:
        """Kaldi's per-speaker ``cmvn.scp`` (``spk ark:offset``, each ``[2, D + 1]``), and their
        sum under GLOBAL_KEY."""
        dim = int(self.raw(self.utt_ids[0]).shape[1]) if self.utt_ids else None
        stats: dict[str, np.ndarray] = {}
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                parts = line.split(maxsplit=1)
                if not parts:
                    continue
                where = f"{path}:{lineno}"
                if len(parts) != 2:
                    raise SpeechseqError(
                        f"{where}: '{line.strip()}' is not 'speaker rxfilename' — fix the line or "
                        "recompute it with Kaldi's compute-cmvn-stats --spk2utt"
                    )
                spk, spec = parts[0], parts[1].strip()
                try:
                    mat = np.asarray(kaldiio.load_mat(spec), dtype=np.float64)
                except (OSError, ValueError, EOFError, AssertionError) as e:
                    raise SpeechseqError(
                        f"{where}: cannot load the statistics of speaker '{spk}' from {spec} ({e}) — "
                        "recompute them with Kaldi's compute-cmvn-stats --spk2utt"
                    ) from None
                want = f"[2, {dim + 1}]" if dim is not None else "[2, D + 1]"
                if (
                    mat.ndim != 2
                    or mat.shape[0] != 2
                    or (dim is not None and mat.shape[1] != dim + 1)
                ):
                    raise SpeechseqError(
                        f"{where}: the statistics of speaker '{spk}' have shape {list(mat.shape)}, "
                        f"expected {want} for the {dim}-dim features of feats.scp — recompute them "
                        "with Kaldi's compute-cmvn-stats --spk2utt on these features"
                    )
                if mat[0, -1] <= 0:
                    raise SpeechseqError(
                        f"{where}: the statistics of speaker '{spk}' count {mat[0, -1]:g} frames — "
                        "recompute them with Kaldi's compute-cmvn-stats --spk2utt"
                    )
                stats[spk] = mat
        if not stats:
            raise SpeechseqError(
                f"{path}: no statistics — recompute it with Kaldi's compute-cmvn-stats --spk2utt"
            )
        stats[GLOBAL_KEY] = sum(stats.values())
        return stats

    def _first_dim(self) -> int:
        if self.compute is not None:
            return self.compute.dim
        if self._stats:
            return next(iter(self._stats.values())).shape[1] - 1
        if not self.utt_ids:
            return 0
        return int(self._load(self.utt_ids[0]).shape[1])

    def _load(self, utt: str) -> np.ndarray:
        if self.compute is not None:
            if utt not in self._scp:
                raise KeyError(f"{utt}: not in {self.path / 'utt2spk'}")
            return audio_features(utt, self._scp[utt], self.compute)[0]
        try:
            return kaldiio.load_mat(self._scp[utt])
        except KeyError:
            raise KeyError(f"{utt}: not in {self.path / 'feats.scp'}") from None
        except (OSError, ValueError) as e:
            raise SpeechseqError(
                f"{self.path / 'feats.scp'}: cannot load '{utt}' from {self._scp[utt]} ({e}) — "
                f"rerun `speechseq compute-feats {self.path}`"
            ) from None

    def stats_for(self, utt: str) -> np.ndarray | None:
        """CMVN statistics ``[2, C + 1]`` used for ``utt`` (None when cmvn is "none")."""
        if self.cmvn == "none":
            return None
        if self.cmvn == "utterance":
            return cmvn_stats(self.raw(utt))
        return self._stats[GLOBAL_KEY if self.cmvn == "global" else self._utt2spk[utt]]

    def raw(self, utt: str) -> np.ndarray:
        """Stored features ``[T, C]`` without CMVN or deltas."""
        return np.asarray(self._load(utt), dtype=np.float32)

    def __getitem__(self, utt: str) -> np.ndarray:
        feats = self.raw(utt)
        stats = cmvn_stats(feats) if self.cmvn == "utterance" else self.stats_for(utt)
        if stats is not None:
            feats = apply_cmvn(feats, stats, norm_vars=True)
        if self.deltas:
            feats = add_deltas(feats, self.deltas)
        return feats

    def num_frames(self, utt: str) -> int:
        """Frames of ``utt`` (from utt2num_frames, or read once from the ark headers)."""
        return self._num_frames[utt]

    def __len__(self) -> int:
        return len(self.utt_ids)

    def __contains__(self, utt: object) -> bool:
        return utt in self._scp

    def __iter__(self):
        return iter(self.utt_ids)


class ArrayReader:
    """An in-memory feature reader: ``{utt: feats [T, C]}`` served like a FeatureReader."""

    def __init__(self, feats: dict[str, np.ndarray]):
        self.feats = feats
        self.utt_ids = sorted(feats)
        self.dim = next(iter(feats.values())).shape[1] if feats else 0

    def __getitem__(self, utt: str) -> np.ndarray:
        return self.feats[utt]

    def __len__(self) -> int:
        return len(self.feats)

    def num_frames(self, utt: str) -> int:
        return self.feats[utt].shape[0]
