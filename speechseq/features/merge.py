"""Features computed on the parts of a data dir, committed into the data dir as one generation.

A recipe that spreads ``compute-feats`` over machines splits ``DATA`` (``speechseq data split
DATA N`` -> ``DATA/splitN/1..N``, by speaker), computes each part's features as its own job
(a background process, or a Slurm array task), and then :func:`merge_part_features` brings
them home: every part's arks are linked (or copied) into a new generation of ``DATA``'s
feature files, the scp lines rewritten to point at them, ``utt2num_frames``, ``bad_utts``
and the per-speaker CMVN stats joined (the parts' speakers are disjoint; ``<global>`` is
their sum), and the whole set committed by one rename as ``compute_feats`` does. The result
is the same features ``compute-feats DATA`` gives in one process (dither is seeded per
utterance), and ``DATA/splitN`` can be removed afterwards.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import kaldiio
import numpy as np

from speechseq.data.kaldi_dir import DataDir, c_sorted, read_table
from speechseq.data.ops import split_parts
from speechseq.errors import SpeechseqError
from speechseq.features.cmvn import GLOBAL_KEY
from speechseq.features.config import CONFIG_NAME, feature_config_from_yaml
from speechseq.features.extract import FeatsSummary
from speechseq.features.files import feature_files, referenced_arks
from speechseq.fileio import WriteFailed, link_or_copy


def part_dirs(split_dir: Path) -> list[Path]:
    """``DIR/splitN/1..N`` in order (:func:`~speechseq.data.ops.split_parts`), each with its
    features; a part without them is an error naming it."""
    parts = split_parts(split_dir)
    for p in parts:
        if not (p / "feats.scp").is_file():
            raise SpeechseqError(
                f"{p}/feats.scp: not found — that part has no features; run compute-feats on {p} "
                "(see its job's log) before merging"
            )
    return parts


def merge_part_features(data_dir: str | os.PathLike, split_dir: str | os.PathLike) -> FeatsSummary:
    """Commit the features of ``split_dir``'s parts into ``data_dir`` (see the module doc)."""
    t0 = time.perf_counter()
    data = DataDir(data_dir)
    parts = part_dirs(Path(split_dir))
    yamls = {p: (p / CONFIG_NAME).read_text(encoding="utf-8") for p in parts}
    first = parts[0]
    for p, text in yamls.items():
        if text != yamls[first]:
            raise SpeechseqError(
                f"{p}/{CONFIG_NAME}: other feature settings than {first}/{CONFIG_NAME} — compute "
                "every part with the same options"
            )
    scp: dict[str, str] = {}
    frames: dict[str, str] = {}
    bad: dict[str, str] = {}
    stats: dict[str, np.ndarray] = {}
    try:
        with feature_files(data.path).write(keep=referenced_arks) as gen:
            gen = gen.resolve()
            for k, part in enumerate(parts, start=1):
                arks: dict[str, Path] = {}
                for utt, entry in read_table(part / "feats.scp").items():
                    ark, offset = entry.rsplit(":", 1)
                    if ark not in arks:
                        arks[ark] = gen / f"part{k}.{Path(ark).name}"
                        link_or_copy(Path(ark), arks[ark])
                    scp[utt] = f"{arks[ark]}:{offset}"
                frames.update(read_table(part / "utt2num_frames"))
                if (part / "bad_utts").is_file():
                    bad.update(read_table(part / "bad_utts"))
                for spk, s in kaldiio.load_ark(str(part / "cmvn.ark")):
                    if spk != GLOBAL_KEY:
                        stats[spk] = np.asarray(s, dtype=np.float64)
            missing = [u for u in data.utt2spk if u not in scp and u not in bad]
            if missing:
                raise SpeechseqError(
                    f"{data.path}: utterance {missing[0]} ({len(missing)} in all) is in none of the "
                    f"parts' feats.scp — split the data dir again and recompute the parts"
                )
            _write(gen, scp, frames, bad, stats, yamls[first])
    except WriteFailed as e:
        raise SpeechseqError(str(e)) from None
    cfg = feature_config_from_yaml(first / CONFIG_NAME)
    return FeatsSummary(
        num_utts=len(scp),
        num_frames=sum(int(v) for v in frames.values()),
        audio_s=0.0,
        elapsed_s=time.perf_counter() - t0,
        dim=cfg.dim,
        feats_scp=data.file("feats.scp"),
        bad=sorted(bad.items()),
    )


def _write(gen: Path, scp, frames, bad, stats, feats_yaml: str) -> None:
    def table(name: str, rows: dict) -> None:
        with open(gen / name, "w", encoding="utf-8") as f:
            f.writelines(f"{key} {rows[key]}\n" for key in c_sorted(rows))

    table("feats.scp", scp)
    table("utt2num_frames", frames)
    if bad:
        table("bad_utts", bad)
    ordered = {spk: stats[spk] for spk in c_sorted(stats)}
    ordered[GLOBAL_KEY] = sum(stats.values())
    with open(gen / "cmvn.ark", "wb") as f:
        kaldiio.save_ark(f, ordered)
    (gen / Path(CONFIG_NAME).name).write_text(feats_yaml, encoding="utf-8")
