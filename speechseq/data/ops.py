"""Operations on whole data directories: fix, split, subset, combine.

Tables are filtered by the key they are indexed by: utterance tables (text, utt2spk,
segments, utt2dur, utt2num_frames, feats.scp, slots, text.<lang>, ctm), recording tables
(wav.scp when there are segments, reco2dur, reco2file_and_channel) and speaker tables
(cmvn.scp, spk2gender); spk2utt is always rebuilt from utt2spk.

Features go with the utterances: feats.scp and utt2num_frames are utterance tables,
``conf/feats.yaml`` is copied (combine: only when every input has the same settings), and
``cmvn.ark`` (with feats.scp) is rewritten for what is kept — a speaker kept whole keeps his
statistics, one kept in part gets them recomputed from the features of his kept utterances,
combine adds the inputs' statistics; ``<global>`` is the sum over the speakers (see
:mod:`speechseq.data.cmvn_stats`). Other files of the directory are not copied.
Every output file is written atomically, tables in C order.
"""

from __future__ import annotations

import os
import random as _random
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from speechseq.data.cmvn_stats import (
    add_cmvn_stats,
    kept_cmvn_stats,
    read_cmvn_ark,
    write_cmvn_ark,
)
from speechseq.data.kaldi_dir import (
    TableError,
    c_key,
    c_sorted,
    parse_segment,
    read_ctm,
    read_table,
    read_table_lines,
    spk2utt_from_utt2spk,
    write_ctm,
    write_table,
)
from speechseq.data.validate import validate_data_dir
from speechseq.errors import SpeechseqError, UsageError
from speechseq.fileio import atomic_dir, atomic_write

UTT_TABLES = ("text", "utt2spk", "segments", "utt2dur", "utt2num_frames", "feats.scp", "slots")
RECO_TABLES = ("reco2dur", "reco2file_and_channel")  # plus wav.scp when there are segments
SPK_TABLES = ("cmvn.scp", "spk2gender")
# Tables whose values may be empty (an empty transcript is a problem `fix` removes).
EMPTY_OK = ("text", "slots")
FEATS_YAML = "conf/feats.yaml"  # feature settings (speechseq.features.config.CONFIG_NAME)


def _table_names(d: Path) -> list[str]:
    """The tables of ``d`` this module knows, in a fixed order (spk2utt and ctm apart)."""
    names = [n for n in ("wav.scp", *UTT_TABLES, *RECO_TABLES, *SPK_TABLES) if (d / n).is_file()]
    names += c_sorted(p.name for p in d.glob("text.*") if p.is_file())
    return names


def _is_utt_table(name: str, has_segments: bool) -> bool:
    return (
        name in UTT_TABLES or name.startswith("text.") or (name == "wav.scp" and not has_segments)
    )


def _require_dir(path: Path) -> Path:
    if not path.is_dir():
        raise SpeechseqError(
            f"{path}: not a directory — give a Kaldi data directory (wav.scp, text, utt2spk)"
        )
    for name in ("wav.scp", "utt2spk"):
        if not (path / name).is_file():
            raise SpeechseqError(f"{path / name}: file not found — a data directory needs {name}")
    return path


def _require_valid(path: Path) -> None:
    problems = [p for p in validate_data_dir(path, check_audio=False) if p.is_error]
    if problems:
        raise SpeechseqError(
            f"{path}: not a valid data directory ({len(problems)} problem(s)); the first: {problems[0]}. "
            f"See them all with: speechseq data validate {path}; most are repaired by: speechseq data fix {path}"
        )


def _read_all(path: Path) -> dict[str, dict[str, str]]:
    return {
        n: read_table(path / n, allow_empty=n in EMPTY_OK or n.startswith("text."))
        for n in _table_names(path)
    }


@dataclass(frozen=True)
class _FeatureFiles:
    """The files of a data dir's features that are not tables."""

    # cmvn.ark entries {speaker or <global>: [2, C + 1]}; None without cmvn.ark or feats.scp
    cmvn: dict[str, np.ndarray] | None = None
    feats_yaml: str | None = None  # text of conf/feats.yaml; None = not written


def _read_feature_files(path: Path, with_yaml: bool = True) -> _FeatureFiles:
    has_cmvn = (path / "cmvn.ark").is_file() and (path / "feats.scp").is_file()
    has_yaml = with_yaml and (path / FEATS_YAML).is_file()
    return _FeatureFiles(
        cmvn=read_cmvn_ark(path / "cmvn.ark") if has_cmvn else None,
        feats_yaml=(path / FEATS_YAML).read_text(encoding="utf-8") if has_yaml else None,
    )


def _write_filtered(
    tables: dict[str, dict[str, str]],
    ctm,
    out: Path,
    utts: set[str],
    feats: _FeatureFiles,
    source: Path,
) -> None:
    """Write the rows of ``tables`` that belong to ``utts`` into ``out`` (plus spk2utt, ctm,
    and the feature files: cmvn.ark for the kept utterances, conf/feats.yaml as it is).

    ``source``: the directory the tables come from (its feats.scp is named in errors).
    """
    utt2spk = {u: s for u, s in tables["utt2spk"].items() if u in utts}
    spks = set(utt2spk.values())
    segs = tables.get("segments")
    recos = {segs[u].split()[0] for u in utts if u in segs} if segs is not None else utts
    for name, table in tables.items():
        if _is_utt_table(name, segs is not None):
            keep = utts
        elif name in SPK_TABLES:
            keep = spks
        else:
            keep = recos
        write_table(out / name, {k: v for k, v in table.items() if k in keep})
    write_table(out / "spk2utt", spk2utt_from_utt2spk(utt2spk))
    if ctm is not None:
        write_ctm(out / "ctm", [e for e in ctm if e.utt in utts])
    if feats.cmvn is not None and "feats.scp" in tables:
        stats = kept_cmvn_stats(
            feats.cmvn, tables["utt2spk"], utts, tables["feats.scp"], source / "feats.scp"
        )
        write_cmvn_ark(out / "cmvn.ark", stats)
    if feats.feats_yaml is not None:
        with atomic_write(out / FEATS_YAML) as f:
            f.write(feats.feats_yaml)


# --- fix --------------------------------------------------------------------------------


@dataclass
class FixReport:
    kept: int = 0  # utterances left
    dropped: dict[str, list[str]] = field(default_factory=dict)  # reason -> utterance ids
    notes: list[str] = field(default_factory=list)  # lines removed that were not utterances

    def lines(self, max_ids: int = 10) -> list[str]:
        out = list(self.notes)
        for reason, ids in self.dropped.items():
            shown = ", ".join(ids[:max_ids]) + (
                f", ... ({len(ids) - max_ids} more)" if len(ids) > max_ids else ""
            )
            out.append(f"dropped {len(ids)} utterance(s) {reason}: {shown}")
        return out


def _read_lenient(path: Path, report: FixReport) -> dict[str, str]:
    """A table, keeping the first of duplicate ids and skipping empty lines (noted)."""
    table: dict[str, str] = {}
    for tl in read_table_lines(path):
        if not tl.key:
            report.notes.append(f"{path}:{tl.lineno}: removed an empty line")
        elif tl.key in table:
            report.notes.append(
                f"{path}:{tl.lineno}: removed a second line for '{tl.key}' (kept the first)"
            )
        else:
            table[tl.key] = tl.value
    return table


def fix_data_dir(path: str | os.PathLike, backup: bool = True) -> FixReport:
    """Keep the utterances present in every table, drop empty transcripts, sort, rebuild spk2utt.

    Also drops utterances without a speaker, with a malformed segment or one whose recording
    is not in wav.scp, and recordings no segment uses. The original files are copied to
    ``DIR/.backup/`` first (when ``backup``). Returns what was dropped and why.
    """
    path = _require_dir(Path(path))
    report = FixReport()
    tables = {n: _read_lenient(path / n, report) for n in _table_names(path)}
    has_segs = "segments" in tables
    ctm = read_ctm(path / "ctm") if (path / "ctm").is_file() else None
    feats = _read_feature_files(path, with_yaml=False)  # conf/feats.yaml stays as it is

    def drop(ids, reason):
        ids = c_sorted(ids)
        if ids:
            report.dropped.setdefault(reason, []).extend(ids)
        return set(ids)

    utts = set(tables["utt2spk"])
    utts -= drop(
        [u for u in utts if not tables["utt2spk"][u].strip()], "with no speaker in utt2spk"
    )
    for name, table in tables.items():
        if _is_utt_table(name, has_segs):
            utts -= drop(utts - set(table), f"missing from {name}")
            drop(set(table) - set(tables["utt2spk"]), f"in {name} but not in utt2spk")
    if has_segs:
        seg_path = path / "segments"
        bad = []
        for u in utts:
            try:
                seg = parse_segment(seg_path, 0, u, tables["segments"][u])
                if seg.reco not in tables["wav.scp"] or seg.start_s < 0 or seg.end_s <= seg.start_s:
                    bad.append(u)
            except TableError:
                bad.append(u)
        utts -= drop(
            bad, "with a bad segment (malformed, end <= start, or recording not in wav.scp)"
        )
    if "text" in tables:
        utts -= drop([u for u in utts if not tables["text"][u].strip()], "with an empty transcript")
    if not utts:
        raise SpeechseqError(
            f"{path}: no utterance is in every table — nothing would be left; check that the tables "
            f"use the same utterance ids (run speechseq data validate {path})"
        )
    if has_segs:
        used = {tables["segments"][u].split()[0] for u in utts}
        unused = c_sorted(set(tables["wav.scp"]) - used)
        if unused:
            report.notes.append(
                f"removed {len(unused)} recording(s) from wav.scp that no kept segment uses"
            )
    if backup:
        bdir = path / ".backup"
        bdir.mkdir(exist_ok=True)
        for name in [*tables, "spk2utt", "ctm", "cmvn.ark"]:
            if (path / name).is_file():
                shutil.copy2(path / name, bdir / name)
    _write_filtered(tables, ctm, path, utts, feats, path)
    report.kept = len(utts)
    return report


# --- split ------------------------------------------------------------------------------


def split_by_speaker(utt2spk: dict[str, str], num_parts: int) -> list[list[str]]:
    """Speakers into ``num_parts`` groups balanced by utterance count; each group's speakers in C order.

    Largest speaker first into the group with the fewest utterances (ties: lowest index).
    """
    spk2utt = spk2utt_from_utt2spk(utt2spk)
    if num_parts < 1 or num_parts > len(spk2utt):
        raise UsageError(
            f"cannot split {len(spk2utt)} speaker(s) into {num_parts} part(s) — no speaker may be in two "
            f"parts; choose N from 1 to {len(spk2utt)}"
        )
    parts: list[list[str]] = [[] for _ in range(num_parts)]
    sizes = [0] * num_parts
    for spk in sorted(spk2utt, key=lambda s: (-len(spk2utt[s]), c_key(s))):
        k = min(range(num_parts), key=lambda i: (sizes[i], i))
        parts[k].append(spk)
        sizes[k] += len(spk2utt[spk])
    return [c_sorted(p) for p in parts]


def split_data_dir(path: str | os.PathLike, num_parts: int) -> list[Path]:
    """Split by speaker into ``DIR/split<N>/<1..N>``, each a complete data directory."""
    path = _require_dir(Path(path))
    _require_valid(path)
    tables = _read_all(path)
    ctm = read_ctm(path / "ctm") if (path / "ctm").is_file() else None
    feats = _read_feature_files(path)
    utt2spk = tables["utt2spk"]
    groups = split_by_speaker(utt2spk, num_parts)
    spk2utt = spk2utt_from_utt2spk(utt2spk)
    out = path / f"split{num_parts}"
    with atomic_dir(out) as tmp:
        for k, spks in enumerate(groups, start=1):
            part = tmp / str(k)
            part.mkdir()
            _write_filtered(tables, ctm, part, {u for s in spks for u in spk2utt[s]}, feats, path)
    return [out / str(k) for k in range(1, num_parts + 1)]


def split_parts(split_dir: Path) -> list[Path]:
    """``DATA/splitN/1..N`` (what :func:`split_data_dir` made) in order, for a merge of what jobs
    made on them; a split dir of another name, or a missing part, is an error."""
    name = split_dir.name
    if not (name.startswith("split") and name[5:].isdigit() and int(name[5:]) >= 1):
        raise SpeechseqError(
            f"{split_dir}: not a split dir — give the DATA/splitN that speechseq data split DATA N made"
        )
    parts = [split_dir / str(k) for k in range(1, int(name[5:]) + 1)]
    for p in parts:
        if not p.is_dir():
            raise SpeechseqError(
                f"{p}: no such part — give the split dir the parts were made from "
                f"(speechseq data split makes {split_dir}/1..{len(parts)})"
            )
    return parts


# --- subset and combine -------------------------------------------------------------------


def _read_speaker_list(speakers: str | list[str]) -> list[str]:
    """A comma list (``a,b``) or a file with one speaker id per line."""
    if isinstance(speakers, list):
        return speakers
    p = Path(speakers)
    if p.is_file():
        return [tl.key for tl in read_table_lines(p) if tl.key]
    return [s for s in speakers.split(",") if s.strip()]


def _source_and_output(path, out) -> tuple[Path, Path]:
    """A valid data dir to read and another directory to write (subset, copy)."""
    path = _require_dir(Path(path))
    out = Path(out)
    if out.resolve() == path.resolve():
        raise UsageError(
            f"{out}: the output is the input directory — choose another output directory"
        )
    _require_valid(path)
    return path, out


def _write_part(path: Path, out: Path, tables, utts: set[str], feats: _FeatureFiles) -> None:
    """``utts`` of data dir ``path`` (its ``tables``, its ctm, ``feats``) written to ``out`` whole
    or not at all."""
    ctm = read_ctm(path / "ctm") if (path / "ctm").is_file() else None
    with atomic_dir(out) as tmp:
        _write_filtered(tables, ctm, tmp, utts, feats, path)


def subset_data_dir(
    path: str | os.PathLike,
    out: str | os.PathLike,
    num_utts: int | None = None,
    speakers: str | list[str] | None = None,
    random: bool = False,
    seed: int = 0,
) -> int:
    """Write the first ``num_utts`` utterances (C order, or a random choice) or those of
    ``speakers`` into ``out``; returns the number of utterances written."""
    _require_dir(Path(path))  # a missing directory is the first error, then a missing selection
    if (num_utts is None) == (speakers is None):
        raise UsageError("give exactly one of --num-utts N or --speakers LIST")
    path, out = _source_and_output(path, out)
    tables = _read_all(path)
    utt2spk = tables["utt2spk"]
    if num_utts is not None:
        if not 1 <= num_utts <= len(utt2spk):
            raise UsageError(
                f"--num-utts {num_utts}: {path} has {len(utt2spk)} utterance(s) — choose N from 1 to {len(utt2spk)}"
            )
        ordered = c_sorted(utt2spk)
        chosen = _random.Random(seed).sample(ordered, num_utts) if random else ordered[:num_utts]
        utts = set(chosen)
    else:
        wanted = _read_speaker_list(speakers)
        known = set(utt2spk.values())
        unknown = [s for s in wanted if s not in known]
        if unknown or not wanted:
            raise SpeechseqError(
                f"{path}/utt2spk: speaker(s) {', '.join(unknown) or '(none given)'} not found — "
                f"give speaker ids from spk2utt"
            )
        utts = {u for u, s in utt2spk.items() if s in set(wanted)}
    _write_part(path, out, tables, utts, _read_feature_files(path))
    return len(utts)


# Tables and files that belong to a data dir's features, not to its utterances.
FEATURE_TABLES = ("feats.scp", "utt2num_frames", "cmvn.scp")


def copy_data_dir(path: str | os.PathLike, out: str | os.PathLike, feats: bool = False) -> int:
    """Copy every utterance's tables (wav.scp, text, utt2spk, segments, ctm, ...) of ``path`` into
    ``out``, without the features (feats.scp, utt2num_frames, cmvn) unless ``feats``: as Kaldi's
    utils/copy_data_dir.sh before a second feature set is computed (data/train beside
    data/train_hires). Returns the number of utterances."""
    path, out = _source_and_output(path, out)
    tables = _read_all(path)
    if not feats:
        tables = {n: t for n, t in tables.items() if n not in FEATURE_TABLES}
    files = _read_feature_files(path) if feats else _FeatureFiles()
    _write_part(path, out, tables, set(tables["utt2spk"]), files)
    return len(tables["utt2spk"])


def combine_data_dirs(out: str | os.PathLike, dirs: list[str | os.PathLike]) -> list[str]:
    """Union of data directories into ``out``; returns notes on tables left out.

    A table present in only some inputs is left out (noted). Duplicate utterance ids, or one
    recording id with different wav.scp entries, are an error.
    """
    out = Path(out)
    if not dirs:
        raise UsageError("give at least one input directory")
    paths = [_require_dir(Path(d)) for d in dirs]
    if any(p.resolve() == out.resolve() for p in paths):
        raise UsageError(
            f"{out}: the output is one of the inputs — choose another output directory"
        )
    for p in paths:
        _require_valid(p)
    all_tables = [_read_all(p) for p in paths]
    seg_flags = {("segments" in t) for t in all_tables}
    if len(seg_flags) > 1:
        raise SpeechseqError(
            "some inputs have a segments file and some do not — give each input a segments file "
            "(one segment per whole recording) or combine them separately"
        )
    notes = []
    names = set().union(*(t.keys() for t in all_tables))
    have_ctm = [(p / "ctm").is_file() for p in paths]
    combined: dict[str, dict[str, str]] = {}
    for name in sorted(names):
        missing = [str(p) for p, t in zip(paths, all_tables, strict=True) if name not in t]
        if missing:
            if name in ("wav.scp", "utt2spk"):
                raise SpeechseqError(
                    f"{missing[0]}/{name}: file not found — a data directory needs {name}"
                )
            notes.append(f"left out {name}: not in {', '.join(missing)}")
            continue
        merged: dict[str, str] = {}
        origin: dict[str, Path] = {}
        for p, t in zip(paths, all_tables, strict=True):
            for k, v in t[name].items():
                if k in merged and (_is_utt_table(name, "segments" in t) or merged[k] != v):
                    raise SpeechseqError(
                        f"{p / name}: id '{k}' is also in {origin[k] / name} — ids must be unique across "
                        f"the inputs; rename the utterances/recordings of one input (e.g. add a prefix)"
                    )
                merged[k] = v
                origin.setdefault(k, p)
        combined[name] = merged
    ctm = None
    if all(have_ctm):
        ctm = [e for p in paths for e in read_ctm(p / "ctm")]
    elif any(have_ctm):
        notes.append("left out ctm: not in every input")
    feats = _combine_feature_files(paths, notes)
    utts = set(combined["utt2spk"])
    with atomic_dir(out) as tmp:
        _write_filtered(combined, ctm, tmp, utts, feats, out)
    return notes


def _combine_feature_files(paths: list[Path], notes: list[str]) -> _FeatureFiles:
    """conf/feats.yaml when every input has the same one; the sum of their cmvn.ark when every
    input has one (with feats.scp). What is left out is added to ``notes``."""
    inputs = [_read_feature_files(p) for p in paths]
    with_yaml = [
        (p, f.feats_yaml) for p, f in zip(paths, inputs, strict=True) if f.feats_yaml is not None
    ]
    _check_same_settings(with_yaml)
    feats_yaml = None
    if len(with_yaml) == len(paths):
        feats_yaml = with_yaml[0][1]
    elif with_yaml:
        missing = [str(p) for p, f in zip(paths, inputs, strict=True) if f.feats_yaml is None]
        notes.append(f"left out {FEATS_YAML}: not in {', '.join(missing)}")
    cmvn = None
    if all(f.cmvn is not None for f in inputs):
        cmvn = add_cmvn_stats(
            [(p / "cmvn.ark", f.cmvn) for p, f in zip(paths, inputs, strict=True)]
        )
    elif any((p / "cmvn.ark").is_file() for p in paths):
        missing = [str(p) for p, f in zip(paths, inputs, strict=True) if f.cmvn is None]
        notes.append(f"left out cmvn.ark: no cmvn.ark with feats.scp in {', '.join(missing)}")
    return _FeatureFiles(cmvn=cmvn, feats_yaml=feats_yaml)


def _check_same_settings(with_yaml: list[tuple[Path, str]]) -> None:
    """One clear error when two inputs' conf/feats.yaml differ."""
    settings = []
    for p, text in with_yaml:
        try:
            d = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise SpeechseqError(
                f"{p / FEATS_YAML}: not valid YAML ({e}) — rerun speechseq compute-feats {p}"
            ) from None
        settings.append((p, d if isinstance(d, dict) else {"(settings)": d}))
    if not settings:
        return
    first, ref = settings[0]
    for p, d in settings[1:]:
        for key in [*ref, *(k for k in d if k not in ref)]:  # in the order of the file
            a, b = ref.get(key, "<missing>"), d.get(key, "<missing>")
            if a != b:
                raise SpeechseqError(
                    f"{first / FEATS_YAML} and {p / FEATS_YAML}: the feature settings differ "
                    f"({key}: {a} in {first}, {b} in {p}) — features computed with different "
                    f"settings cannot be combined; recompute the features of one with the settings "
                    f"of the other (speechseq compute-feats {p} with the options that give "
                    f"{key}: {a}), or combine copies without feats.scp, cmvn.ark and conf/ and run "
                    f"speechseq compute-feats on the result"
                )
