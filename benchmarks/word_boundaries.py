"""Word-boundary error of forced alignments against reference word timings (a synth corpus's ctm).

    python benchmarks/word_boundaries.py REF.ctm HYP.ctm [HYP2.ctm ...] [--speakers DATA]

For every utterance whose aligned words equal the reference words, the absolute differences
of each word's start and end times; prints per hypothesis CTM the utterances compared, the
mean and median start / end error in ms, the mean over all boundaries (starts and ends
together: the figure a "mean word-boundary error" target is read against), and the share of
boundaries within 50 ms.

With ``--speakers DATA`` (the synth data dir of REF: its utt2spk and speakers.tsv) each CTM gets two more rows, its dry and
its reverberant speakers (``reverb_rt60_s`` > 0) apart, with the mean signed end error: the
corpus's word timings come from the dry signal, so a reverberant word's tail lies past its
reference end while still being that word's sound.
"""

from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from pathlib import Path

import numpy as np

from speechseq.data.kaldi_dir import read_ctm, read_table
from speechseq.errors import SpeechseqError


def by_utt(path):
    out = defaultdict(list)
    for e in read_ctm(path):
        out[e.utt].append(e)
    return {u: sorted(es, key=lambda e: e.start_s) for u, es in out.items()}


def reverberant_utts(data: str) -> dict[str, bool]:
    """utt -> whether its speaker's voice is reverberated (speakers.tsv's reverb_rt60_s > 0)."""
    if not (Path(data) / "speakers.tsv").is_file():
        raise SystemExit(f"error: {data}/speakers.tsv not found: --speakers takes a synth data dir")
    with open(Path(data) / "speakers.tsv", newline="") as f:
        rt60 = {r["spk"]: float(r["reverb_rt60_s"]) for r in csv.DictReader(f, delimiter="\t")}
    return {u: rt60[s] > 0 for u, s in read_table(Path(data) / "utt2spk").items()}


def row(name: str, n: int, starts: list[float], ends: list[float], signed: bool = False) -> str:
    """One table line: ``n`` utterances' mean / median absolute start and end errors (ms), the
    mean over both, the share within 50 ms, and with ``signed`` the mean signed end error."""
    if not n:
        return f"{name:<40} {0:>5}"
    s, e = 1000 * np.abs(starts), 1000 * np.abs(ends)
    both = np.concatenate([s, e])
    within = np.mean(both <= 50) * 100
    line = (
        f"{name:<40} {n:>5} {s.mean():>10.1f} / {np.median(s):>6.1f} "
        f"{e.mean():>10.1f} / {np.median(e):>6.1f} {both.mean():>9.1f} {within:>6.1f}%"
    )
    return line + (f"   end signed {1000 * np.mean(ends):+.1f}" if signed else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ref")
    ap.add_argument("hyps", nargs="+")
    ap.add_argument(
        "--speakers", metavar="DATA", help="REF's synth data dir: dry and reverberant apart"
    )
    args = ap.parse_args()
    ref = by_utt(args.ref)
    reverb = reverberant_utts(args.speakers) if args.speakers else None
    print(
        f"{'ctm':<40} {'utts':>5} {'start mean/median ms':>22} {'end mean/median ms':>20} "
        f"{'both mean':>9} {'<=50ms':>7}"
    )
    for path in args.hyps:
        hyp = by_utt(path)
        groups = defaultdict(lambda: ([], [], []))  # group -> (utts, start errors, end errors)
        for u, hs in hyp.items():
            rs = ref.get(u)
            if rs is None or [e.word for e in rs] != [e.word for e in hs]:
                continue
            keys = ["all"]
            if reverb is not None:
                keys.append("reverberant" if reverb[u] else "dry")
            for k in keys:
                utts, starts, ends = groups[k]
                utts.append(u)
                starts += [h.start_s - r.start_s for h, r in zip(hs, rs, strict=True)]
                ends += [h.end_s - r.end_s for h, r in zip(hs, rs, strict=True)]
        utts, starts, ends = groups["all"]
        print(row(path, len(utts), starts, ends))
        for k in ("dry", "reverberant") if reverb is not None else ():
            utts, starts, ends = groups[k]
            print(row(f"  {k} speakers", len(utts), starts, ends, signed=True))


if __name__ == "__main__":
    try:
        main()
    except SpeechseqError as e:  # a missing or malformed CTM: one line, exit 1
        raise SystemExit(f"error: {e}") from None
