"""eval-std (no DTW) with the queries cut another way than eval-std's 30 dB trim: at their own
ctm word times (MODE exact: the best any query cut could do), or trimmed at another level (db20).
A diagnostic, not a method: it replaces eval-std's trim function for this one run.
python local/query_cut_eval.py INDEX exact|dbN   (run in the recipe dir; prints MAP, P@10, SD-AP)"""

import json
import sys

import speechseq.std.qbe as qbe
from speechseq.data.kaldi_dir import read_ctm
from speechseq.embed.segments import trim_silence

index, mode = sys.argv[1], sys.argv[2]
q = "data/queries"
cuts = [(e.start_s, e.start_s + e.dur_s) for e in read_ctm(q + "/ctm")] if mode == "exact" else None
state = {"k": 0}


def cut(x, sr, top_db=30.0):
    if mode == "exact":
        s, e = cuts[state["k"]]
        state["k"] += 1
        return x[int(s * sr) : int(e * sr)]
    return trim_silence(x, sr, top_db=float(mode[2:]))


qbe.trim_silence = cut
qbe.warm_up = lambda *a, **k: None
res = qbe.evaluate_std(index, q, "data/archive/ctm", with_dtw=False)
print(
    mode,
    index,
    json.dumps(
        {k: round(v, 3) for k, v in res[0].items() if k in ("map", "p_at_10", "same_diff_ap")}
    ),
)
