"""A data dir decoded (or aligned) part by part, scored (or written) as one.

A recipe that spreads ``decode`` over machines splits ``DATA`` (``speechseq data split DATA N``
-> ``DATA/splitN/1..N``, by speaker), decodes each part as its own job (a background process
or a Slurm array task; ``recipes/utils/parallel.sh``) into ``OUT/part-K``, and then
:func:`merge_part_decodes` gathers the parts' ``hyp.txt`` and scores them against ``DATA`` with
the scoring a whole decode uses (:func:`speechseq.decode.run.write_scored`). Every utterance of
``DATA`` (its ``feats.scp``, what a whole decode decodes) must come from exactly one part, and
every part must have been decoded with the same options: otherwise the merge is one error naming
the part and the utterance, and ``OUT`` is left as it was. The result is the decode dir
``decode EXP DATA --out OUT`` writes in one process (same ``hyp.txt``, ``per_utt``,
``per_spk``, ``wer``), built under a temporary name and renamed into place whole, which also
removes the ``part-K`` dirs. A translation decode (``bleu`` in its results) is scored the same
way with BLEU and chrF over all parts' hypotheses at once (corpus figures: not an average of the
parts'); a decode with ``--lattice`` also gets the parts' lattices as one ``lat.txt.gz``, sorted
by utterance as a whole decode writes it. Parts decoded over an LM-weight x word-bonus grid
(``decode PART --lm-weight 0.5,1 --out OUT/part-K`` writes ``OUT/part-K/<point>``) are merged
point by point into ``OUT/<point>``, each scored over all parts, in one ``OUT`` renamed into
place; every part must hold the same points. A cascade decode (``--cascade``) is not merged: one
error says to decode it whole. ``results.json`` adds up the parts: ``decode_s`` is the network
and search time of all parts together, so ``rtf`` is the compute per second of audio, not the
wall-clock time of the parallel run.

Alignment goes the same way: ``align EXP DATA/splitN/K --out X/part-K/words.ctm`` per part, then
:func:`merge_part_alignments` writes ``X/words.ctm`` and the files ``align`` writes beside it
(``words.units.ctm``; a hybrid model's ``words.phones.ctm`` and ``words.ali.ark``) from the parts'
files of the same names, as ``align EXP DATA --out X/words.ctm`` writes them (the CTMs sorted by
utterance or recording and start, the ark by utterance), and removes the ``part-K`` dirs.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
from pathlib import Path
from typing import NamedTuple

import kaldiio
import numpy as np

from speechseq.data.kaldi_dir import CtmEntry, DataDir, c_sorted, read_ctm, read_table, write_ctm
from speechseq.data.ops import split_parts
from speechseq.decode.run import write_scored, write_translations
from speechseq.errors import SpeechseqError
from speechseq.fileio import atomic_dir, atomic_write


def part_decode_dir(out_dir: str | os.PathLike, k: int) -> Path:
    """Where part ``k`` (1-based) of a split decode goes: ``OUT/part-K``."""
    return Path(out_dir) / f"part-{k}"


class _Translation(NamedTuple):
    """A part's translation of one utterance, as write_translations reads a decoder's output."""

    text: str
    finished: bool


def _kind(d: Path, r: dict) -> str:
    """What a part decode dir holds: ``translation`` (BLEU-scored), ``lattices`` (WER-scored,
    with ``lat.txt.gz``) or ``wer``."""
    if "bleu" in r:
        return "translation"
    return "lattices" if (d / "lat.txt.gz").is_file() else "wer"


def _read_lattices(path: Path) -> dict[str, str]:
    """``{utterance: its block}`` of a ``lat.txt.gz`` (Kaldi text lattices, each block the
    utterance id, its arcs and an empty line)."""
    text = gzip.decompress(path.read_bytes()).decode()
    blocks = {}
    for block in text.split("\n\n"):
        if block:
            blocks[block.split("\n", 1)[0]] = block + "\n\n"
    return blocks


def _write_lattices(
    path: Path, lattices: dict[str, str], hyps: dict, source: dict[str, Path]
) -> None:
    """The parts' lattices as one ``lat.txt.gz``, sorted by id as a whole decode writes it;
    ``source``: the part decode dir of each utterance."""
    missing = [u for u in hyps if u not in lattices]
    if missing:
        d = source[missing[0]]
        raise SpeechseqError(
            f"{d}/lat.txt.gz: no lattice for utterance {missing[0]} ({len(missing)} in all), "
            f"which has a hypothesis in {d}/hyp.txt — decode that part again with --lattice, "
            "then merge"
        )
    text = "".join(lattices[u] for u in sorted(hyps))
    with atomic_write(path, mode="wb", encoding=None) as f:
        f.write(gzip.compress(text.encode()))


def merge_part_decodes(
    data_dir: str | os.PathLike, split_dir: str | os.PathLike, out_dir: str | os.PathLike
) -> list[dict]:
    """Score the part decodes ``OUT/part-K`` of ``split_dir``'s parts as one decode of
    ``data_dir`` into ``out_dir`` (see the module doc); returns the results dicts (as
    :func:`speechseq.decode.run.decode_data` returns them, one per grid point). Parts decoded
    over a grid (``OUT/part-K/<point>``, one dir per LM weight x word bonus) become
    ``OUT/<point>``, each scored over all parts; every part must hold the same points."""
    data = DataDir(data_dir)
    out = Path(out_dir)
    parts = split_parts(Path(split_dir))
    if not data.file("feats.scp").is_file():
        raise SpeechseqError(
            f"{data.file('feats.scp')}: not found — give the data dir that was split and decoded "
            "(a decode reads its features)"
        )
    wanted = c_sorted(read_table(data.file("feats.scp")))
    points = _grid_points(out, len(parts))
    gathered = [
        (
            point,
            _gather(
                data,
                parts,
                wanted,
                [part_decode_dir(out, k) / point for k in range(1, len(parts) + 1)],
            ),
        )
        for point in points
    ]
    results = []
    with atomic_dir(out) as tmp:  # replaces OUT whole: its part-K dirs go with the old one
        for point, g in gathered:
            target = tmp / point
            target.mkdir(exist_ok=True)
            r = _write_merged(target, data, g, len(parts))
            r["out_dir"] = str(out / point)  # a single decode's point ".": OUT itself
            results.append(r)
    return results


def _grid_points(out: Path, num_parts: int) -> list[str]:
    """``["."]`` when the parts are single decodes (``OUT/part-K/hyp.txt``), else the grid's point
    dirs ``OUT/part-1/<point>`` (each with its ``results.json``), the same in every part."""
    first = part_decode_dir(out, 1)
    if (first / "hyp.txt").is_file() or not first.is_dir():
        return ["."]
    points = sorted(d.name for d in first.iterdir() if (d / "results.json").is_file())
    if not points:
        return ["."]  # not decoded: _gather says so
    for k in range(2, num_parts + 1):
        d = part_decode_dir(out, k)
        theirs = (
            sorted(x.name for x in d.iterdir() if (x / "results.json").is_file())
            if d.is_dir()
            else []
        )
        if theirs != points:
            odd = sorted(set(points) ^ set(theirs))
            raise SpeechseqError(
                f"{d}: part {k} holds other grid points than {first} (differing: "
                f"{', '.join(odd[:3]) or 'none'}) — decode every part with the same "
                "--lm-weight / --word-bonus grid"
            )
    return points


class _Gathered(NamedTuple):
    """The parts' decodes of one grid point, checked: their results, the hypotheses in a whole
    decode's order, the part dir of each utterance and the lattices (if any)."""

    results: list[dict]
    hyps: dict[str, str]
    source: dict[str, Path]
    lattices: dict[str, str]


def _gather(data: DataDir, parts: list[Path], wanted: list[str], dirs: list[Path]) -> _Gathered:
    """Read and check the part decode dirs ``dirs`` (one per part of ``parts``)."""
    hyps: dict[str, str] = {}
    source: dict[str, Path] = {}
    results: list[dict] = []
    lattices: dict[str, str] = {}  # utterance -> its block of the parts' lat.txt.gz
    for k, (part, d) in enumerate(zip(parts, dirs, strict=True), start=1):
        if not (d / "hyp.txt").is_file() or not (d / "results.json").is_file():
            raise SpeechseqError(
                f"{d}: part {k} was not decoded (no hyp.txt / results.json) — decode {part} "
                f"with --out {d} (see that part's job log) before merging"
            )
        r = json.loads((d / "results.json").read_text(encoding="utf-8"))
        r["_kind"] = _kind(d, r)
        if "mt" in r:
            raise SpeechseqError(
                f"{d}: a cascade decode (--cascade: asr_hyp.txt, oov.txt) — its parts are not "
                f"merged; decode {data.path} whole"
            )
        if results and (r["options"], r["_kind"]) != (results[0]["options"], results[0]["_kind"]):
            raise SpeechseqError(
                f"{d}/results.json: other decode options than {dirs[0]} "
                f"({r['_kind']}: {r['options']} against {results[0]['_kind']}: "
                f"{results[0]['options']}) — decode every part with the same model and options"
            )
        if results and r.get("reference") != results[0].get("reference"):
            raise SpeechseqError(
                f"{d}/results.json: scored against {r.get('reference')}, "
                f"{dirs[0]} against {results[0].get('reference')} — decode every "
                "part with the same model"
            )
        if r["_kind"] == "lattices":
            lattices.update(_read_lattices(d / "lat.txt.gz"))
        results.append(r)
        for utt, text in read_table(d / "hyp.txt", allow_empty=True).items():
            if utt in source:
                raise SpeechseqError(
                    f"{d}/hyp.txt: utterance {utt} is also in {source[utt]}/hyp.txt — each "
                    f"utterance belongs to one part; split {data.path} again and decode the parts"
                )
            hyps[utt], source[utt] = text, d
    missing = [u for u in wanted if u not in hyps]
    if missing:
        raise SpeechseqError(
            f"{data.path}: utterance {missing[0]} ({len(missing)} in all) is in no part's "
            f"hyp.txt (looked in {dirs[0]} .. {dirs[-1]}) "
            f"— decode the part that holds it again (or split {data.path} again), then merge"
        )
    extra = [u for u in hyps if u not in set(wanted)]
    if extra:
        raise SpeechseqError(
            f"{source[extra[0]]}/hyp.txt: utterance {extra[0]} ({len(extra)} in all) is not in "
            f"{data.file('feats.scp')} — the parts come from another data dir; split "
            f"{data.path} again and decode its parts"
        )
    hyps = {u: hyps[u] for u in wanted}  # a whole decode's order (feats.scp, C order)
    return _Gathered(results, hyps, source, lattices)


def _write_merged(tmp: Path, data: DataDir, g: _Gathered, num_parts: int) -> dict:
    """One grid point's parts written as one decode dir into ``tmp``; its results dict."""
    results, hyps = g.results, g.hyps
    audio_s = sum(r["audio_s"] for r in results)
    decode_s = sum(r["decode_s"] for r in results)
    search_s = sum(r["search_rtf"] * r["audio_s"] for r in results)
    merged = {
        "data": str(data.path),
        "utterances": len(hyps),
        "options": results[0]["options"],
        "audio_s": round(audio_s, 2),
        "decode_s": round(decode_s, 3),
        "rtf": round(decode_s / max(audio_s, 1e-9), 5),
        "search_rtf": round(search_s / max(audio_s, 1e-9), 5),
        "parts": num_parts,
    }
    kind = results[0]["_kind"]
    if kind == "translation":  # BLEU and chrF are corpus figures: scored over all parts at once
        stopped = {u for r in results for u in r.get("stopped_by_length_guard", [])}
        decoded = {u: _Translation(t, u not in stopped) for u, t in hyps.items()}
        merged.update(write_translations(tmp, data, decoded, results[0]["reference"]))
    else:
        merged.update(write_scored(tmp, data, hyps))
        failed = sorted({u for r in results for u in r.get("no_final_state", [])})
        if failed:
            merged["no_final_state"] = failed
    if kind == "lattices":
        _write_lattices(tmp / "lat.txt.gz", g.lattices, hyps, g.source)
    (tmp / "results.json").write_text(json.dumps(merged, indent=2) + "\n", encoding="utf-8")
    return merged


def part_align_out(out_ctm: str | os.PathLike, k: int) -> Path:
    """Where part ``k`` (1-based) of a split alignment writes its word CTM: ``X/part-K/words.ctm``
    for ``X/words.ctm`` (the files align writes beside it go beside that)."""
    out = Path(out_ctm)
    return out.parent / f"part-{k}" / out.name


def _ctm_key(data: DataDir, utt: str) -> str:
    """The first field of ``utt``'s CTM lines: the utterance, or with ``segments`` its recording's
    file (as :func:`speechseq.data.kaldi_dir.recording_ctm` writes it)."""
    if data.segments is None:
        return utt
    reco = data.segments[utt].reco
    fc = (data.reco2file_and_channel or {}).get(reco)
    return fc.file if fc is not None else reco


def merge_part_alignments(
    data_dir: str | os.PathLike, split_dir: str | os.PathLike, out_ctm: str | os.PathLike
) -> dict:
    """Write ``out_ctm`` and its companions from the part alignments ``X/part-K/`` of
    ``split_dir``'s parts (see the module doc). Every part must have the same files; a CTM line
    or ark entry of an utterance (or recording) that is not in its part is an error, and so is an
    utterance of ``data_dir`` with a transcript that no part's word CTM has (CTC alignments; a
    hybrid alignment may leave out an utterance it could not align, as a whole one does).
    Returns ``{"parts": N, "utterances": aligned, "files": {path: lines or entries}}``."""
    data = DataDir(data_dir)
    out = Path(out_ctm)
    parts = split_parts(Path(split_dir))
    first = part_align_out(out, 1).parent
    names = sorted(f.name for f in first.iterdir()) if first.is_dir() else []
    if out.name not in names:
        raise SpeechseqError(
            f"{first / out.name}: part 1 was not aligned — align {parts[0]} with --out "
            f"{first / out.name} (see that part's job log) before merging"
        )
    ctms: dict[str, list[CtmEntry]] = {n: [] for n in names if n.endswith(".ctm")}
    arks: dict[str, dict] = {n: {} for n in names if n.endswith(".ark")}
    for k, part in enumerate(parts, start=1):
        d = part_align_out(out, k).parent
        have = sorted(f.name for f in d.iterdir()) if d.is_dir() else []
        if have != names:
            raise SpeechseqError(
                f"{d}: part {k} was not aligned as part 1 was (has {have or 'nothing'}, part 1 "
                f"{names}) — align {part} with --out {d / out.name} (see that part's job log) "
                "before merging"
            )
        pdata = DataDir(part)
        utts = set(pdata.utt2spk)
        keys = {_ctm_key(pdata, u) for u in utts}
        for name in ctms:
            entries = read_ctm(d / name)
            stray = next((e.utt for e in entries if e.utt not in keys), None)
            if stray is not None:
                raise SpeechseqError(
                    f"{d / name}: {stray} is not in {part} — the part was aligned from another "
                    f"split; split {data.path} again and align its parts"
                )
            ctms[name] += entries
        for name in arks:
            ali = {u: a for u, a in kaldiio.load_ark(str(d / name))}
            stray = next((u for u in ali if u not in utts), None)
            if stray is not None:
                raise SpeechseqError(
                    f"{d / name}: utterance {stray} is not in {part} — the part was aligned from "
                    f"another split; split {data.path} again and align its parts"
                )
            arks[name].update(ali)
    aligned = {e.utt for e in ctms[out.name]}
    texts = data.text or {}
    # what a whole alignment aligns: the utterances with features (all of them, for features
    # computed on the fly) and a transcript
    feats = data.file("feats.scp")
    wanted = read_table(feats) if feats.is_file() else dict.fromkeys(data.utt_ids)
    wanted = [u for u in c_sorted(wanted) if u in texts]
    if not arks:  # CTC: every utterance with words has words in the CTM
        missing = [u for u in wanted if texts[u] and _ctm_key(data, u) not in aligned]
        if missing:
            raise SpeechseqError(
                f"{data.path}: utterance {missing[0]} ({len(missing)} in all) is in no part's "
                f"{out.name} (looked in {first} .. {part_align_out(out, len(parts)).parent}) — "
                f"align the part that holds it again (or split {data.path} again), then merge"
            )
    files = {}
    for name, entries in ctms.items():
        write_ctm(out.parent / name, entries)
        files[str(out.parent / name)] = len(entries)
    for name, ali in arks.items():
        # the ark as speechseq.hybrid.align.write_alignments writes it (a layer above decode/)
        with atomic_write(out.parent / name, "wb") as f:
            kaldiio.save_ark(f, {u: np.asarray(a, dtype=np.int32) for u, a in sorted(ali.items())})
        files[str(out.parent / name)] = len(ali)
    for k in range(1, len(parts) + 1):
        shutil.rmtree(part_align_out(out, k).parent)
    n = len(next(iter(arks.values()))) if arks else len(wanted)
    return {"parts": len(parts), "utterances": n, "files": files}
