"""espeak-ng through ctypes: the library and voice data of the ``espeakng-loader`` wheel.

espeak-ng keeps global state and is not thread-safe: use it from one thread per process,
through :func:`synth`, which loads the library afresh for each utterance (see there). Synthesis is synchronous: a callback
collects the int16 samples (22050 Hz) and the word events, whose ``text_position`` (1-based
character offset) ties each event to a word. espeak-ng merges some short words into the
event of the word before ("out of", "in the"); :func:`word_spans` gives such words a share
of the merged span, so every word gets a start and an end.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

import numpy as np

from speechseq.errors import SpeechseqError

AUDIO_OUTPUT_SYNCHRONOUS = 2
POS_CHARACTER = 1
CHARS_UTF8 = 1
EVENT_LIST_TERMINATED = 0
EVENT_WORD = 1
EVENT_END = 5
PARAM = {"rate": 1, "volume": 2, "pitch": 3, "range": 4, "wordgap": 7}


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),  # 1-based character offset in the text
        ("length", ctypes.c_int),  # characters of the word (WORD events)
        ("audio_position", ctypes.c_int),  # ms from the start of the output
        ("sample", ctypes.c_int),  # sample index from the start of the output
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),
    ]


_Callback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


@dataclass(frozen=True)
class Voice:
    """One espeak-ng setting; numbers are espeak's own units."""

    name: str  # voice and variant, e.g. "en-us+m3"
    rate_wpm: int = 175  # words per minute (80..450)
    pitch: int = 50  # base pitch 0..100 (50 = the voice's default)
    pitch_range: int = 50  # intonation range 0..100
    word_gap_10ms: int = 0  # extra pause between words, in 10 ms units


@dataclass(frozen=True)
class Synthesis:
    samples: np.ndarray  # float32 [num_samples] in [-1, 1]
    sample_rate: int  # Hz (22050 for espeak-ng)
    word_events: list[tuple[int, int]]  # (text_position 1-based, start sample) per WORD event
    end_sample: int  # sample index of the END event (length of the speech)


class Espeak:
    """A loaded, initialised espeak-ng library (one per process)."""

    def __init__(self):
        try:
            import espeakng_loader

            lib_path = espeakng_loader.get_library_path()
            data_path = espeakng_loader.get_data_path()
            self._lib = ctypes.CDLL(lib_path)
        except (ImportError, OSError, RuntimeError) as e:
            raise SpeechseqError(
                f"cannot load the espeak-ng library from the espeakng-loader package ({e}) — "
                f"reinstall it: pip install --force-reinstall espeakng-loader"
            ) from None
        lib = self._lib
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        self.sample_rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(), 0)
        if self.sample_rate <= 0:
            raise SpeechseqError(
                f"espeak-ng failed to initialise with its data in {data_path} — "
                f"reinstall espeakng-loader: pip install --force-reinstall espeakng-loader"
            )
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, int]] = []
        self._end = 0
        self._cb = _Callback(self._collect)  # keep a reference: ctypes does not
        lib.espeak_SetSynthCallback(self._cb)

    def _collect(self, wav, num_samples, events) -> int:
        if num_samples > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, (num_samples,)).copy())
        i = 0
        while events[i].type != EVENT_LIST_TERMINATED:
            ev = events[i]
            if ev.type == EVENT_WORD:
                self._events.append((ev.text_position, ev.sample))
            elif ev.type == EVENT_END:
                self._end = ev.sample
            i += 1
        return 0  # 0 = go on

    def set_voice(self, voice: Voice) -> None:
        if self._lib.espeak_SetVoiceByName(voice.name.encode()) != 0:
            raise SpeechseqError(
                f"espeak-ng has no voice '{voice.name}' — use a language from espeak-ng-data/lang "
                f"with an optional +variant (e.g. en-us+m3)"
            )
        for key, value in (
            ("rate", voice.rate_wpm),
            ("pitch", voice.pitch),
            ("range", voice.pitch_range),
            ("wordgap", voice.word_gap_10ms),
        ):
            self._lib.espeak_SetParameter(PARAM[key], int(value), 0)

    def synth(self, text: str, voice: Voice) -> Synthesis:
        """Speak ``text`` (plain UTF-8, no SSML) with ``voice``."""
        self.set_voice(voice)
        self._chunks, self._events, self._end = [], [], 0
        data = text.encode("utf-8")
        rc = self._lib.espeak_Synth(
            data, len(data) + 1, 0, POS_CHARACTER, 0, CHARS_UTF8, None, None
        )
        if rc != 0:
            raise SpeechseqError(f"espeak-ng failed (code {rc}) on the text '{text}' — report this")
        pcm = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        x = pcm.astype(np.float32) / 32768.0
        return Synthesis(x, self.sample_rate, list(self._events), self._end or len(x))


def _libc():
    return ctypes.CDLL(None)


def synth(text: str, voice: Voice, rand_seed: int = 1) -> Synthesis:
    """Speak ``text`` with a freshly loaded espeak-ng, so the result depends on nothing else.

    espeak-ng keeps state between calls in static variables (pitch flutter, wave phase)
    that ``espeak_Terminate`` does not reset, and Klatt voices draw noise from libc
    ``rand()``: the same text would come out different after other text. Loading the library anew for each call
    (dlopen, ``espeak_Initialize``, synthesise, ``espeak_Terminate``, dlclose; about 3 ms)
    makes every utterance depend only on its text and voice, whatever ran before it in the
    process; that is what makes a corpus the same for any ``-j``.
    """
    import _ctypes

    eng = Espeak()
    try:
        eng._lib.espeak_ng_SetRandSeed(ctypes.c_long(rand_seed))
        _libc().srand(ctypes.c_uint(rand_seed))  # Klatt breath noise draws from libc rand()
        return eng.synth(text, voice)
    finally:
        eng._lib.espeak_Terminate()
        _ctypes.dlclose(eng._lib._handle)


def char_starts(spoken: list[str]) -> list[int]:
    """1-based character offset of each word in ``" ".join(spoken)``."""
    starts, pos = [], 1
    for w in spoken:
        starts.append(pos)
        pos += len(w) + 1
    return starts


def word_spans(
    spoken: list[str], events: list[tuple[int, int]], end_sample: int
) -> list[tuple[int, int]]:
    """(start, end) sample of each word of ``" ".join(spoken)`` from espeak's word events.

    An event belongs to the word whose characters hold its text position; a word with no
    event of its own (merged into the one before) shares that event's span, split in
    proportion to the words' lengths in characters. Extra events inside one word (a word
    spoken as several) are ignored.
    """
    starts = char_starts(spoken)
    ends = [s + len(w) for s, w in zip(starts, spoken, strict=True)]
    first_event: dict[int, int] = {}
    for pos, sample in events:
        for i, (s, e) in enumerate(zip(starts, ends, strict=True)):
            if s <= pos < e or (pos == s - 1 and i > 0):  # some events point at the space
                first_event.setdefault(i, sample)
                break
    if 0 not in first_event:
        first_event[0] = 0
    # groups: a word with an event starts a group; the following event-less words join it
    groups: list[list[int]] = []
    for i in range(len(spoken)):
        if i in first_event or not groups:
            groups.append([i])
        else:
            groups[-1].append(i)
    spans: list[tuple[int, int]] = [(0, 0)] * len(spoken)
    for g, members in enumerate(groups):
        g_start = first_event.get(members[0], 0)
        g_end = first_event[groups[g + 1][0]] if g + 1 < len(groups) else end_sample
        g_end = max(g_end, g_start + 1)
        weights = np.array([len(spoken[i]) for i in members], dtype=float)
        cuts = g_start + np.concatenate([[0.0], np.cumsum(weights)]) / weights.sum() * (
            g_end - g_start
        )
        for k, i in enumerate(members):
            spans[i] = (int(round(cuts[k])), int(round(cuts[k + 1])))
    return spans


def trim_spans(
    x: np.ndarray, spans: list[tuple[int, int]], sample_rate: int
) -> list[tuple[int, int]]:
    """Shrink each (start, end) span to the part with speech energy (pauses cut off).

    Frames of 5 ms more than 35 dB below the loudest frame of the utterance are silence.
    A span keeps at least one frame.
    """
    hop = max(1, sample_rate // 200)
    n = len(x) // hop
    if n == 0:
        return spans
    energy = (x[: n * hop].reshape(n, hop) ** 2).mean(axis=1)
    active = energy > energy.max() * 10 ** (-35 / 10)
    out = []
    for s, e in spans:
        f0, f1 = s // hop, max(s // hop + 1, min(n, -(-e // hop)))
        idx = np.flatnonzero(active[f0:f1])
        if len(idx) == 0:
            out.append((s, e))
            continue
        out.append((int(max(s, (f0 + idx[0]) * hop)), int(min(e, (f0 + idx[-1] + 1) * hop))))
    return out
