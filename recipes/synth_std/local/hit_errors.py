"""Diagnostic: what an eval-std method's top hits are, when they are not the query's word.

  python local/hit_errors.py EVAL_DIR/hits.tsv ARCHIVE_CTM [METHOD] [TOP]

For every query, its hits ranked 1..TOP (default 20) of METHOD (default embed), each put in one
class: right (covers at least half of an occurrence of the query's word not matched by a better
hit: eval-std's rule), an occurrence found before (a duplicate), the right word cut too short
(under half of it), another word (half or more of a word of another text), less than half of every
word it touches (pieces of words, two half words), silence only. Prints the count of each.
"""

import collections
import csv
import sys

from speechseq.data.kaldi_dir import read_ctm
from speechseq.embed.segments import word_cover


def classify(hit: dict, word: str, words: list, used: set) -> str:
    a, b = float(hit["start_s"]), float(hit["end_s"])
    same = [(k, e) for k, e in enumerate(words) if e.word == word]
    for k, e in same:
        if (hit["source"], k) not in used and word_cover(a, b, [e]) >= 0.5:
            used.add((hit["source"], k))
            return "right"
    if any(word_cover(a, b, [e]) >= 0.5 for _, e in same):
        return "an occurrence found before"
    if any(word_cover(a, b, [e]) > 0 for _, e in same):
        return "the right word cut too short"
    cover = word_cover(a, b, words)
    if cover >= 0.5:
        return "another word"
    return "less than half of every word" if cover > 0 else "silence only"


def main(hits_tsv: str, ctm: str, method: str = "embed", top: int = 20) -> None:
    by_source = collections.defaultdict(list)
    for e in read_ctm(ctm):
        by_source[e.utt].append(e)
    by_query = collections.defaultdict(list)
    with open(hits_tsv, encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if row["method"] == method and int(row["rank"]) <= top:
                by_query[row["query"]].append(row)
    counts = collections.Counter()
    for hits in by_query.values():
        used: set = set()
        for h in sorted(hits, key=lambda h: int(h["rank"])):
            counts[classify(h, h["word"], by_source[h["source"]], used)] += 1
    print(f"{method}: hits ranked 1-{top} of {len(by_query)} queries: {sum(counts.values())}")
    for name, n in counts.most_common():
        print(f"  {name:<32} {n:6d}")


if __name__ == "__main__":
    main(
        *sys.argv[1:3], *(sys.argv[3:4] or ["embed"]), *([int(sys.argv[4])] if sys.argv[4:] else [])
    )
