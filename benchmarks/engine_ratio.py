"""The leave-one-engine-out ratio with its bootstrap interval: how sure is "within 2x"?

    python benchmarks/engine_ratio.py --a DECODE [DECODE ...] --b DECODE [DECODE ...]
        [--names espeak piper] [--target 2] [--samples 10000] [--seed 0]

``--a``: decode dirs of one test set (e.g. espeak's held-out voices), one per training seed of
the same model; ``--b``: the same models' decodes of the other set (Piper's speakers). Prints
each set's WER pooled over its decodes (errors and words summed) with a 95% bootstrap interval
(utterances resampled with replacement, as Kaldi's ``compute-wer-bootci``), the ratio b / a with
its interval, and with ``--target`` the share of replicates whose ratio is at most the target
(``speechseq.metrics.bootstrap``). A missing or malformed ``per_utt`` is one error line, exit 1.
"""

from __future__ import annotations

import argparse

from speechseq.errors import SpeechseqError
from speechseq.metrics.bootstrap import wer_ratio


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--a", nargs="+", required=True, help="decode dirs of the first test set")
    ap.add_argument("--b", nargs="+", required=True, help="decode dirs of the second test set")
    ap.add_argument(
        "--names",
        nargs=2,
        default=["a", "b"],
        metavar=("A", "B"),
        help="the two sets' names in the output",
    )
    ap.add_argument("--target", type=float, default=None, help="ratio to test against (e.g. 2)")
    ap.add_argument(
        "--samples", type=int, default=10000, help="bootstrap replicates (at least 100)"
    )
    ap.add_argument("--seed", type=int, default=0, help="random seed of the resampling")
    args = ap.parse_args(argv)
    a = [f"{d}/per_utt" for d in args.a]
    b = [f"{d}/per_utt" for d in args.b]
    try:
        r = wer_ratio(a, b, args.samples, args.seed, args.target)
    except SpeechseqError as e:  # a missing or malformed per_utt: one line, exit 1
        raise SystemExit(f"error: {e}") from None
    print(
        f"{'set':<10} {'decodes':>7} {'utts':>5} {'%WER':>7}  95% interval ({args.samples} resamples)"
    )
    sets = ((args.names[0], a, r.wer_a, r.utts[0]), (args.names[1], b, r.wer_b, r.utts[1]))
    for name, paths, w, utts in sets:
        print(f"{name:<10} {len(paths):>7} {utts:>5} {w.value:>7.2f}  [{w.low:.2f}, {w.high:.2f}]")
    line = f"ratio {args.names[1]} / {args.names[0]}: {r.ratio.value:.2f}x  [{r.ratio.low:.2f}, {r.ratio.high:.2f}]"
    if r.p_at_most is not None:
        line += f"; P(ratio <= {args.target:g}) = {r.p_at_most:.2f}"
    print(line)


if __name__ == "__main__":
    main()
