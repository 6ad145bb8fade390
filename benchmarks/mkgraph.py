"""Time to build the hybrid's decoding graph (HCLG) for the commands 3-gram, as mkgraph does.

    python benchmarks/mkgraph.py [--num-utts 10000] [--order 3] [--seed 0] [--tree EXP/tree.json]

The training sentences of the synth ``commands`` corpus at the recipe's full size are planned
(texts only, no audio: the graph depends on the words, not the speech); the lang dir comes
from CMUdict for those words (words CMUdict lacks are spelled, and counted), the LM is the
word n-gram ``speechseq lm train --order 3`` makes, and HCLG is composed, determinized,
minimized and given its self-loops by :func:`speechseq.hybrid.graph.make_hclg`, the code
``speechseq mkgraph`` runs (with the topology's default transition probabilities, which do
not change the graph's size). With ``--tree`` (the tree.json of a triphone model trained on
the same corpus's speech, ``train-hybrid --tri-leaves N``) C is composed in and H built over its
context windows, as for that model; without it, monophone. Prints each step's wall time and the
graph's size; the issue's target is under a minute on one core for the whole graph.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from speechseq.errors import SpeechseqError
from speechseq.hybrid.graph import g_from_arpa, make_hclg
from speechseq.hybrid.lang import Lang, LangOptions, prepare_lang
from speechseq.hybrid.topo import TransitionModel
from speechseq.hybrid.tree import ContextTree
from speechseq.lm.ngram import train_ngram
from speechseq.synth.corpus import plan_corpus
from speechseq.text.lexicon import Lexicon


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--num-utts", type=int, default=10000)
    ap.add_argument("--order", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tree", help="a triphone model's tree.json (default: monophone)")
    args = ap.parse_args()
    plan = plan_corpus("commands", args.num_utts, args.seed)
    sentences = [list(u.words) for u in plan.sets["train"]]
    words = sorted({w for s in sentences for w in s})
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        lex = Lexicon.from_cmudict()
        spelled = [w for w in words if not lex.pronunciations(w)]
        prepare_lang(lex, Path(tmp) / "lang", words, "", True, LangOptions())
        lang = Lang(Path(tmp) / "lang")
        try:
            tree = ContextTree.load(lang.topo, args.tree) if args.tree else None
        except SpeechseqError as e:  # a tree of another lang's phones: one line, exit 1
            raise SystemExit(f"error: {e}") from None
        t1 = time.perf_counter()
        lm = train_ngram(sentences, order=args.order)
        t2 = time.perf_counter()
        g = g_from_arpa(lm, lang, f"{args.order}-gram")
        t3 = time.perf_counter()
        hclg = make_hclg(lang, g, TransitionModel(tree or lang.topo), tree)
        t4 = time.perf_counter()
    arcs = sum(hclg.num_arcs(s) for s in range(hclg.num_states))
    print(
        f"commands corpus, {args.num_utts} utterances: {len(sentences)} training sentences, "
        f"{len(words)} words ({len(spelled)} spelled: not in CMUdict), "
        + (
            f"{tree.num_pdfs} tied triphone pdfs ({args.tree})"
            if tree
            else f"{lang.topo.num_pdfs} pdfs"
        )
    )
    print(f"{'step':<34} {'seconds':>8}")
    print(f"{'lang dir (CMUdict, L.fst)':<34} {t1 - t0:8.2f}")
    print(f"{f'{args.order}-gram LM (modified KN)':<34} {t2 - t1:8.2f}")
    print(f"{'G from the LM':<34} {t3 - t2:8.2f}")
    print(f"{'HCLG (mkgraph)':<34} {t4 - t3:8.2f}")
    print(f"G: {g.num_states} states; HCLG: {hclg.num_states} states, {arcs} arcs")
    print(f"mkgraph (G + HCLG): {t4 - t2:.2f} s")


if __name__ == "__main__":
    main()
