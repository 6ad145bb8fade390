"""CMVN statistics in Kaldi's format, and ``DATA/cmvn.ark`` that holds them.

Statistics are a float64 matrix ``[2, C + 1]``: row 0 is the sum of the feature vectors
followed by the frame count, row 1 the sum of their squares followed by 0 (what Kaldi's
``compute-cmvn-stats`` writes). ``DATA/cmvn.ark`` holds one entry per speaker id plus one
entry for the whole data dir under :data:`GLOBAL_KEY`. Being sums, the statistics of a set
of utterances are the sum of theirs: a speaker's are the sum over his utterances, the
global ones the sum over the speakers.

Why this lives in ``data/`` and not in ``features/``: ``subset``, ``split``, ``combine``
and ``fix`` (``data/ops.py``) must write a ``cmvn.ark`` that matches the utterances they
keep, inside the same atomic directory write as the tables, and ``data/`` sits below
``features/`` in the package order. The arithmetic is numpy plus kaldiio and knows nothing
of how features are computed. Recomputing in ``features/`` and calling it from the CLI
would leave the library calls (``subset_data_dir`` ...) writing directories with stale
statistics, and need a second write after the directory is already in place.
``speechseq.features.cmvn`` re-exports :data:`GLOBAL_KEY` and :func:`cmvn_stats` and keeps
``apply_cmvn``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import kaldiio
import numpy as np

from speechseq.data.kaldi_dir import c_sorted
from speechseq.errors import SpeechseqError
from speechseq.fileio import atomic_write

# What kaldiio raises for a missing, truncated or corrupt archive.
_CORRUPT = (OSError, ValueError, EOFError, AssertionError)

GLOBAL_KEY = "<global>"  # cmvn.ark key of the whole-set statistics; compute-feats rejects a speaker of that name


def cmvn_stats(feats: np.ndarray) -> np.ndarray:
    """Statistics ``[2, C + 1]`` float64 of ``feats: [T, C]``."""
    f = np.asarray(feats, dtype=np.float64)
    stats = np.zeros((2, f.shape[1] + 1), dtype=np.float64)
    stats[0, :-1] = f.sum(0)
    stats[0, -1] = f.shape[0]
    stats[1, :-1] = np.square(f).sum(0)
    return stats


def read_cmvn_ark(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """``{speaker or GLOBAL_KEY: [2, C + 1] float64}`` from a ``cmvn.ark``, in file order."""
    path = Path(path)
    try:
        return {k: np.asarray(v, dtype=np.float64) for k, v in kaldiio.load_ark(str(path))}
    except _CORRUPT as e:
        raise SpeechseqError(
            f"{path}: cannot read CMVN statistics ({e}) — rerun `speechseq compute-feats {path.parent}`"
        ) from None


def write_cmvn_ark(path: str | os.PathLike, spk_stats: Mapping[str, np.ndarray]) -> None:
    """Write speakers' ``[2, C + 1]`` statistics in C order plus their sum under GLOBAL_KEY, atomically.

    A ``GLOBAL_KEY`` entry of ``spk_stats`` is written as given instead of the sum.
    """
    speakers = c_sorted(k for k in spk_stats if k != GLOBAL_KEY)
    stats = {s: np.asarray(spk_stats[s], dtype=np.float64) for s in speakers}
    if GLOBAL_KEY in spk_stats:
        stats[GLOBAL_KEY] = np.asarray(spk_stats[GLOBAL_KEY], dtype=np.float64)
    elif stats:
        stats[GLOBAL_KEY] = sum(stats.values())
    with atomic_write(path, "wb") as f:
        kaldiio.save_ark(f, stats)


def utterance_stats(
    utts: Iterable[str], feats_scp: Mapping[str, str], scp_path: str | os.PathLike
) -> np.ndarray | None:
    """Summed statistics ``[2, C + 1]`` of the features of ``utts`` (loaded through ``feats_scp``).

    Utterances not in feats.scp add nothing; None when no utterance has features.
    """
    total = None
    for utt in utts:
        if utt not in feats_scp:
            continue
        try:
            feats = kaldiio.load_mat(feats_scp[utt])
        except _CORRUPT as e:
            raise SpeechseqError(
                f"{scp_path}: cannot load '{utt}' from {feats_scp[utt]} ({e}) — "
                f"rerun `speechseq compute-feats {Path(scp_path).parent}`"
            ) from None
        s = cmvn_stats(feats)
        total = s if total is None else total + s
    return total


def kept_cmvn_stats(
    stats: Mapping[str, np.ndarray],
    utt2spk: Mapping[str, str],
    kept: set[str],
    feats_scp: Mapping[str, str],
    scp_path: str | os.PathLike,
) -> dict[str, np.ndarray]:
    """The statistics of the utterances ``kept`` of a data dir (``utt2spk``, ``stats`` of its cmvn.ark).

    A speaker whose utterances are all kept keeps his statistics; a speaker only partly kept
    gets them recomputed from his kept utterances' features; GLOBAL_KEY is their sum. When
    every utterance is kept, ``stats`` come back unchanged.
    """
    if kept >= set(utt2spk):
        return dict(stats)
    spk2kept: dict[str, list[str]] = {}
    dropped_spks = set()
    for utt, spk in utt2spk.items():
        if utt in kept:
            spk2kept.setdefault(spk, []).append(utt)
        else:
            dropped_spks.add(spk)
    out: dict[str, np.ndarray] = {}
    for spk, utts in spk2kept.items():
        if spk not in dropped_spks:
            if spk in stats:
                out[spk] = stats[spk]
            continue
        recomputed = utterance_stats(c_sorted(utts), feats_scp, scp_path)
        if recomputed is not None:
            out[spk] = recomputed
    return out


def add_cmvn_stats(
    sources: list[tuple[Path, Mapping[str, np.ndarray]]],
) -> dict[str, np.ndarray]:
    """Per-speaker sum of the statistics of several data dirs (``(cmvn.ark path, stats)`` each).

    Right when no utterance is in two of them: a speaker in several dirs gets the sum of his
    entries. GLOBAL_KEY entries are left out (write_cmvn_ark adds the sum). Statistics of
    different dimensions are an error.
    """
    out: dict[str, np.ndarray] = {}
    first: tuple[Path, tuple[int, ...]] | None = None
    for path, stats in sources:
        for spk, s in stats.items():
            if first is None:
                first = (path, s.shape)
            elif s.shape != first[1]:
                raise SpeechseqError(
                    f"{path}: CMVN statistics of '{spk}' have shape {s.shape}, those of {first[0]} "
                    f"{first[1]} — the features have different dimensions; compute the features of "
                    f"all inputs with the same settings (speechseq compute-feats)"
                )
            if spk != GLOBAL_KEY:
                out[spk] = out[spk] + s if spk in out else np.array(s, dtype=np.float64)
    return out
