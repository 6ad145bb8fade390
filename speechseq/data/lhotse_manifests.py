"""Kaldi data dirs to lhotse manifests and back (``speechseq data to-lhotse`` / ``from-lhotse``).

lhotse is an optional dependency (``pip install 'speechseq[lhotse]'``), imported only here and
only when a manifest is read or written.

A data dir becomes ``OUT/recordings.jsonl.gz`` (one ``Recording`` per wav.scp entry: a file,
or a ``|`` pipe as a lhotse ``command`` source) and ``OUT/supervisions.jsonl.gz`` (one
``SupervisionSegment`` per utterance: its segment — or the whole recording without
``segments`` —, text, speaker, the channel ``reco2file_and_channel`` names (else channel 0 of
mono audio, all channels of multi-channel audio, which speechseq reads as their average), and
the ``ctm`` word timings as the ``word`` alignment, in recording time).

Back, the manifests of a folder (one ``*recordings*.jsonl[.gz]`` and one
``*supervisions*.jsonl[.gz]``, or those whose name holds ``part``) become wav.scp, segments
(unless every supervision is a whole recording under the recording's id), text, utt2spk,
spk2utt, utt2dur, ``reco2file_and_channel`` for supervisions on one channel of multi-channel
audio (the Kaldi recording ``<rec>-A``, ``<rec>-B`` ...), and ``ctm`` from ``word``
alignments. The data dir is written under a temporary name, validated and renamed into place.
"""

from __future__ import annotations

import gzip
import json
import os
from dataclasses import dataclass
from pathlib import Path

from speechseq.data.audio import audio_header, is_pipe
from speechseq.data.kaldi_dir import CtmEntry, DataDir, c_sorted, write_ctm
from speechseq.data.prepare import write_prepared_dir
from speechseq.errors import SpeechseqError
from speechseq.fileio import atomic_write

RECORDINGS = "recordings.jsonl.gz"
SUPERVISIONS = "supervisions.jsonl.gz"
INSTALL = "pip install 'speechseq[lhotse]' (or pip install lhotse)"


def require_lhotse():
    """The lhotse module, or one error line saying how to install it."""
    try:
        import lhotse
    except ImportError:
        raise SpeechseqError(
            f"lhotse is not installed — it is an optional dependency: {INSTALL}"
        ) from None
    return lhotse


@dataclass
class LhotseReport:
    out: Path
    num_recordings: int
    num_supervisions: int
    notes: list[str]

    def lines(self) -> list[str]:
        return [
            f"{self.out}: {self.num_recordings} recordings, {self.num_supervisions} supervisions"
        ] + self.notes


def _channel_label(index: int) -> str:
    return chr(ord("A") + index) if index < 26 else str(index + 1)


# --- data dir -> manifests ------------------------------------------------------------------


def to_lhotse(data_dir: str | os.PathLike, out: str | os.PathLike) -> LhotseReport:
    """Write ``OUT/recordings.jsonl.gz`` and ``OUT/supervisions.jsonl.gz`` for ``data_dir``."""
    lhotse = require_lhotse()
    from lhotse.supervision import AlignmentItem

    data = DataDir(data_dir)
    segs = data.segments
    r2fc = data.reco2file_and_channel or {}
    recordings = {}
    for reco in c_sorted(data.wav_scp):
        entry = data.wav_scp[reco]
        sr, frames, channels = audio_header(entry, what=f"{data.file('wav.scp')}: '{reco}'")
        if is_pipe(entry):
            source = lhotse.AudioSource(
                "command", list(range(channels)), entry.strip()[:-1].strip()
            )
        else:
            source = lhotse.AudioSource(
                "file", list(range(channels)), str(Path(entry.strip()).resolve())
            )
        recordings[reco] = lhotse.Recording(reco, [source], sr, frames, frames / sr)
    ctm: dict[str, list[CtmEntry]] = {}
    for e in data.ctm or []:
        ctm.setdefault(e.utt, []).append(e)
    text = data.text or {}
    sups = []
    for utt in data.utt_ids:
        if segs is not None:
            if utt not in segs:
                raise SpeechseqError(
                    f"{data.file('segments')}: no segment for utterance '{utt}' — add it, or run "
                    f"speechseq data fix {data.path}"
                )
            reco, start, dur = (
                segs[utt].reco,
                segs[utt].start_s,
                segs[utt].end_s - segs[utt].start_s,
            )
        else:
            reco, start = utt, 0.0
            dur = recordings[reco].duration if reco in recordings else 0.0
        if reco not in recordings:
            raise SpeechseqError(
                f"{data.file('wav.scp')}: no entry for '{reco}' (utterance '{utt}') — add it, or "
                f"run speechseq data fix {data.path}"
            )
        num_channels = len(recordings[reco].sources[0].channels)
        if reco in r2fc:
            channel: int | list[int] = r2fc[reco].index
        else:
            channel = 0 if num_channels == 1 else list(range(num_channels))
        words = [
            AlignmentItem(e.word, round(start + e.start_s, 3), e.dur_s) for e in ctm.get(utt, [])
        ]
        sups.append(
            lhotse.SupervisionSegment(
                utt,
                reco,
                round(start, 3),
                round(dur, 3),
                channel=channel,
                text=text.get(utt),
                speaker=data.utt2spk[utt],
                alignment={"word": words} if words else None,
            )
        )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _write_jsonl_gz(out / RECORDINGS, [r.to_dict() for r in recordings.values()])
    _write_jsonl_gz(out / SUPERVISIONS, [s.to_dict() for s in sups])
    return LhotseReport(out, len(recordings), len(sups), [])


def _write_jsonl_gz(path: Path, items: list[dict]) -> None:
    """lhotse's manifest format (one JSON object per line, gzipped), written atomically."""
    with atomic_write(path, "wb") as f, gzip.GzipFile(fileobj=f, mode="wb", mtime=0) as gz:
        for item in items:
            gz.write((json.dumps(item, ensure_ascii=False) + "\n").encode("utf-8"))


# --- manifests -> data dir ------------------------------------------------------------------


def _find_manifest(folder: Path, kind: str, part: str | None) -> Path:
    found = sorted(
        p
        for p in folder.glob(f"*{kind}*.jsonl*")
        if p.is_file() and (part is None or part in p.name)
    )
    if len(found) != 1:
        what = "none" if not found else ", ".join(p.name for p in found)
        fix = (
            "name the part with --part (e.g. --part dev-clean)"
            if found
            else f"give the folder that holds *{kind}*.jsonl.gz (lhotse's recipes write "
            f"<corpus>_{kind}_<part>.jsonl.gz)"
        )
        within = f" with '{part}' in the name" if part else ""
        raise SpeechseqError(
            f"{folder}: expected one {kind} manifest{within}, found {what} — {fix}"
        )
    return found[0]


def _load(lhotse, path: Path, kind: str):
    try:
        manifest = lhotse.load_manifest(path)
    except Exception as e:  # lhotse raises many kinds for a bad file; one line names it
        raise SpeechseqError(
            f"{path}: cannot read the lhotse {kind} manifest ({type(e).__name__}: {e}) — "
            "give a manifest written by lhotse"
        ) from None
    want = lhotse.RecordingSet if kind == "recordings" else lhotse.SupervisionSet
    if not isinstance(manifest, want):
        raise SpeechseqError(
            f"{path}: is a {type(manifest).__name__}, not a {want.__name__} — give the "
            f"{kind} manifest (cut manifests are not read; export recordings and supervisions)"
        )
    return manifest


def _source_entry(rec, path: Path) -> str:
    if len(rec.sources) != 1:
        raise SpeechseqError(
            f"{path}: recording '{rec.id}' has {len(rec.sources)} audio sources (one per "
            "channel) — a wav.scp entry reads one file; merge the channels into one file first"
        )
    src = rec.sources[0]
    if src.type == "file":
        return str(Path(src.source).resolve())
    if src.type == "command":
        return f"{src.source} |"
    raise SpeechseqError(
        f"{path}: recording '{rec.id}' has a '{src.type}' audio source — only 'file' and "
        "'command' sources have a wav.scp form; write the audio to files first"
    )


def from_lhotse(
    manifest_dir: str | os.PathLike,
    out: str | os.PathLike,
    part: str | None = None,
    speaker_prefix: bool = False,
) -> LhotseReport:
    """A Kaldi data dir ``out`` from the recordings and supervisions manifests in ``manifest_dir``.

    ``speaker_prefix``: utterance ids become ``<speaker>-<supervision id>`` (unless they start
    so already), so that they sort with their speakers as Kaldi requires.
    """
    lhotse = require_lhotse()
    folder = Path(manifest_dir)
    if not folder.is_dir():
        raise SpeechseqError(f"{folder}: not a directory — give the folder of the lhotse manifests")
    rec_path = _find_manifest(folder, "recordings", part)
    sup_path = _find_manifest(folder, "supervisions", part)
    recs = {r.id: r for r in _load(lhotse, rec_path, "recordings")}
    sups = list(_load(lhotse, sup_path, "supervisions"))

    wav, segments, text, utt2spk, utt2dur, r2fc = {}, {}, {}, {}, {}, {}
    ctm: list[CtmEntry] = []
    whole = True  # every supervision a whole recording under the recording's id
    with_text = [s for s in sups if s.text is not None]
    notes = []
    for s in sups:
        where = f"{sup_path}: supervision '{s.id}'"
        utt = s.id
        if speaker_prefix and s.speaker and not utt.startswith(f"{s.speaker}-"):
            utt = f"{s.speaker}-{utt}"
        rec = recs.get(s.recording_id)
        if rec is None:
            raise SpeechseqError(
                f"{where} names recording '{s.recording_id}', which {rec_path.name} lacks — "
                "give the manifests of one corpus part"
            )
        if any(c.isspace() for c in s.id) or (s.speaker and any(c.isspace() for c in s.speaker)):
            raise SpeechseqError(
                f"{where}: white space in the supervision or speaker id — Kaldi tables cannot "
                "hold it; fix the ids in the manifest"
            )
        entry = _source_entry(rec, rec_path)
        channels = rec.num_channels
        reco = rec.id
        if isinstance(s.channel, int) and channels > 1:
            label = _channel_label(s.channel)
            reco = f"{rec.id}-{label}"
            r2fc[reco] = f"{rec.id} {label}"
        elif isinstance(s.channel, list) and sorted(s.channel) != list(range(channels)):
            raise SpeechseqError(
                f"{where}: on channels {s.channel} of {channels} — speechseq reads one channel "
                "or the average of all; split the supervision per channel"
            )
        wav[reco] = entry
        if not (utt == rec.id and abs(s.start) < 1e-3 and abs(s.duration - rec.duration) < 1e-3):
            whole = False
        if utt in utt2spk:
            raise SpeechseqError(f"{where}: utterance id '{utt}' comes twice — make the ids unique")
        segments[utt] = f"{reco} {s.start:.3f} {s.end:.3f}"
        if with_text:
            if s.text is None:
                raise SpeechseqError(
                    f"{where} has no text while {len(with_text)} others have — give every "
                    "supervision its text, or none (unlabelled audio)"
                )
            text[utt] = " ".join(s.text.split())
        utt2spk[utt] = s.speaker or utt
        utt2dur[utt] = round(s.duration, 3)
        for item in (s.alignment or {}).get("word", []):
            ctm.append(CtmEntry(utt, "1", item.start - s.start, item.duration, item.symbol))
    if whole and not r2fc:
        segments = {}
    if any(s.speaker is None for s in sups):
        notes.append("note: supervisions without a speaker are their own speaker (utt2spk)")
    write_prepared_dir(
        Path(out),
        wav,
        text if with_text else None,
        utt2spk,
        utt2dur,
        extra={
            **({"segments": segments} if segments else {}),
            **({"reco2file_and_channel": r2fc} if r2fc else {}),
        },
        hints={
            "speaker-order": "lhotse ids need not start with the speaker: rerun with "
            "--speaker-prefix to name the utterances '<speaker>-<id>'"
        },
        write_more=(lambda d: write_ctm(d / "ctm", ctm)) if ctm else None,
    )
    return LhotseReport(Path(out), len(wav), len(sups), notes)
