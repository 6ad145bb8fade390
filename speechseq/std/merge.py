"""An archive embedded part by part, merged into the vectors of one ``speechseq embed`` run.

A recipe that spreads ``embed`` over machines splits the archive's data dir (``speechseq data
split DATA N`` -> ``DATA/splitN/1..N``, by speaker), embeds each part as its own job (a
background process or a Slurm array task; ``recipes/utils/parallel.sh``) into ``VECS/part-K``,
and then :func:`merge_part_vectors` writes ``VECS`` from the parts: the ``vectors.npy``,
``segments.tsv`` and ``meta.json`` that ``embed EXP DATA --out VECS`` writes in one process.
Segments come grouped by utterance in ``DATA``'s order (C order) as a whole run orders them
(:func:`speechseq.embed.inference.segments_for`), and segment ids name the utterance, not a
position in the archive, so both are the same table; the index built over it
(``speechseq index build VECS``, the one index-building code) is the same index.

Every utterance of ``DATA`` must be in exactly one part, every part embedded from its own part
dir with the same model and settings; otherwise the merge is one error naming the part (or the
utterance) and the fix, and ``VECS`` is left as it was. The merge is written under a temporary
name and renamed into place whole, which also removes the ``part-K`` dirs. ``meta.json`` adds
up the parts' audio and seconds (``seconds``: the compute of all parts together, not the wall
clock) and says how many parts there were.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from speechseq.data.kaldi_dir import DataDir
from speechseq.data.ops import split_parts
from speechseq.embed.segments import write_vectors
from speechseq.errors import SpeechseqError
from speechseq.std.vectors import read_vectors

# meta.json keys every part must share: the same model, segmenter and front end
SAME_IN_EVERY_PART = (
    "embedder_id",
    "model",
    "dim",
    "segments",
    "window_s",
    "hop_s",
    "channel",
    "features",
)


def part_vectors_dir(out_dir: str | os.PathLike, k: int) -> Path:
    """Where part ``k`` (1-based) of a split embedding goes: ``VECS/part-K``."""
    return Path(out_dir) / f"part-{k}"


def merge_part_vectors(
    data_dir: str | os.PathLike,
    split_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    exp_dir: str | os.PathLike | None = None,
) -> dict:
    """Write ``out_dir`` from the part embeddings ``VECS/part-K`` of ``split_dir``'s parts (see
    the module doc); ``exp_dir``, when given, is the model every part must have been embedded
    with. Returns the merged meta.json."""
    data = DataDir(data_dir)
    out = Path(out_dir)
    parts = split_parts(Path(split_dir))
    wanted = data.utt_ids
    part_of: dict[str, int] = {}
    for k, part in enumerate(parts, start=1):
        for utt in DataDir(part).utt_ids:
            if utt in part_of:
                raise SpeechseqError(
                    f"{part}: utterance {utt} is also in part {part_of[utt]} — each utterance "
                    f"belongs to one part; split {data.path} again and embed its parts"
                )
            part_of[utt] = k
    missing = [u for u in wanted if u not in part_of]
    if missing:
        raise SpeechseqError(
            f"{data.path}: utterance {missing[0]} ({len(missing)} in all) is in no part of "
            f"{split_dir} — the split is not of this data dir; split {data.path} again and "
            "embed its parts"
        )
    stray = [u for u in part_of if u not in set(wanted)]
    if stray:
        raise SpeechseqError(
            f"{parts[part_of[stray[0]] - 1]}: utterance {stray[0]} ({len(stray)} in all) is not "
            f"in {data.path} — the split is of another data dir; split {data.path} again and "
            "embed its parts"
        )
    metas: list[dict] = []
    rows_of: dict[str, list] = {}  # utterance -> its segment rows, vectors
    seen: dict[str, int] = {}  # segment id -> part
    for k, part in enumerate(parts, start=1):
        d = part_vectors_dir(out, k)
        if not all((d / n).is_file() for n in ("vectors.npy", "segments.tsv", "meta.json")):
            raise SpeechseqError(
                f"{d}: part {k} was not embedded (no vectors.npy, segments.tsv, meta.json) — "
                f"embed {part} with --out {d} (see that part's job log) before merging"
            )
        vectors, rows, meta = read_vectors(d)
        if meta.get("audio") != str(part.resolve()):
            raise SpeechseqError(
                f"{d}/meta.json: embedded from {meta.get('audio')}, not from part {k} "
                f"({part.resolve()}) — embed {part} with --out {d} before merging"
            )
        if exp_dir is not None and meta.get("model") != str(Path(exp_dir).resolve()):
            raise SpeechseqError(
                f"{d}/meta.json: embedded with the model {meta.get('model')}, not "
                f"{Path(exp_dir).resolve()} — embed every part with that model"
            )
        if metas:
            other = [key for key in SAME_IN_EVERY_PART if meta.get(key) != metas[0].get(key)]
            if other:
                key = other[0]
                raise SpeechseqError(
                    f"{d}/meta.json: {key} {meta.get(key)!r}, but {part_vectors_dir(out, 1)} "
                    f"has {metas[0].get(key)!r} — embed every part with the same model and "
                    "options"
                )
        metas.append(meta)
        for i, row in enumerate(rows):
            if part_of.get(row.source) != k:
                where = f"part {part_of[row.source]}" if row.source in part_of else "no part"
                raise SpeechseqError(
                    f"{d}/segments.tsv: segment {row.segment_id} is of utterance {row.source}, "
                    f"which is in {where} of {split_dir}, not in part {k} — embed {part} "
                    f"again with --out {d}"
                )
            if row.segment_id in seen:
                raise SpeechseqError(
                    f"{d}/segments.tsv: segment {row.segment_id} is also in part "
                    f"{seen[row.segment_id]} — embed {part} again with --out {d}"
                )
            seen[row.segment_id] = k
            rows_of.setdefault(row.source, []).append((row, vectors[i]))
    merged = [item for u in wanted for item in rows_of.get(u, [])]
    if not merged:
        raise SpeechseqError(
            f"{out}: the parts hold no segments — check the audio of {data.path} or embed "
            "with another --segments"
        )
    meta = dict(metas[0])
    audio_s = sum(m.get("audio_s", 0.0) for m in metas)
    seconds = sum(m.get("seconds", 0.0) for m in metas)
    meta.update(
        count=len(merged),
        audio=str(data.path.resolve()),
        audio_s=round(audio_s, 2),
        seconds=round(seconds, 2),
        audio_s_per_s=round(audio_s / max(seconds, 1e-9), 1),
        parts=len(parts),
    )
    vectors = np.stack([v for _, v in merged]).astype(np.float32, copy=False)
    # replaces VECS whole: its part-K dirs go with the old one
    write_vectors(out, vectors, [r for r, _ in merged], meta)
    return meta
