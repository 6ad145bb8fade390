"""Diagnostic: how well an embedder does when every word is cut exactly by the ctm.

  python local/ctm_cut_scores.py ARCHIVE_VECS ARCHIVE_CTM QUERY_VECS QUERY_CTM

The VECS directories come from ``speechseq embed EXP DATA --segments ctm`` (one vector per ctm
word). Prints the same-different AP of each set's word vectors (over every pair) and the MAP and
P@10 of each query word vector against the archive's word vectors: the retrieval quality with a
perfect segmentation, to set beside eval-std's figures on sliding windows and trimmed queries;
and the P@10 a perfect ranking would get (a query word with fewer than 10 occurrences caps it).
"""

import csv
import sys

import numpy as np

from speechseq.data.kaldi_dir import read_ctm
from speechseq.metrics.kws import same_different_ap
from speechseq.metrics.retrieval import average_precision, precision_at_k


def load(vecs: str, ctm: str) -> tuple[np.ndarray, np.ndarray]:
    """Vectors ``[N, D]`` and their words (segment ids ``<utt>_w<k>`` name the k-th ctm line of
    the utterance)."""
    words, seen = {}, {}
    for e in read_ctm(ctm):
        k = seen[e.utt] = seen.get(e.utt, -1) + 1
        words[f"{e.utt}_w{k:05d}"] = e.word
    with open(f"{vecs}/segments.tsv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return np.load(f"{vecs}/vectors.npy"), np.array([words[r["segment_id"]] for r in rows])


def sd_ap(v: np.ndarray, labels: np.ndarray) -> float:
    i, j = np.triu_indices(len(labels), k=1)
    return same_different_ap((v @ v.T)[i, j], labels[i] == labels[j])


def main(archive_vecs: str, archive_ctm: str, query_vecs: str, query_ctm: str) -> None:
    a, al = load(archive_vecs, archive_ctm)
    q, ql = load(query_vecs, query_ctm)
    aps, p10, best10 = [], [], []
    for k in range(len(ql)):
        rel = (al[np.argsort(-(a @ q[k]), kind="stable")] == ql[k]).tolist()
        if any(rel):
            aps.append(average_precision(rel, sum(rel)))
            p10.append(precision_at_k(rel, 10))
            best10.append(min(sum(rel), 10) / 10)  # a perfect ranking's P@10
    print(f"archive words: {len(al)} vectors, SD-AP {sd_ap(a, al):.3f}")
    print(f"query words: {len(ql)} vectors, SD-AP {sd_ap(q, ql):.3f}")
    print(
        f"query -> archive words: MAP {np.mean(aps):.3f}  P@10 {np.mean(p10):.3f}  "
        f"({len(aps)} queries whose word the archive holds)"
    )
    print(
        f"P@10 of a perfect ranking: {np.mean(best10):.3f} (query words occur a mean {np.mean([sum(al == w) for w in ql]):.2f} times)"
    )


if __name__ == "__main__":
    main(*sys.argv[1:5])
