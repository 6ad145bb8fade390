"""Read and write the files of a Kaldi data directory.

A data directory (``data/<set>/``) holds plain-text tables, one ``KEY VALUE`` line each,
sorted in C (byte) order:

=================  ==========================================================
wav.scp            ``reco path`` or ``reco command |`` (a pipe that writes audio)
text               ``utt word word ...``
utt2spk            ``utt spk``
spk2utt            ``spk utt utt ...``
segments           ``utt reco start_s end_s``
utt2dur            ``utt duration_s``
utt2num_frames     ``utt num_frames``
feats.scp          ``utt ark_path:offset``
ctm                ``utt channel start_s dur_s word [conf]`` (word timings)
text.<lang>        ``utt translation ...``
slots              ``utt TAG TAG ...`` (one BIO tag per word of ``text``)
reco2file_and_channel  ``reco file channel``: which channel of a multi-channel
                   recording to read (``A``/``1`` the first, ``B``/``2`` the second)
=================  ==========================================================

Without ``segments`` each recording is one utterance and wav.scp is keyed by utterance id.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from speechseq.data.audio import (
    MIX,
    NO_PIPES_ENV,
    PIPES_FIX,
    AudioSpec,
    Channel,
    is_pipe,
    pipes_refused,
)
from speechseq.errors import SpeechseqError
from speechseq.fileio import atomic_write

TABLES = (
    "wav.scp",
    "text",
    "utt2spk",
    "spk2utt",
    "segments",
    "utt2dur",
    "utt2num_frames",
    "feats.scp",
    "slots",
)


def c_key(s: str) -> bytes:
    """Sort key that gives C-locale (``LC_ALL=C sort``) order."""
    return s.encode("utf-8")


def c_sorted(items: Iterable[str]) -> list[str]:
    return sorted(items, key=c_key)


class TableError(SpeechseqError):
    """A bad line in a table; keeps the parts apart so a validator can collect them."""

    def __init__(self, path: str | os.PathLike, line: int | None, what: str, fix: str):
        self.path, self.line, self.what, self.fix = str(path), line, what, fix
        loc = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{loc}: {what} — {fix}")


@dataclass(frozen=True)
class TableLine:
    lineno: int  # 1-based line number in the file
    key: str
    value: str  # rest of the line after the first run of white space ("" if none)


def read_table_lines(path: str | os.PathLike) -> list[TableLine]:
    """All lines of a ``KEY VALUE`` table, without any check but UTF-8 decoding.

    Raises :class:`SpeechseqError` naming the file and line for a missing file or text
    that is not UTF-8.
    """
    path = Path(path)
    if not path.is_file():
        raise TableError(path, None, "file not found", "check the path, or create it")
    raw = path.read_bytes()
    out = []
    for lineno, bline in enumerate(raw.split(b"\n"), start=1):
        try:
            line = bline.decode("utf-8")
        except UnicodeDecodeError as e:
            raise TableError(
                path,
                lineno,
                f"not valid UTF-8 (byte {bline[e.start]:#04x} at column {e.start + 1})",
                "re-encode the file as UTF-8, e.g. iconv -f LATIN1 -t UTF-8",
            ) from None
        line = line.rstrip("\r")
        if not line.strip():
            if lineno == raw.count(b"\n") + 1:  # the empty piece after the final newline
                continue
            out.append(TableLine(lineno, "", ""))
            continue
        parts = line.strip().split(maxsplit=1)
        out.append(TableLine(lineno, parts[0], parts[1] if len(parts) > 1 else ""))
    return out


def read_table(path: str | os.PathLike, allow_empty: bool = False) -> dict[str, str]:
    """Read a ``KEY VALUE`` table into a dict (file order kept).

    One clear error for an empty line, a duplicate key or (unless ``allow_empty``) a key
    with no value.
    """
    table: dict[str, str] = {}
    for tl in read_table_lines(path):
        if not tl.key:
            raise TableError(path, tl.lineno, "empty line", "remove it")
        if tl.key in table:
            raise TableError(
                path,
                tl.lineno,
                f"duplicate id '{tl.key}'",
                "ids must be unique; remove one of the lines (speechseq data fix keeps the first)",
            )
        if not tl.value and not allow_empty:
            raise TableError(
                path, tl.lineno, f"'{tl.key}' has no value", "add it or remove the line"
            )
        table[tl.key] = tl.value
    return table


def write_table(
    path: str | os.PathLike, table: Mapping[str, object] | Iterable[tuple[str, object]]
) -> None:
    """Write a ``KEY VALUE`` table sorted in C order, atomically.

    Values may be strings, numbers, or lists (joined with spaces).
    """
    items = table.items() if isinstance(table, Mapping) else table
    rows = []
    for key, value in items:
        if isinstance(value, (list, tuple)):
            value = " ".join(str(v) for v in value)
        elif isinstance(value, float):
            value = f"{value:.3f}"
        rows.append((key, str(value)))
    rows.sort(key=lambda kv: c_key(kv[0]))
    with atomic_write(path) as f:
        for key, value in rows:
            f.write(f"{key} {value}\n" if value != "" else f"{key}\n")


# --- typed tables ---------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    reco: str  # recording id (a key of wav.scp)
    start_s: float
    end_s: float


@dataclass(frozen=True)
class CtmEntry:
    utt: str  # utterance (or recording) id
    channel: str
    start_s: float
    dur_s: float
    word: str
    conf: float | None = None

    @property
    def end_s(self) -> float:
        return self.start_s + self.dur_s


def _float(path, lineno, text, what):
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if value != value or value in (float("inf"), float("-inf")):
        raise TableError(path, lineno, f"{what} '{text}' is not a number", "fix the line")
    return value


def _int(path, lineno, text, what):
    try:
        return int(text)
    except ValueError:
        raise TableError(
            path, lineno, f"{what} '{text}' is not an integer", "fix the line"
        ) from None


def parse_segment(path, lineno: int, utt: str, rest: str) -> Segment:
    """One ``segments`` line (``utt reco start_s end_s``); :class:`TableError` if malformed."""
    f = rest.split()
    if len(f) != 3:
        raise TableError(
            path, lineno, f"expected 'utt reco start_s end_s', got '{utt} {rest}'", "fix the line"
        )
    return Segment(f[0], _float(path, lineno, f[1], "start"), _float(path, lineno, f[2], "end"))


def read_segments(path: str | os.PathLike) -> dict[str, Segment]:
    read_table(path)  # the checks every table gets (duplicates, empty lines)
    return {
        tl.key: parse_segment(path, tl.lineno, tl.key, tl.value) for tl in read_table_lines(path)
    }


def write_segments(path, segs: Mapping[str, Segment]) -> None:
    write_table(path, {u: f"{s.reco} {s.start_s:.3f} {s.end_s:.3f}" for u, s in segs.items()})


@dataclass(frozen=True)
class FileAndChannel:
    file: str  # the file id the recording comes from
    label: str  # the channel as written: A, B, ... or 1, 2, ...
    index: int  # 0-based channel index (A/1 -> 0, B/2 -> 1)
    lineno: int  # line of reco2file_and_channel


def parse_file_and_channel(path, lineno: int, reco: str, rest: str) -> FileAndChannel:
    """One ``reco2file_and_channel`` line (``reco file channel``); channels are letters
    (``A`` = the first) or numbers from 1, as Kaldi writes them. :class:`TableError` if not."""
    f = rest.split()
    if len(f) != 2:
        raise TableError(
            path, lineno, f"expected 'reco file channel', got '{reco} {rest}'", "fix the line"
        )
    label = f[1]
    if len(label) == 1 and label.isascii() and label.isalpha():
        index = ord(label.upper()) - ord("A")
    elif label.isascii() and label.isdigit() and int(label) >= 1:
        index = int(label) - 1
    else:
        raise TableError(
            path,
            lineno,
            f"channel '{label}' of recording '{reco}' is not A, B, ... or 1, 2, ...",
            "write A (or 1) for the first channel, B (or 2) for the second",
        )
    return FileAndChannel(f[0], label, index, lineno)


def read_ctm(path: str | os.PathLike) -> list[CtmEntry]:
    """Read a CTM (``utt channel start_s dur_s word [conf]``), in file order."""
    out = []
    for tl in read_table_lines(path):
        if not tl.key:
            continue
        f = [tl.key, *tl.value.split()]
        if len(f) not in (5, 6):
            raise TableError(
                path,
                tl.lineno,
                f"expected 'utt channel start_s dur_s word [conf]', got {len(f)} fields",
                "fix the line",
            )
        conf = _float(path, tl.lineno, f[5], "confidence") if len(f) == 6 else None
        out.append(
            CtmEntry(
                f[0],
                f[1],
                _float(path, tl.lineno, f[2], "start"),
                _float(path, tl.lineno, f[3], "duration"),
                f[4],
                conf,
            )
        )
    return out


def write_ctm(path: str | os.PathLike, entries: Iterable[CtmEntry]) -> None:
    rows = sorted(entries, key=lambda e: (c_key(e.utt), e.start_s))
    with atomic_write(path) as f:
        for e in rows:
            conf = f" {e.conf:.2f}" if e.conf is not None else ""
            f.write(f"{e.utt} {e.channel} {e.start_s:.3f} {e.dur_s:.3f} {e.word}{conf}\n")


def spk2utt_from_utt2spk(utt2spk: Mapping[str, str]) -> dict[str, list[str]]:
    spk2utt: dict[str, list[str]] = {}
    for utt in c_sorted(utt2spk):
        spk2utt.setdefault(utt2spk[utt], []).append(utt)
    return spk2utt


# --- the directory ----------------------------------------------------------------------


class DataDir:
    """A Kaldi data directory; tables are read on first use and cached.

    ``DataDir(path).text`` is ``{utt: transcript}``; missing optional tables are ``None``.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.is_dir():
            raise SpeechseqError(
                f"{self.path}: not a directory — give a Kaldi data directory (with wav.scp, text, utt2spk)"
            )
        self._cache: dict[str, object] = {}

    def file(self, name: str) -> Path:
        return self.path / name

    def has(self, name: str) -> bool:
        return (self.path / name).is_file()

    def _table(self, name: str, allow_empty: bool = False, required: bool = False):
        if name not in self._cache:
            if not self.has(name):
                if required:
                    raise SpeechseqError(
                        f"{self.file(name)}: file not found — a data directory needs {name}"
                    )
                self._cache[name] = None
            else:
                self._cache[name] = read_table(self.file(name), allow_empty=allow_empty)
        return self._cache[name]

    @property
    def wav_scp(self) -> dict[str, str]:
        return self._table("wav.scp", required=True)

    @property
    def text(self) -> dict[str, str] | None:
        return self._table("text", allow_empty=True)

    def texts_for(self, utt_ids: list[str], why: str, name: str = "text") -> dict[str, str]:
        """``name`` (``text``, ``text.fr`` ...) of every utterance in ``utt_ids``, in their order.
        A missing file, or an utterance it lacks, is one error naming the file, the count and the
        first such utterance, and ``why`` the command needs it (e.g. "CTC training")."""
        table = self._table(name, allow_empty=True)
        if table is None:
            raise SpeechseqError(f"{self.file(name)}: file not found — {why} needs it")
        missing = [u for u in utt_ids if u not in table]
        if missing:
            raise SpeechseqError(
                f"{self.file(name)}: {len(missing)} utterance(s) with features have none "
                f"(first: {missing[0]}) — {why} needs one per utterance; add them, or keep only "
                f"those utterances (speechseq data fix {self.path})"
            )
        return {u: table[u] for u in utt_ids}

    @property
    def utt2spk(self) -> dict[str, str]:
        return self._table("utt2spk", required=True)

    @property
    def spk2utt(self) -> dict[str, list[str]]:
        t = self._table("spk2utt")
        return (
            {k: v.split() for k, v in t.items()}
            if t is not None
            else spk2utt_from_utt2spk(self.utt2spk)
        )

    @property
    def segments(self) -> dict[str, Segment] | None:
        if "segments" not in self._cache:
            self._cache["segments"] = (
                read_segments(self.file("segments")) if self.has("segments") else None
            )
        return self._cache["segments"]

    def _numbers(self, name: str, convert):
        if self._table(name) is None:
            return None
        return {
            tl.key: convert(self.file(name), tl.lineno, tl.value, "value")
            for tl in read_table_lines(self.file(name))
        }

    @property
    def utt2dur(self) -> dict[str, float] | None:
        return self._numbers("utt2dur", _float)

    @property
    def utt2num_frames(self) -> dict[str, int] | None:
        return self._numbers("utt2num_frames", _int)

    @property
    def feats_scp(self) -> dict[str, str] | None:
        return self._table("feats.scp")

    @property
    def slots(self) -> dict[str, list[str]] | None:
        t = self._table("slots", allow_empty=True)
        return {k: v.split() for k, v in t.items()} if t is not None else None

    @property
    def reco2file_and_channel(self) -> dict[str, FileAndChannel] | None:
        """``{reco: FileAndChannel}``, or None without the file."""
        if "reco2file_and_channel" not in self._cache:
            table = None
            if self._table("reco2file_and_channel") is not None:
                path = self.file("reco2file_and_channel")
                table = {
                    tl.key: parse_file_and_channel(path, tl.lineno, tl.key, tl.value)
                    for tl in read_table_lines(path)
                }
            self._cache["reco2file_and_channel"] = table
        return self._cache["reco2file_and_channel"]

    @property
    def ctm(self) -> list[CtmEntry] | None:
        return read_ctm(self.file("ctm")) if self.has("ctm") else None

    def translation(self, lang: str) -> dict[str, str] | None:
        return self._table(f"text.{lang}", allow_empty=True)

    def languages(self) -> list[str]:
        """Target languages with a ``text.<lang>`` file."""
        return sorted(p.name.split(".", 1)[1] for p in self.path.glob("text.*") if p.is_file())

    @property
    def utt_ids(self) -> list[str]:
        """Utterance ids in C order (from utt2spk)."""
        return c_sorted(self.utt2spk)

    def audio_spec(self, utt: str, channel: Channel = MIX) -> AudioSpec:
        """Where an utterance's audio is: wav.scp entry, span (segments honoured), channel.

        The channel is the one ``reco2file_and_channel`` names for the recording, else
        ``channel`` (an index, or ``"mix"``). A pipe entry while pipes are refused
        (``SPEECHSEQ_NO_PIPES``) is an error naming its wav.scp line.
        """
        segs = self.segments
        reco, start_s, end_s = utt, 0.0, None
        if segs is not None:
            if utt not in segs:
                raise SpeechseqError(
                    f"{self.file('segments')}: no segment for utterance '{utt}' — add it, or run speechseq data fix {self.path}"
                )
            seg = segs[utt]
            reco, start_s, end_s = seg.reco, seg.start_s, seg.end_s
        if reco not in self.wav_scp:
            raise SpeechseqError(
                f"{self.file('wav.scp')}: no entry for '{reco}' (utterance '{utt}') — add it, "
                f"or run speechseq data fix {self.path}"
            )
        entry = self.wav_scp[reco]
        if is_pipe(entry) and pipes_refused():
            lineno = next(
                (tl.lineno for tl in read_table_lines(self.file("wav.scp")) if tl.key == reco),
                None,
            )
            of = f"recording '{reco}'" + (f" (utterance '{utt}')" if reco != utt else "")
            raise TableError(
                self.file("wav.scp"),
                lineno,
                f"{of} is a pipe, '{entry}': pipes run shell commands and are refused "
                f"(--no-pipes or {NO_PIPES_ENV}=1)",
                PIPES_FIX,
            )
        r2fc = self.reco2file_and_channel
        if r2fc is not None and reco in r2fc:
            fc = r2fc[reco]
            origin = f"{self.file('reco2file_and_channel')}:{fc.lineno} (channel {fc.label})"
            return AudioSpec(entry, start_s, end_s, fc.index, origin)
        return AudioSpec(entry, start_s, end_s, channel)


def recording_ctm(data: DataDir, entries: Iterable[CtmEntry]) -> list[CtmEntry]:
    """CTM ``entries`` keyed by utterance, in the recording's time when ``data`` has ``segments``
    (Kaldi's ``utils/convert_ctm.pl``): each start is shifted by its segment's start, the first
    field becomes the file id and the channel the one ``reco2file_and_channel`` gives for the
    recording (else the recording id and channel ``1``). Without ``segments`` an utterance is its
    recording and the entries come back as they are."""
    segs = data.segments
    if segs is None:
        return list(entries)
    r2fc = data.reco2file_and_channel or {}
    out = []
    for e in entries:
        seg = segs.get(e.utt)
        if seg is None:
            raise SpeechseqError(
                f"{data.file('segments')}: no segment for utterance '{e.utt}' of the CTM — add it, "
                f"or run speechseq data fix {data.path}"
            )
        fc = r2fc.get(seg.reco)
        name, channel = (fc.file, fc.label) if fc is not None else (seg.reco, "1")
        out.append(CtmEntry(name, channel, seg.start_s + e.start_s, e.dur_s, e.word, e.conf))
    return out
