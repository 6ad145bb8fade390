"""Speakers: one fixed espeak-ng voice setting plus a fixed perturbation each.

A speaker is an English accent (espeak-ng-data/lang/gmw), a voice variant (+m3, +f2,
+klatt, named community variants), rate, pitch, pitch range and word gap, followed by
speed perturbation (resampling: moves pitch and formants together, like a different vocal
tract), a channel tilt, optional reverberation and additive noise at a fixed SNR.

Train, dev and test speakers use disjoint (accent, variant) pairs, so held-out speakers
are new voices, not new settings of a voice seen in training.
"""

from __future__ import annotations

import itertools
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


def make_speakers(seed: int, counts: dict[str, int]) -> dict[str, list[Speaker]]:
    """Speakers per split (``{"train": 48, "dev": 8, ...}``), deterministic for ``seed``.

    Each speaker gets its own (accent, variant) pair, so no voice is shared between
    splits; the held-out splits are drawn first so they do not change with the number of
    train speakers. Ids are ``<split prefix><number>`` (tr000, dv000, te000; other split
    names use their first two letters).
    """
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
