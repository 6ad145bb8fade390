"""Word-boundary error of forced alignments against reference word timings (a synth corpus's ctm).

    python benchmarks/word_boundaries.py REF.ctm HYP.ctm [HYP2.ctm ...]

For every utterance whose aligned words equal the reference words, the absolute differences
of each word's start and end times; prints per hypothesis CTM the utterances compared, the
mean and median start / end error in ms, and the share of boundaries within 50 ms.
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np

from speechseq.data.kaldi_dir import read_ctm


def by_utt(path):
    out = defaultdict(list)
    for e in read_ctm(path):
        out[e.utt].append(e)
    return {u: sorted(es, key=lambda e: e.start_s) for u, es in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ref")
    ap.add_argument("hyps", nargs="+")
    args = ap.parse_args()
    ref = by_utt(args.ref)
    print(
        f"{'ctm':<40} {'utts':>5} {'start mean/median ms':>22} {'end mean/median ms':>20} {'<=50ms':>7}"
    )
    for path in args.hyps:
        hyp = by_utt(path)
        starts, ends, n = [], [], 0
        for u, hs in hyp.items():
            rs = ref.get(u)
            if rs is None or [e.word for e in rs] != [e.word for e in hs]:
                continue
            n += 1
            starts += [abs(h.start_s - r.start_s) for h, r in zip(hs, rs, strict=True)]
            ends += [abs(h.end_s - r.end_s) for h, r in zip(hs, rs, strict=True)]
        s, e = 1000 * np.array(starts), 1000 * np.array(ends)
        within = np.mean(np.concatenate([s, e]) <= 50) * 100 if n else 0.0
        print(
            f"{path:<40} {n:>5} {s.mean():>10.1f} / {np.median(s):>6.1f} "
            f"{e.mean():>10.1f} / {np.median(e):>6.1f} {within:>6.1f}%"
        )


if __name__ == "__main__":
    main()
