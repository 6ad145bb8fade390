"""CTC decoding speed on one core: greedy, prefix beam search, and beam search with a word 3-gram LM.

    python benchmarks/decode_ctc.py [--utts 50] [--frames 100] [--units 30] [--beam 10] [--repeats 3]

Decodes ``--utts`` random peaky posteriorgrams of ``--frames`` frames x ``--units`` units
(unit 0 blank, unit 1 the word boundary, the rest letters; each frame puts most of its mass
on one unit, the blank half the time) and prints, for each decoder side by side, the
milliseconds per utterance and the real-time factor (an output frame counts as 30 ms, the
CTC model's 3x-subsampled 10 ms frames: ``--frames 100`` = 3 s of audio). The LM is a
modified Kneser-Ney word 3-gram trained on 2000 random sentences over a 500-word vocabulary
spelled in the same letters. The best of ``--repeats`` passes is reported.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy/torch are imported: one core

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from speechseq.decode.ctc import greedy, prefix_beam_search  # noqa: E402
from speechseq.lm.ngram import train_ngram  # noqa: E402

FRAME_S = 0.03  # seconds of audio per CTC output frame (10 ms frames, 3x subsampled)


def peaky_random(rng: np.random.Generator, frames: int, units: int) -> np.ndarray:
    """log_probs [frames, units]: most mass on one unit per frame, the blank half the time."""
    logits = rng.normal(0.0, 1.0, size=(frames, units))
    labels = np.where(rng.random(frames) < 0.5, 0, rng.integers(1, units, size=frames))
    logits[np.arange(frames), labels] += 6.0
    logits -= logits.max(axis=1, keepdims=True)
    return (logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))).astype(np.float32)


def letters(units: int) -> list[str]:
    """Unit symbols: blank, word boundary, then ``units - 2`` letters."""
    alphabet = [chr(c) for c in range(ord("a"), ord("z") + 1)] + [
        chr(c) for c in range(0xE0, 0x180)
    ]
    return ["<blank>", "|", *alphabet[: units - 2]]


def random_lm(symbols: list[str], seed: int = 0, vocab: int = 500, sentences: int = 2000):
    rng = np.random.default_rng(seed)
    words = ["".join(rng.choice(symbols[2:], size=int(rng.integers(1, 6)))) for _ in range(vocab)]
    corpus = [
        [words[i] for i in rng.integers(0, vocab, size=int(rng.integers(3, 10)))]
        for _ in range(sentences)
    ]
    return train_ngram(corpus, order=3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--utts", type=int, default=50, help="posteriorgrams decoded per pass")
    ap.add_argument("--frames", type=int, default=100, help="CTC output frames per utterance")
    ap.add_argument("--units", type=int, default=30, help="units incl. blank and word boundary")
    ap.add_argument("--beam", type=int, default=10, help="prefix beam width")
    ap.add_argument("--repeats", type=int, default=3, help="passes; the best is reported")
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    utts = [peaky_random(rng, args.frames, args.units) for _ in range(args.utts)]
    symbols = letters(args.units)
    lm = random_lm(symbols)

    def word(ids):
        return "".join(symbols[i] for i in ids)

    runs = {
        "greedy": lambda lp: greedy(lp),
        f"beam {args.beam}": lambda lp: prefix_beam_search(lp, beam=args.beam, word_boundary=1),
        f"beam {args.beam} + 3-gram LM": lambda lp: prefix_beam_search(
            lp, beam=args.beam, word_boundary=1, lm=lm, lm_weight=0.5, units_to_word=word
        ),
    }
    for fn in runs.values():  # warm-up (numba compilation, caches)
        fn(utts[0])
    audio_s = args.frames * FRAME_S
    print(
        f"{args.utts} random peaky posteriorgrams, {args.frames} frames x {args.units} units "
        f"(one core, best of {args.repeats})"
    )
    print(f"{'decoder':<24} {'ms/utt':>8} {'RTF':>9}")
    for name, fn in runs.items():
        best = float("inf")
        for _ in range(args.repeats):
            start = time.perf_counter()
            for lp in utts:
                fn(lp)
            best = min(best, (time.perf_counter() - start) / len(utts))
        print(f"{name:<24} {1000 * best:8.3f} {best / audio_s:9.6f}")


if __name__ == "__main__":
    main()
