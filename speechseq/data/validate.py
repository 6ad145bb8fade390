"""Check a Kaldi data directory the way Kaldi's ``utils/validate_data_dir.sh`` does.

:func:`validate_data_dir` collects every problem it finds (it does not stop at the first)
as :class:`Problem` values whose ``str()`` is one line, ``FILE:LINE: what is wrong — how to
fix it``. The checks:

- wav.scp and utt2spk exist (spk2utt too; text is optional, for unlabelled audio);
- each table sorted in C order (``LC_ALL=C sort``), ids unique, no empty lines;
- the same utterance set in utt2spk, text, segments (or wav.scp), utt2dur, utt2num_frames,
  feats.scp, slots, text.<lang> and ctm (those present);
- no empty transcripts or translations; slots has one O / B-x / I-x tag per word of text;
- segments: four fields, 0 <= start < end, recording in wav.scp, end inside the recording;
  every wav.scp recording used by some segment;
- spk2utt agrees with utt2spk; speakers sort consistently with utterances (speaker ids
  prefixes of utterance ids);
- reco2file_and_channel (if present): ``reco file channel`` lines with channel A, B, ... or
  1, 2, ..., one for every recording of wav.scp and none for others;
- wav.scp files and feats.scp archives exist; pipe entries are errors while pipes are refused
  (``SPEECHSEQ_NO_PIPES``); with ``check_audio``, every recording decodes (not empty, not
  truncated), has the channel it is read from, its length matches utt2dur, and sample rates
  are uniform. Multi-channel recordings get a note saying how they are read.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from speechseq.data.audio import (
    MIX,
    NO_PIPES_ENV,
    PIPES_FIX,
    Channel,
    audio_duration,
    is_pipe,
    parse_channel,
    pipes_refused,
    read_audio_channels,
)
from speechseq.data.kaldi_dir import (
    DataDir,
    FileAndChannel,
    TableError,
    TableLine,
    c_key,
    c_sorted,
    parse_file_and_channel,
    parse_segment,
    read_ctm,
    read_table_lines,
)
from speechseq.errors import SpeechseqError

SEGMENT_TOLERANCE_S = 0.05  # a segment may end this far past its recording (rounding)
DURATION_TOLERANCE_S = 0.05  # utt2dur may differ this much from the decoded audio
SLOT_TAG = re.compile(r"^(O|[BI]-\S+)$")

# Tables keyed by utterance id that must cover exactly the utterances of utt2spk.
UTT_TABLES = ("text", "utt2dur", "utt2num_frames", "feats.scp", "slots")


@dataclass(frozen=True)
class Problem:
    file: str  # path of the file at fault (or the directory)
    line: int | None  # 1-based line number, None when the problem is the whole file
    message: str  # what is wrong
    fix: str  # how to fix it
    kind: str = ""  # short tag used to cap how many problems of one kind are printed
    warning: bool = False  # worth knowing, but the directory is usable (mixed sample rates)
    note: bool = False  # not a problem: how the data will be read (multi-channel audio)

    @property
    def is_error(self) -> bool:
        """Whether the directory needs fixing (not a warning, not a note)."""
        return not (self.warning or self.note)

    def __str__(self) -> str:
        loc = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{loc}: {self.message} — {self.fix}"


@dataclass(frozen=True)
class DirStats:
    num_utts: int
    num_spks: int
    hours: float | None  # None when no durations are known (no utt2dur, pipes)


def format_problems(problems: Iterable[Problem], max_per_kind: int = 20) -> list[str]:
    """One line per problem (warnings prefixed ``warning:``, notes ``note:``), at most
    ``max_per_kind`` per kind, then a count of the rest."""
    shown: Counter = Counter()
    hidden: Counter = Counter()
    lines = []
    for p in problems:
        if shown[p.kind] < max_per_kind:
            shown[p.kind] += 1
            lines.append(f"note: {p}" if p.note else f"warning: {p}" if p.warning else str(p))
        else:
            hidden[p.kind] += 1
    for kind, n in hidden.items():
        lines.append(f"... and {n} more problem(s) of the kind '{kind}' not shown")
    return lines


class _Checker:
    def __init__(self, path: Path, check_audio: bool, num_jobs: int, channel: Channel = MIX):
        self.dir = path
        self.check_audio = check_audio
        self.num_jobs = num_jobs
        self.channel = channel
        self.problems: list[Problem] = []

    def add(self, file, line, message, fix, kind, warning=False, note=False):
        self.problems.append(Problem(str(file), line, message, fix, kind, warning, note))

    def fixcmd(self) -> str:
        return f"run speechseq data fix {self.dir}"

    # --- tables ---------------------------------------------------------------------

    def lines(self, name: str, needs_value: bool = True) -> dict[str, TableLine] | None:
        """The table's lines by id (first of duplicates), recording format problems."""
        path = self.dir / name
        if not path.is_file():
            return None
        try:
            tlines = read_table_lines(path)
        except TableError as e:
            self.add(e.path, e.line, e.what, e.fix, "unreadable")
            return {}
        out: dict[str, TableLine] = {}
        prev = None
        unsorted_reported = False
        for tl in tlines:
            if not tl.key:
                self.add(path, tl.lineno, "empty line", "remove it", "empty-line")
                continue
            if tl.key in out:
                self.add(
                    path,
                    tl.lineno,
                    f"duplicate id '{tl.key}' (first on line {out[tl.key].lineno})",
                    f"ids must be unique; remove one of the lines ({self.fixcmd()} keeps the first)",
                    "duplicate",
                )
                continue
            if prev is not None and c_key(tl.key) < c_key(prev) and not unsorted_reported:
                self.add(
                    path,
                    tl.lineno,
                    f"not sorted in C order: '{tl.key}' comes after '{prev}'",
                    f"sort it with LC_ALL=C sort, or {self.fixcmd()}",
                    "unsorted",
                )
                unsorted_reported = True
            if needs_value and not tl.value:
                self.add(
                    path,
                    tl.lineno,
                    f"'{tl.key}' has no value",
                    "add it or remove the line",
                    "no-value",
                )
            prev = tl.key
            out[tl.key] = tl
        return out

    def same_ids(self, name: str, table: dict[str, TableLine], utts: dict[str, TableLine]):
        """Report ids of ``table`` not in utt2spk, and utt2spk ids missing from ``table``."""
        path = self.dir / name
        for key, tl in table.items():
            if key not in utts:
                self.add(
                    path,
                    tl.lineno,
                    f"utterance '{key}' is not in utt2spk",
                    f"add it to utt2spk or remove the line ({self.fixcmd()} keeps only shared ids)",
                    f"extra-in-{name}",
                )
        for key, tl in utts.items():
            if key not in table:
                self.add(
                    path,
                    None,
                    f"utterance '{key}' (utt2spk line {tl.lineno}) is missing",
                    f"add it, or {self.fixcmd()} to drop utterances not in every table",
                    f"missing-from-{name}",
                )

    # --- the checks -----------------------------------------------------------------

    def run(self) -> list[Problem]:
        if not self.dir.is_dir():
            self.add(
                self.dir,
                None,
                "not a directory",
                "give a Kaldi data directory (wav.scp, text, utt2spk)",
                "dir",
            )
            return self.problems
        for name in ("wav.scp", "utt2spk"):
            if not (self.dir / name).is_file():
                self.add(
                    self.dir / name,
                    None,
                    "file not found",
                    f"a data directory needs {name}",
                    "required",
                )
        wav = self.lines("wav.scp")
        utts = self.lines("utt2spk")
        if wav is None or utts is None:
            return self.problems
        self.check_speakers(utts)
        segs = self.check_segments(utts, wav)
        if segs is None:
            self.same_ids("wav.scp", wav, utts)
        tables = {}
        for name in UTT_TABLES:
            t = self.lines(name, needs_value=name not in ("text", "slots"))
            if t is not None:
                self.same_ids(name, t, utts)
                tables[name] = t
        for p in c_sorted(q.name for q in self.dir.glob("text.*") if q.is_file()):
            t = self.lines(p, needs_value=False)
            self.same_ids(p, t, utts)
            self.check_not_empty(p, t, "translation")
        if "text" in tables:
            self.check_not_empty("text", tables["text"], "transcript")
            if "slots" in tables:
                self.check_slots(tables["text"], tables["slots"])
        self.check_numbers(tables)
        self.check_ctm(utts, tables.get("text"))
        r2fc = self.check_file_and_channel(wav)
        self.check_files(wav, tables.get("feats.scp"))
        if self.check_audio:
            self.check_audio_files(wav, segs, tables.get("utt2dur"), r2fc)
        return self.problems

    def check_speakers(self, utts: dict[str, TableLine]):
        u2s = self.dir / "utt2spk"
        for key, tl in utts.items():
            if len(tl.value.split()) > 1:
                self.add(
                    u2s,
                    tl.lineno,
                    f"'{key}' has more than one speaker id",
                    "give one speaker per utterance",
                    "utt2spk-format",
                )
        spk_of = {u: tl.value.split()[0] for u, tl in utts.items() if tl.value}
        by_utt = c_sorted(spk_of)
        by_spk = sorted(spk_of, key=lambda u: (c_key(spk_of[u]), c_key(u)))
        if by_utt != by_spk:
            bad = next(u for u, v in zip(by_utt, by_spk, strict=True) if u != v)
            self.add(
                u2s,
                utts[bad].lineno,
                f"speakers do not sort consistently with utterances (at '{bad}', speaker '{spk_of[bad]}')",
                "fix this by making speaker-ids prefixes of utt-ids (e.g. utt id '<spk>-<rest>')",
                "speaker-order",
            )
        expected: dict[str, list[str]] = {}
        for u in by_utt:
            expected.setdefault(spk_of[u], []).append(u)
        s2u_path = self.dir / "spk2utt"
        s2u = self.lines("spk2utt")
        if s2u is None:
            self.add(
                s2u_path,
                None,
                "file not found",
                f"create it from utt2spk: {self.fixcmd()}",
                "required",
            )
            return
        for spk, tl in s2u.items():
            if spk not in expected:
                self.add(
                    s2u_path,
                    tl.lineno,
                    f"speaker '{spk}' has no utterance in utt2spk",
                    self.fixcmd(),
                    "spk2utt",
                )
            elif tl.value.split() != expected[spk]:
                self.add(
                    s2u_path,
                    tl.lineno,
                    f"utterances of speaker '{spk}' differ from utt2spk (or are not in C order)",
                    f"rebuild spk2utt from utt2spk: {self.fixcmd()}",
                    "spk2utt",
                )
        for spk in expected:
            if spk not in s2u:
                self.add(
                    s2u_path,
                    None,
                    f"speaker '{spk}' of utt2spk is missing",
                    f"rebuild spk2utt: {self.fixcmd()}",
                    "spk2utt",
                )

    def check_segments(self, utts, wav) -> dict | None:
        """Check segments; returns ``{utt: (Segment, lineno)}`` or None without segments."""
        lines = self.lines("segments")
        if lines is None:
            return None
        path = self.dir / "segments"
        self.same_ids("segments", lines, utts)
        segs = {}
        used = set()
        for utt, tl in lines.items():
            try:
                seg = parse_segment(path, tl.lineno, utt, tl.value)
            except TableError as e:
                self.add(e.path, e.line, e.what, e.fix, "segment-format")
                continue
            used.add(seg.reco)
            if seg.reco not in wav:
                self.add(
                    path,
                    tl.lineno,
                    f"recording '{seg.reco}' of '{utt}' is not in wav.scp",
                    f"add it to wav.scp or {self.fixcmd()}",
                    "segment-reco",
                )
            if seg.start_s < 0 or seg.end_s <= seg.start_s:
                self.add(
                    path,
                    tl.lineno,
                    f"bad times for '{utt}': start {seg.start_s:.3f} s, end {seg.end_s:.3f} s",
                    "times must satisfy 0 <= start < end; fix or remove the line",
                    "segment-times",
                )
            segs[utt] = (seg, tl.lineno)
        for reco, tl in wav.items():
            if reco not in used:
                self.add(
                    self.dir / "wav.scp",
                    tl.lineno,
                    f"recording '{reco}' is used by no segment",
                    f"remove the line or {self.fixcmd()}",
                    "unused-recording",
                )
        return segs

    def check_not_empty(self, name, table, what):
        for key, tl in table.items():
            if not tl.value.strip():
                self.add(
                    self.dir / name,
                    tl.lineno,
                    f"empty {what} for '{key}'",
                    f"write the {what}, or {self.fixcmd()} to drop it",
                    f"empty-{name}",
                )

    def check_slots(self, text, slots):
        path = self.dir / "slots"
        for utt, tl in slots.items():
            tags = tl.value.split()
            if utt in text and len(tags) != len(text[utt].value.split()):
                n = len(text[utt].value.split())
                self.add(
                    path,
                    tl.lineno,
                    f"'{utt}' has {len(tags)} tags but text has {n} words",
                    "give one BIO tag per word",
                    "slot-count",
                )
            bad = [t for t in tags if not SLOT_TAG.match(t)]
            if bad:
                self.add(
                    path,
                    tl.lineno,
                    f"'{utt}' has tag '{bad[0]}', not O, B-<slot> or I-<slot>",
                    "use BIO tags",
                    "slot-tag",
                )

    def check_numbers(self, tables):
        for name, kind in (("utt2dur", float), ("utt2num_frames", int)):
            for key, tl in tables.get(name, {}).items():
                try:
                    ok = kind(tl.value) > 0
                except ValueError:
                    ok = False
                if not ok:
                    what = "a positive number of seconds" if kind is float else "a positive integer"
                    self.add(
                        self.dir / name,
                        tl.lineno,
                        f"value '{tl.value}' of '{key}' is not {what}",
                        "fix the line",
                        f"{name}-value",
                    )

    def check_ctm(self, utts, text):
        path = self.dir / "ctm"
        if not path.is_file():
            return
        try:
            entries = read_ctm(path)
        except TableError as e:
            self.add(e.path, e.line, e.what, e.fix, "ctm-format")
            return
        seen = set()
        for e in entries:
            if e.utt not in utts and e.utt not in seen:
                self.add(
                    path,
                    None,
                    f"utterance '{e.utt}' is not in utt2spk",
                    f"remove its lines or {self.fixcmd()}",
                    "extra-in-ctm",
                )
            if e.dur_s < 0 or e.start_s < 0:
                self.add(
                    path,
                    None,
                    f"word '{e.word}' of '{e.utt}' has negative time",
                    "fix the timings",
                    "ctm-times",
                )
            seen.add(e.utt)
        for utt in utts:
            if utt not in seen and (text is None or (utt in text and text[utt].value.strip())):
                self.add(
                    path,
                    None,
                    f"utterance '{utt}' has no word timings",
                    "re-run the alignment, or remove the utterance",
                    "missing-from-ctm",
                )

    def check_file_and_channel(self, wav) -> dict[str, FileAndChannel]:
        """Check reco2file_and_channel; returns ``{reco: FileAndChannel}`` ({} without it)."""
        lines = self.lines("reco2file_and_channel")
        if lines is None:
            return {}
        path = self.dir / "reco2file_and_channel"
        out = {}
        for reco, tl in lines.items():
            try:
                out[reco] = parse_file_and_channel(path, tl.lineno, reco, tl.value)
            except TableError as e:
                self.add(e.path, e.line, e.what, e.fix, "reco2file_and_channel-format")
                continue
            if reco not in wav:
                self.add(
                    path,
                    tl.lineno,
                    f"recording '{reco}' is not in wav.scp",
                    f"remove the line or {self.fixcmd()}",
                    "extra-in-reco2file_and_channel",
                )
        for reco, tl in wav.items():
            if reco not in lines:
                self.add(
                    path,
                    None,
                    f"recording '{reco}' (wav.scp line {tl.lineno}) is missing",
                    "give every recording of wav.scp its file and channel (A or 1 = the first)",
                    "missing-from-reco2file_and_channel",
                )
        return out

    def check_files(self, wav, feats):
        wav_path = self.dir / "wav.scp"
        refused = pipes_refused()
        for key, tl in wav.items():
            spec = tl.value.strip()
            if refused and is_pipe(spec):
                self.add(
                    wav_path,
                    tl.lineno,
                    f"recording '{key}' is a pipe, '{spec}': pipes run shell commands and are "
                    f"refused (--no-pipes or {NO_PIPES_ENV}=1)",
                    PIPES_FIX,
                    "pipe",
                )
            if spec and not spec.endswith("|") and not Path(spec).is_file():
                self.add(
                    wav_path,
                    tl.lineno,
                    f"audio file {spec} of '{key}' not found",
                    "fix the path or restore the file",
                    "missing-audio",
                )
        if feats:
            seen: dict[str, bool] = {}
            for key, tl in feats.items():
                ark = re.sub(r"(:\d+)?(\[[^\]]*\])?$", "", tl.value.strip())
                if ark not in seen:
                    seen[ark] = Path(ark).is_file()
                    if not seen[ark]:
                        self.add(
                            self.dir / "feats.scp",
                            tl.lineno,
                            f"archive {ark} of '{key}' not found",
                            "recompute the features (speechseq compute-feats)",
                            "missing-ark",
                        )

    def check_channels(self, decoded, r2fc: dict[str, FileAndChannel]):
        """Each recording has the channel it will be read from; notes on multi-channel ones.

        ``decoded``: ``(reco, wav.scp line, number of channels)`` of the recordings that decode.
        """
        wav_path = self.dir / "wav.scp"
        r2fc_path = self.dir / "reco2file_and_channel"
        by_option: list[tuple[str, int]] = []  # multi-channel recordings read as --channel says
        by_table: list[tuple[str, int]] = []  # ... read as reco2file_and_channel says
        one_channel: list[str] = []  # one-channel recordings reco2file_and_channel calls B, C...
        for key, tl, n in decoded:
            fc = r2fc.get(key)
            if fc is not None:
                if n == 1 and fc.index > 0:
                    one_channel.append(key)
                elif n > 1 and fc.index >= n:
                    self.add(
                        r2fc_path,
                        fc.lineno,
                        f"recording '{key}' is channel {fc.label} here, but its audio "
                        f"({tl.value.strip()}) has {n} channels",
                        "fix the line (A or 1 is the first channel, B or 2 the second)",
                        "channel",
                    )
                elif n > 1:
                    by_table.append((key, n))
            elif isinstance(self.channel, int) and self.channel >= n:
                self.add(
                    wav_path,
                    tl.lineno,
                    f"recording '{key}' has {n} channel(s), so channel {self.channel} "
                    f"(--channel {self.channel}) does not exist",
                    f"give --channel {'0' if n == 1 else f'0 to {n - 1}'}, or --channel mix "
                    f"(the average of the channels)",
                    "channel",
                )
            elif n > 1:
                by_option.append((key, n))
        if by_option:
            key, n = by_option[0]
            how = (
                "the average of their channels (--channel mix)"
                if self.channel == MIX
                else f"channel {self.channel} (--channel {self.channel})"
            )
            self.add(
                wav_path,
                None,
                f"{len(by_option)} recording(s) have more than one channel (e.g. '{key}': "
                f"{n} channels)",
                f"they are read as {how}; to choose, give --channel N (0 = the first) or "
                f"mix, or list them in reco2file_and_channel",
                "multi-channel",
                note=True,
            )
        if by_table:
            key, n = by_table[0]
            fc = r2fc[key]
            self.add(
                wav_path,
                None,
                f"{len(by_table)} recording(s) have more than one channel (e.g. '{key}': "
                f"{n} channels)",
                f"each is read as the channel reco2file_and_channel names (e.g. '{key}': "
                f"{fc.label}, channel index {fc.index})",
                "multi-channel",
                note=True,
            )
        if one_channel:
            fc = r2fc[one_channel[0]]
            self.add(
                r2fc_path,
                None,
                f"{len(one_channel)} recording(s) are one-channel audio though named channel "
                f"{fc.label} or later here (e.g. '{one_channel[0]}', line {fc.lineno})",
                "they are read as they are: their wav.scp entries are taken to pick the "
                "channel themselves (as sph2pipe -c 2 does)",
                "one-channel",
                note=True,
            )

    def check_audio_files(self, wav, segs, utt2dur, r2fc: dict[str, FileAndChannel]):
        wav_path = self.dir / "wav.scp"

        def decode(item):
            key, tl = item
            try:
                x, sr = read_audio_channels(tl.value, what=f"recording '{key}'")
                return key, tl, sr, x.shape[0] / sr, x.shape[1], None
            except SpeechseqError as e:
                return key, tl, None, None, 0, str(e)

        refused = pipes_refused()
        items = [
            (k, tl)
            for k, tl in wav.items()
            if (is_pipe(tl.value) and not refused) or Path(tl.value.strip()).is_file()
        ]
        with ThreadPoolExecutor(max_workers=max(1, self.num_jobs)) as pool:
            results = list(pool.map(decode, items))
        self.check_channels(
            [(key, tl, n) for key, tl, _, _, n, err in results if err is None], r2fc
        )
        rates: Counter = Counter()
        dur_of: dict[str, float] = {}
        first_of_rate: dict[int, str] = {}
        for key, tl, sr, dur, _, err in results:
            if err is not None:
                self.add(
                    wav_path,
                    tl.lineno,
                    err.split(" — ")[0],
                    "re-create the file, or remove the recording",
                    "bad-audio",
                )
                continue
            rates[sr] += 1
            first_of_rate.setdefault(sr, key)
            dur_of[key] = dur
        if len(rates) > 1:
            desc = ", ".join(
                f"{n} at {sr} Hz (e.g. '{first_of_rate[sr]}')" for sr, n in rates.most_common()
            )
            self.add(
                wav_path,
                None,
                f"sample rates differ: {desc}",
                "speechseq resamples when it reads; for Kaldi tools resample the files to one rate",
                "sample-rate",
                warning=True,
            )
        if segs is not None:
            for utt, (seg, lineno) in segs.items():
                rdur = dur_of.get(seg.reco)
                if rdur is not None and seg.end_s > rdur + SEGMENT_TOLERANCE_S:
                    self.add(
                        self.dir / "segments",
                        lineno,
                        f"segment '{utt}' ends at {seg.end_s:.3f} s, past the end of recording '{seg.reco}' ({rdur:.3f} s)",
                        "fix the end time or remove the segment",
                        "segment-past-end",
                    )
        if utt2dur:
            for utt, tl in utt2dur.items():
                if segs is not None:
                    actual = segs[utt][0].end_s - segs[utt][0].start_s if utt in segs else None
                else:
                    actual = dur_of.get(utt)
                try:
                    claimed = float(tl.value)
                except ValueError:
                    continue
                if actual is not None and abs(actual - claimed) > DURATION_TOLERANCE_S:
                    self.add(
                        self.dir / "utt2dur",
                        tl.lineno,
                        f"'{utt}' is {claimed:.3f} s here but its audio is {actual:.3f} s",
                        "recompute utt2dur (delete it and re-run the preparation)",
                        "utt2dur-mismatch",
                    )


def validate_data_dir(
    path: str | os.PathLike, check_audio: bool = True, num_jobs: int = 1, channel: Channel = MIX
) -> list[Problem]:
    """Every problem found in the data directory ``path`` (no :attr:`Problem.is_error` one:
    it is valid; warnings and notes may remain).

    ``check_audio=False`` skips decoding audio (file existence is still checked);
    ``num_jobs`` threads decode audio in parallel; ``channel`` is how multi-channel
    recordings that reco2file_and_channel does not list will be read (an index, or
    ``"mix"``), checked against each recording's channel count.
    """
    return _Checker(Path(path), check_audio, num_jobs, parse_channel(channel)).run()


def data_dir_stats(path: str | os.PathLike) -> DirStats:
    """Utterance and speaker counts and total hours of a (valid) data directory."""
    d = DataDir(path)
    utt2spk = d.utt2spk
    hours = None
    if d.has("utt2dur"):
        hours = sum(d.utt2dur.values()) / 3600
    elif d.segments is not None:
        hours = sum(s.end_s - s.start_s for s in d.segments.values()) / 3600
    elif not any(v.strip().endswith("|") for v in d.wav_scp.values()):
        hours = sum(audio_duration(v, what=k) for k, v in d.wav_scp.items()) / 3600
    return DirStats(len(utt2spk), len(set(utt2spk.values())), hours)
