"""Make a Kaldi data directory from audio the user already has.

- :func:`prepare_from_folder`: a folder tree of audio files (any format soundfile reads)
  with transcripts in same-name ``.txt``/``.lab`` files or one TSV (``stem<TAB>text``);
  the speaker is the parent folder's name or a regex group on the file stem.
- :func:`prepare_librispeech`: the LibriSpeech tree ``ROOT/<spk>/<chapter>/`` with
  ``<spk>-<chapter>-<utt>.flac`` and ``<spk>-<chapter>.trans.txt``.

Both write wav.scp (absolute paths), text, utt2spk, spk2utt and utt2dur, validate the
result, and leave nothing behind when anything is wrong.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from speechseq.data.audio import audio_info
from speechseq.data.kaldi_dir import read_table_lines, spk2utt_from_utt2spk, write_table
from speechseq.data.validate import validate_data_dir
from speechseq.errors import SpeechseqError, UsageError
from speechseq.fileio import atomic_dir

# File name extensions of the audio formats soundfile (libsndfile) reads.
AUDIO_EXTENSIONS = (
    ".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".aifc",
    ".au", ".snd", ".caf", ".w64", ".rf64", ".sph", ".nist", ".wavex",
)  # fmt: skip
TRANSCRIPT_EXTENSIONS = (".txt", ".lab")


@dataclass
class PrepareReport:
    out: Path
    num_utts: int
    num_spks: int
    hours: float
    sample_rates: dict[int, int] = field(default_factory=dict)  # Hz -> number of files
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        rates = ", ".join(f"{n} at {sr} Hz" for sr, n in sorted(self.sample_rates.items()))
        out = [
            f"{self.out}: {self.num_utts} utterances, {self.num_spks} speakers, {self.hours:.2f} hours ({rates})"
        ]
        if len(self.sample_rates) > 1:
            out.append(
                "note: sample rates differ; speechseq resamples to one rate when it reads audio"
            )
        return out + self.notes


def safe_id(s: str) -> str:
    """An id usable in a Kaldi table: white space becomes '_'."""
    return re.sub(r"\s+", "_", s.strip())


def _read_text_file(path: Path) -> str:
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        line = path.read_bytes()[: e.start].count(b"\n") + 1
        raise SpeechseqError(
            f"{path}:{line}: not valid UTF-8 — re-encode the file as UTF-8, e.g. iconv -f LATIN1 -t UTF-8"
        ) from None
    return " ".join(text.split())


def write_prepared_dir(
    out: Path,
    wav: dict,
    text: dict | None,
    utt2spk: dict,
    utt2dur: dict,
    extra: dict[str, dict] | None = None,
    hints: dict[str, str] | None = None,
    write_more: Callable[[Path], None] | None = None,
) -> None:
    """Write the tables (and ``extra`` ones: name -> table) into a temporary directory,
    validate, then rename it to ``out``. ``hints``: problem kind -> a sentence added to the
    error (how the command that prepares can avoid it). ``write_more(tmp)`` writes other files
    (a ctm) into the directory before it is validated."""
    with atomic_dir(out) as tmp:
        write_table(tmp / "wav.scp", wav)
        if text is not None:
            write_table(tmp / "text", text)
        write_table(tmp / "utt2spk", utt2spk)
        write_table(tmp / "spk2utt", spk2utt_from_utt2spk(utt2spk))
        write_table(tmp / "utt2dur", utt2dur)
        for name, table in (extra or {}).items():
            write_table(tmp / name, table)
        if write_more is not None:
            write_more(tmp)
        problems = [p for p in validate_data_dir(tmp, check_audio=False) if p.is_error]
        if problems:
            first = str(problems[0]).replace(str(tmp), str(out))
            hint = (hints or {}).get(problems[0].kind, "")
            raise SpeechseqError(
                f"the prepared directory would not be valid ({len(problems)} problem(s)); the first: {first}"
                + (f" ({hint})" if hint else "")
            )


def _durations(wav: dict[str, str]) -> tuple[dict[str, float], dict[int, int]]:
    """utt2dur from the audio headers (also catches empty, corrupt and truncated files)."""
    utt2dur, rates = {}, Counter()
    for utt, path in wav.items():
        sr, dur = audio_info(path, what=f"utterance '{utt}' ({path})")
        utt2dur[utt] = round(dur, 3)
        rates[sr] += 1
    return utt2dur, dict(rates)


def prepare_from_folder(
    audio_dir: str | os.PathLike,
    out: str | os.PathLike,
    transcripts: str | os.PathLike | None = None,
    speaker_regex: str | None = None,
    no_text: bool = False,
    allow_missing_text: bool = False,
) -> PrepareReport:
    """A data directory from every audio file under ``audio_dir`` (recursive).

    Transcripts come from ``<stem>.txt`` or ``<stem>.lab`` beside each audio file, or from
    ``transcripts`` (a TSV of ``stem<TAB>text``). The speaker is the parent folder's name,
    or group 1 of ``speaker_regex`` searched in the file stem. Utterance ids are
    ``<spk>-<stem>`` (or ``<stem>`` when it already starts with ``<spk>-``), white space
    made ``_``. A transcript without audio, or audio without a transcript, is an error;
    ``no_text`` makes an unlabelled directory (no text file, transcripts ignored) and
    ``allow_missing_text`` leaves audio without a transcript out (listed in the notes).
    """
    audio_dir, out = Path(audio_dir), Path(out)
    if not audio_dir.is_dir():
        raise SpeechseqError(
            f"{audio_dir}: not a directory — give the folder that holds the audio files"
        )
    regex = None
    if speaker_regex is not None:
        try:
            regex = re.compile(speaker_regex)
        except re.error as e:
            raise UsageError(
                f"--speaker-regex '{speaker_regex}': not a valid regex ({e}) — fix it"
            ) from None
        if regex.groups < 1:
            raise UsageError(
                f"--speaker-regex '{speaker_regex}': needs one (group) that captures the speaker id"
            )
    files = sorted(
        p
        for p in audio_dir.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(audio_dir).parts)
    )
    audio = [p for p in files if p.suffix.lower() in AUDIO_EXTENSIONS]
    if not audio:
        raise SpeechseqError(
            f"{audio_dir}: no audio files found (looked for {', '.join(AUDIO_EXTENSIONS)}) — check the folder"
        )

    utt_of: dict[Path, str] = {}
    wav, utt2spk = {}, {}
    for p in audio:
        if regex is not None:
            m = regex.search(p.stem)
            if m is None or not m.group(1):
                raise SpeechseqError(
                    f"{p}: --speaker-regex '{speaker_regex}' does not match the stem '{p.stem}' — fix the regex or rename the file"
                )
            spk = safe_id(m.group(1))
        else:
            spk = safe_id(p.parent.name)
        stem = safe_id(p.stem)
        utt = stem if stem.startswith(f"{spk}-") else f"{spk}-{stem}"
        if utt in wav:
            raise SpeechseqError(
                f"{p}: utterance id '{utt}' is also made from {wav[utt]} — give the files different names"
            )
        utt_of[p] = utt
        wav[utt] = str(p.resolve())
        utt2spk[utt] = spk

    text: dict[str, str] | None = None
    notes: list[str] = []
    if not no_text:
        text = _folder_transcripts(audio_dir, files, audio, utt_of, transcripts)
        missing = [p for p in audio if utt_of[p] not in text]
        if missing and not allow_missing_text:
            raise SpeechseqError(
                f"{missing[0]}: audio without a transcript ({len(missing)} file(s) in all) — add "
                f"{missing[0].with_suffix('.txt').name}, a line in the TSV, or pass --allow-missing-text "
                f"to leave such files out (--no-text for unlabelled audio)"
            )
        for p in missing:
            del wav[utt_of[p]], utt2spk[utt_of[p]]
        if missing:
            notes.append(
                f"left out {len(missing)} audio file(s) without a transcript, e.g. {missing[0]}"
            )
        if not wav:
            raise SpeechseqError(
                f"{audio_dir}: no audio file has a transcript — add transcripts or pass --no-text"
            )

    utt2dur, rates = _durations(wav)
    write_prepared_dir(out, wav, text, utt2spk, utt2dur)
    return PrepareReport(
        out, len(wav), len(set(utt2spk.values())), sum(utt2dur.values()) / 3600, rates, notes
    )


def _folder_transcripts(audio_dir: Path, files, audio, utt_of, tsv) -> dict[str, str]:
    """{utt: transcript} from same-name .txt/.lab files or a TSV; errors for orphans."""
    text: dict[str, str] = {}
    if tsv is not None:
        tsv = Path(tsv)
        by_stem: dict[str, Path] = {}
        for p in audio:
            if p.stem in by_stem:
                raise SpeechseqError(
                    f"{p}: the stem '{p.stem}' is also the stem of {by_stem[p.stem]}, so the TSV line for it "
                    f"is ambiguous — rename one of the files"
                )
            by_stem[p.stem] = p
        seen: dict[str, int] = {}
        read_table_lines(
            tsv
        )  # one clear error for a missing file or non-UTF-8 text, naming the line
        for lineno, line in enumerate(tsv.read_text(encoding="utf-8").split("\n"), start=1):
            line = line.rstrip("\r")
            if not line.strip():
                continue
            stem, sep, sentence = line.partition("\t")
            if not sep:
                raise SpeechseqError(
                    f"{tsv}:{lineno}: no TAB in '{line}' — write 'stem<TAB>transcript'"
                )
            if stem in seen:
                raise SpeechseqError(
                    f"{tsv}:{lineno}: stem '{stem}' also on line {seen[stem]} — keep one line per file"
                )
            seen[stem] = lineno
            if stem not in by_stem:
                raise SpeechseqError(
                    f"{tsv}:{lineno}: transcript for '{stem}', but there is no audio file with that stem "
                    f"under {audio_dir} — add the audio or remove the line"
                )
            sentence = " ".join(sentence.split())
            if not sentence:
                raise SpeechseqError(
                    f"{tsv}:{lineno}: empty transcript for '{stem}' — write it or remove the line"
                )
            text[utt_of[by_stem[stem]]] = sentence
        return text
    audio_by_base = {p.with_suffix(""): p for p in audio}
    for t in files:
        if t.suffix.lower() not in TRANSCRIPT_EXTENSIONS:
            continue
        p = audio_by_base.get(t.with_suffix(""))
        if p is None:
            raise SpeechseqError(
                f"{t}: transcript without audio (no audio file named {t.stem}.* beside it) — add the audio "
                f"or remove the transcript"
            )
        if utt_of[p] in text:
            raise SpeechseqError(
                f"{t}: a second transcript for {p.name} — keep one of .txt and .lab"
            )
        sentence = _read_text_file(t)
        if not sentence:
            raise SpeechseqError(
                f"{t}: empty transcript — write it, or remove both it and {p.name}"
            )
        text[utt_of[p]] = sentence
    return text


def prepare_librispeech(
    root: str | os.PathLike, out: str | os.PathLike, lowercase: bool = False
) -> PrepareReport:
    """A data directory from a LibriSpeech subset (``ROOT`` = e.g. ``LibriSpeech/dev-clean``).

    Transcripts are kept upper-case as distributed, or lower-cased with ``lowercase``.
    Utterance ids are LibriSpeech's (``<spk>-<chapter>-<utt>``), speakers the speaker folders.
    """
    root, out = Path(root), Path(out)
    if not root.is_dir():
        raise SpeechseqError(
            f"{root}: not a directory — give a LibriSpeech subset folder, e.g. LibriSpeech/dev-clean"
        )
    trans_files = sorted(root.glob("*/*/*.trans.txt"))
    if not trans_files:
        raise SpeechseqError(
            f"{root}: no <spk>/<chapter>/<spk>-<chapter>.trans.txt found — give a subset folder such as "
            f"LibriSpeech/dev-clean (not LibriSpeech/ itself)"
        )
    wav, text, utt2spk = {}, {}, {}
    for tf in trans_files:
        chapter_dir = tf.parent
        spk, chapter = chapter_dir.parent.name, chapter_dir.name
        for tl in read_table_lines(tf):
            if not tl.key:
                continue
            utt = tl.key
            if not utt.startswith(f"{spk}-{chapter}-"):
                raise SpeechseqError(
                    f"{tf}:{tl.lineno}: utterance '{utt}' does not start with '{spk}-{chapter}-' — "
                    f"the file is in the wrong folder or the line is corrupt"
                )
            if utt in wav:
                raise SpeechseqError(
                    f"{tf}:{tl.lineno}: duplicate utterance '{utt}' — remove one line"
                )
            flac = chapter_dir / f"{utt}.flac"
            if not flac.is_file():
                raise SpeechseqError(
                    f"{tf}:{tl.lineno}: transcript for '{utt}' but {flac} does not exist — restore the audio "
                    f"or remove the line"
                )
            if not tl.value.strip():
                raise SpeechseqError(
                    f"{tf}:{tl.lineno}: empty transcript for '{utt}' — restore the line"
                )
            wav[utt] = str(flac.resolve())
            text[utt] = tl.value.lower() if lowercase else tl.value
            utt2spk[utt] = spk
        for flac in sorted(chapter_dir.glob("*.flac")):
            if flac.stem not in wav:
                raise SpeechseqError(
                    f"{flac}: audio without a transcript in {tf.name} — add the line or remove the file"
                )
    utt2dur, rates = _durations(wav)
    write_prepared_dir(out, wav, text, utt2spk, utt2dur)
    return PrepareReport(
        out, len(wav), len(set(utt2spk.values())), sum(utt2dur.values()) / 3600, rates
    )
