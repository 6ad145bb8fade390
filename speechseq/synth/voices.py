"""Speakers: one fixed espeak-ng voice setting plus a fixed perturbation each.

A speaker is an English accent (espeak-ng-data/lang/gmw), a voice variant (+m3, +f2,
+klatt, named community variants), rate, pitch, pitch range and word gap, followed by
speed perturbation (resampling: moves pitch and formants together, like a different vocal
tract), a channel tilt, optional reverberation and additive noise at a fixed SNR.

Train, dev and test speakers use disjoint (accent, variant) pairs, so held-out speakers
are new voices, not new settings of a voice seen in training.

A Piper speaker (``engine="piper"``, ids ``p<split prefix><number>``) is the one neural voice
of :mod:`speechseq.synth.piper` made into a speaker by a vocal tract length perturbation
factor and a pitch shift (drawn together, so a shorter vocal tract goes with a higher voice),
followed by the same channel, reverberation and noise draws as an espeak speaker. Its held-out
speakers are new (VTLP, pitch, channel) settings of that voice: no second neural voice ships.
With ``engine="mix"`` every other speaker of a split (the odd ones) is a Piper speaker and the
even ones are the espeak speakers the same seed gives for ``engine="espeak"``.
"""

from __future__ import annotations

import itertools
import zlib
from dataclasses import asdict, dataclass

import numpy as np

from speechseq.errors import UsageError
from speechseq.synth.espeak import Voice

ACCENTS = (
    "en-us",
    "en",  # en-gb
    "en-gb-scotland",
    "en-gb-x-rp",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-029",
    "en-us-nyc",
)
# espeak-ng-data/voices/!v variants that sound like a person (robots, whispers and croaks left out)
VARIANTS = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8",
    "f1", "f2", "f3", "f4", "f5",
    "klatt", "klatt2", "klatt3", "klatt4", "klatt5", "klatt6",
    "Alex", "Alicia", "Andrea", "Andy", "Annie", "Denis", "Diogo", "Gene", "Henrique", "Hugo",
    "Jacky", "Lee", "Mario", "Michael", "Mike", "Nguyen", "Reed",
    "adam", "anika", "antonio", "aunty", "belinda", "benjamin", "boris", "caleb", "david",
    "ed", "edward", "grandma", "grandpa", "gustave", "ian", "iven", "iven2", "john", "linda",
    "marcelo", "max", "michel", "miguel", "norbert", "pablo", "paul", "pedro", "quincy",
    "rob", "robert", "sandro", "shelby", "steph", "steph2", "travis", "victor", "zac",
)  # fmt: skip
NOISE_TYPES = ("white", "pink", "brown", "babble")
SPLIT_PREFIX = {"train": "tr", "dev": "dv", "test": "te"}
ENGINES = ("espeak", "piper", "mix")  # mix: each speaker one engine, half and half
PIPER_VOICE = ("en_US", "joe-medium")  # (accent, variant) columns of a Piper speaker


@dataclass(frozen=True)
class Speaker:
    spk: str  # speaker id, e.g. tr007
    accent: str  # espeak-ng language, e.g. en-gb-scotland
    variant: str  # espeak-ng variant, e.g. m3
    rate_wpm: int  # espeak speaking rate, words per minute
    pitch: int  # espeak base pitch 0..100
    pitch_range: int  # espeak intonation range 0..100
    word_gap_10ms: int  # extra pause between words, 10 ms units
    speed: float  # resampling speed factor (>1 faster and higher)
    tilt: float  # first-order channel filter coefficient (-: brighter, +: duller)
    reverb_rt60_s: float  # reverberation time in seconds (0: dry)
    noise: str  # one of NOISE_TYPES
    snr_db: float  # speech-to-noise ratio in dB
    engine: str = "espeak"  # the synthesizer: espeak | piper (espeak-only fields are 0 for piper)
    vtlp: float = 1.0  # vocal tract length perturbation factor (>1: shorter tract, higher formants)
    pitch_shift_st: float = 0.0  # pitch shift in semitones, tempo kept

    @property
    def voice(self) -> Voice:
        return Voice(
            f"{self.accent}+{self.variant}",
            self.rate_wpm,
            self.pitch,
            self.pitch_range,
            self.word_gap_10ms,
        )

    def row(self) -> dict:
        return asdict(self)


def _draw(rng: np.random.Generator, spk: str, accent: str, variant: str) -> Speaker:
    return Speaker(
        spk=spk,
        accent=accent,
        variant=variant,
        rate_wpm=int(rng.integers(130, 231)),
        pitch=int(rng.integers(25, 76)),
        pitch_range=int(rng.integers(15, 91)),
        word_gap_10ms=int(rng.choice([0, 0, 0, 1, 2, 4])),
        speed=round(float(rng.uniform(0.85, 1.15)), 3),
        tilt=round(float(rng.uniform(-0.6, 0.8)), 3),
        reverb_rt60_s=round(float(rng.uniform(0.15, 0.6)), 3) if rng.random() < 0.35 else 0.0,
        noise=str(rng.choice(NOISE_TYPES)),
        snr_db=round(float(rng.uniform(12.0, 40.0)), 1),
    )


def _draw_piper(seed: int, split: str, i: int) -> Speaker:
    """Piper speaker ``i`` of ``split``: its own VTLP factor, pitch shift and channel."""
    rng = np.random.default_rng([seed, 7003, zlib.crc32(split.encode()), i])
    g = rng.uniform(0.0, 1.0)  # 0: longest vocal tract and lowest voice .. 1: shortest, highest
    vtlp = float(np.clip(0.88 + 0.24 * g + rng.normal(0.0, 0.03), 0.85, 1.15))
    pitch_st = float(np.clip(-3.0 + 10.0 * g + rng.normal(0.0, 1.0), -4.0, 8.0))
    prefix = SPLIT_PREFIX.get(split, split[:2])
    return Speaker(
        spk=f"p{prefix}{i:03d}",
        accent=PIPER_VOICE[0],
        variant=PIPER_VOICE[1],
        rate_wpm=0,  # the rate varies per utterance (VITS length scale)
        pitch=0,
        pitch_range=0,
        word_gap_10ms=0,
        speed=1.0,
        tilt=round(float(rng.uniform(-0.6, 0.8)), 3),
        reverb_rt60_s=round(float(rng.uniform(0.15, 0.6)), 3) if rng.random() < 0.35 else 0.0,
        noise=str(rng.choice(NOISE_TYPES)),
        snr_db=round(float(rng.uniform(12.0, 40.0)), 1),
        engine="piper",
        vtlp=round(vtlp, 3),
        pitch_shift_st=round(pitch_st, 2),
    )


def make_speakers(
    seed: int, counts: dict[str, int], engine: str = "espeak"
) -> dict[str, list[Speaker]]:
    """Speakers per split (``{"train": 48, "dev": 8, ...}``), deterministic for ``seed``.

    Each espeak speaker gets its own (accent, variant) pair, so no voice is shared between
    splits; the held-out splits are drawn first so they do not change with the number of
    train speakers. Ids are ``<split prefix><number>`` (tr000, dv000, te000; other split
    names use their first two letters), ``p`` before them for Piper speakers (ptr000), so
    corpora of the two engines can be combined. ``engine``: see the module docstring.
    """
    if engine not in ENGINES:
        raise UsageError(f"unknown engine '{engine}' — choose one of: {', '.join(ENGINES)}")
    if engine == "piper":
        return {s: [_draw_piper(seed, s, i) for i in range(n)] for s, n in counts.items()}
    espeak = _make_espeak_speakers(seed, counts)
    if engine == "espeak":
        return espeak
    return {
        s: [spk if i % 2 == 0 else _draw_piper(seed, s, i) for i, spk in enumerate(spks)]
        for s, spks in espeak.items()
    }


def _make_espeak_speakers(seed: int, counts: dict[str, int]) -> dict[str, list[Speaker]]:
    pairs = list(itertools.product(ACCENTS, VARIANTS))
    rng = np.random.default_rng([seed, 7001])
    order = rng.permutation(len(pairs))
    if sum(counts.values()) > len(pairs):
        raise UsageError(
            f"{sum(counts.values())} speakers asked for, but there are {len(pairs)} distinct "
            f"(accent, variant) voices — ask for fewer speakers (--num-speakers, --num-heldout-speakers)"
        )
    held = [s for s in counts if s != "train"] + (["train"] if "train" in counts else [])
    out: dict[str, list[Speaker]] = {}
    k = 0
    for split in held:
        prefix = SPLIT_PREFIX.get(split, split[:2])
        out[split] = []
        for i in range(counts[split]):
            accent, variant = pairs[order[k]]
            k += 1
            srng = np.random.default_rng([seed, 7002, int(order[k - 1])])
            out[split].append(_draw(srng, f"{prefix}{i:03d}", accent, variant))
    return {s: out[s] for s in counts}
