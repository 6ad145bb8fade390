"""Oracle cuts: what search would gain from cutting the archive where words begin and end.

python local/oracle_cuts.py data/archive/ctm exp/oracle.segments [--sigma 0.02 --drop 0.05 --extra 0.5 --span 2]
then: speechseq embed EXP data/archive --segments segments --ctm exp/oracle.segments --out ...
Boundaries: every word start and end (merged within 30 ms), each moved by N(0, sigma), a share
`drop` removed, `extra` false boundaries per second of speech added; candidate segments are the
spans between boundary i and i+1..i+span, 0.15-1.5 s long.
"""

import argparse
import collections
import random

ap = argparse.ArgumentParser()
ap.add_argument("ctm")
ap.add_argument("out")
ap.add_argument("--sigma", type=float, default=0.02)
ap.add_argument("--drop", type=float, default=0.0)
ap.add_argument("--extra", type=float, default=0.0)
ap.add_argument("--span", type=int, default=2)
ap.add_argument("--seed", type=int, default=0)
a = ap.parse_args()
rng = random.Random(a.seed)
words = collections.defaultdict(list)
for line in open(a.ctm):
    u, _, s, d, w = line.split()[:5]
    words[u].append((float(s), float(s) + float(d)))
n = 0
with open(a.out, "w") as f:
    for u in sorted(words):
        ws = sorted(words[u])
        b = sorted({round(x, 3) for s, e in ws for x in (s, e)})
        merged = []
        for x in b:
            if merged and x - merged[-1] < 0.03:
                continue
            merged.append(x)
        b = [max(0.0, x + rng.gauss(0, a.sigma)) for x in merged if rng.random() >= a.drop]
        lo, hi = ws[0][0], ws[-1][1]
        b += [rng.uniform(lo, hi) for _ in range(int(a.extra * (hi - lo) + rng.random()))]
        b = sorted(b)
        for i in range(len(b)):
            for j in range(i + 1, min(len(b), i + 1 + a.span)):
                if 0.15 <= b[j] - b[i] <= 1.5:
                    f.write(f"{u}-{n:06d} {u} {b[i]:.3f} {b[j]:.3f}\n")
                    n += 1
print(f"{a.out}: {n} segments")
