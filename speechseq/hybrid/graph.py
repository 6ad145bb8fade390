"""Decoding graphs with kaldifst: H (HMMs), G from an ARPA LM, HCLG as Kaldi's mkgraph.sh.

Label conventions of every graph here: input labels are ``pdf + 1`` (0 is epsilon), the
column + 1 of the per-frame score matrix that :mod:`speechseq.decode.graph` searches;
output labels are word ids of the lang's words.txt.

HCLG is built as mkgraph.sh does: ``LG = min(det(L_disambig o G))``; with a triphone tree
(:mod:`speechseq.hybrid.tree`) ``CLG = C o LG`` by kaldifst's ``compose_context`` (cross-word
triphones: each input label of CLG stands for a window ``[left, phone, right]``), with
monophones C is the identity and left out; ``H`` without self-loops maps each HMM state
entered to its pdf (through the tree, for a window) and passes the disambiguation symbols
through; ``HCLGa = min(rm_disambig(det(H o CLG)))``; then the HMM self-loops are added
(:func:`add_hmm_self_loops`).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import kaldifst

from speechseq.errors import SpeechseqError
from speechseq.fileio import atomic_dir
from speechseq.hybrid.lang import BOS, EOS, Lang
from speechseq.hybrid.topo import TransitionModel
from speechseq.hybrid.tree import ContextTree, model_tree
from speechseq.lm.ngram import NgramLM

LN10 = math.log(10.0)


def make_h(
    lang: Lang, tree: ContextTree | None = None, ilabels: list[list[int]] | None = None
) -> kaldifst.StdVectorFst:
    """H without self-loops: pdf+1 in, phones out (monophone), or with ``ilabels`` (the
    windows of ``compose_context``) the window's index out. A phone's first state's arc
    carries the output label; disambiguation symbols pass through as input
    ``num_pdfs + 1 + k`` (with windows: each one-symbol window, ``[0]`` being C's own)."""
    topo = lang.topo
    tree = tree or ContextTree.monophone(topo)
    fst = kaldifst.StdVectorFst()
    root = fst.add_state()
    fst.start = root
    fst.set_final(root, 0.0)

    def chain(olabel: int, pdfs: list[int]) -> None:
        src = root
        for s, pdf in enumerate(pdfs):
            dst = root if s == len(pdfs) - 1 else fst.add_state()
            fst.add_arc(src, kaldifst.StdArc(pdf + 1, olabel if s == 0 else 0, 0.0, dst))
            src = dst

    if ilabels is None:
        for p in topo.phones:
            chain(lang.phones[p], [tree.pdf(None, p, None, s) for s in range(topo.states[p])])
        for k, d in enumerate(lang.disambig_phones):
            fst.add_arc(root, kaldifst.StdArc(tree.num_pdfs + 1 + k, d, 0.0, root))
    else:
        k = 0
        for i, window in enumerate(ilabels):
            if len(window) == 3 and window[1] > 0:
                left, p, right = (lang.phone_of_id.get(x) if x > 0 else None for x in window)
                chain(i, [tree.pdf(left, p, right, s) for s in range(topo.states[p])])
            elif len(window) == 1:
                fst.add_arc(root, kaldifst.StdArc(tree.num_pdfs + 1 + k, i, 0.0, root))
                k += 1
    kaldifst.arcsort(fst, sort_type="olabel")
    return fst


def _with_context(
    lang: Lang, tree: ContextTree, fst: kaldifst.StdVectorFst, disambig: bool
) -> tuple[kaldifst.StdVectorFst, kaldifst.StdVectorFst]:
    """(H, the FST H composes with): with a triphone tree, ``fst`` (phones in) composed with
    the context transducer C and an H over C's windows; else ``fst`` itself and the monophone H."""
    if tree.width == 1:
        return make_h(lang, tree), fst
    cfst, ilabels = kaldifst.compose_context(lang.disambig_phones if disambig else [], 3, 1, fst)
    kaldifst.arcsort(cfst, sort_type="ilabel")
    return make_h(lang, tree, ilabels), cfst


def add_hmm_self_loops(fst: kaldifst.StdVectorFst, trans: TransitionModel) -> kaldifst.StdVectorFst:
    """A copy of ``fst`` (input labels pdf+1, one arc per HMM state entered) in which every
    state entered can repeat: each arc ``s -x-> n`` goes to a new state ``(n, x)`` with a
    self-loop ``x`` (cost -log loop) and an epsilon to ``n`` (cost -log (1 - loop))."""
    out = kaldifst.StdVectorFst()
    for _ in range(fst.num_states):
        out.add_state()
    out.start = fst.start
    extra: dict[tuple[int, int], int] = {}
    for s in range(fst.num_states):
        w = fst.final(s)
        if w != kaldifst.TropicalWeight.zero:
            out.set_final(s, w)
        it = kaldifst.ArcIterator(fst, s)
        while not it.done:
            arc = it.value
            x = arc.ilabel
            if x == 0:
                out.add_arc(s, kaldifst.StdArc(0, arc.olabel, arc.weight, arc.nextstate))
            else:
                key = (arc.nextstate, x)
                m = extra.get(key)
                if m is None:
                    m = extra[key] = out.add_state()
                    loop = float(trans.loop_prob[x - 1])
                    out.add_arc(m, kaldifst.StdArc(x, 0, -math.log(loop), m))
                    out.add_arc(m, kaldifst.StdArc(0, 0, -math.log(1 - loop), arc.nextstate))
                out.add_arc(s, kaldifst.StdArc(x, arc.olabel, arc.weight, m))
            it.next()
    return out


def g_from_arpa(lm: NgramLM, lang: Lang, lm_path: str) -> kaldifst.StdVectorFst:
    """G: word ids in and out, back-off arcs ``#0:<eps>`` (arpa2fst's layout).

    A state per history the LM keeps; an n-gram ``h w`` is an arc from ``h``'s state to the
    state of the longest kept suffix of ``h w``; ``</s>`` becomes a final weight; ``<s>`` is
    the start state. Costs are -ln p. A word of the LM missing from words.txt is an error.
    """
    unknown = sorted(
        w for w in lm.vocab if w not in lang.words and w not in (BOS, EOS, "<unk>", "<UNK>")
    )
    if unknown:
        raise SpeechseqError(
            f"{lm_path}: {len(unknown)} LM word(s) are not in {lang.path}/words.txt: "
            f"{', '.join(unknown[:10])} — train the LM on text of the lang's words, or add them to the lexicon and rerun prepare-lang"
        )
    ngrams = {g: v for n in range(1, lm.order + 1) for g, v in lm.ngrams(n).items()}
    backoff_id = lang.words["#0"]
    fst = kaldifst.StdVectorFst()
    states: dict[tuple[str, ...], int] = {}

    def state(h: tuple[str, ...]) -> int:
        if h not in states:
            states[h] = fst.add_state()
        return states[h]

    keep = {g[:-1] for g in ngrams if len(g) > 1} | {
        g for g, (_, b) in ngrams.items() if b != 0.0 and len(g) < lm.order
    }

    def trim(h: tuple[str, ...]) -> tuple[str, ...]:
        h = h[-(lm.order - 1) :] if lm.order > 1 else ()
        while h and h not in keep:
            h = h[1:]
        return h

    start = state(trim((BOS,)))
    fst.start = start
    state(())
    for g, (logp, _) in ngrams.items():
        h, w = g[:-1], g[-1]
        if w == BOS or logp <= -98:
            continue
        if h and h not in keep:
            continue
        src = state(h)
        cost = -logp * LN10
        if w == EOS:
            fst.set_final(src, cost)
        elif w in lang.words:
            fst.add_arc(src, kaldifst.StdArc(lang.words[w], lang.words[w], cost, state(trim(g))))
    for h in list(states):
        if h:
            bo = ngrams.get(h, (0.0, 0.0))[1]
            fst.add_arc(
                states[h],
                kaldifst.StdArc(
                    backoff_id,
                    0,
                    -bo * LN10,
                    states[h[1:]] if h[1:] in states else state(trim(h[1:])),
                ),
            )
    kaldifst.arcsort(fst, sort_type="ilabel")
    return fst


def make_hclg(
    lang: Lang,
    g: kaldifst.StdVectorFst,
    trans: TransitionModel,
    tree: ContextTree | None = None,
) -> kaldifst.StdVectorFst:
    """HCLG from a lang, G, a transition model and a context tree (mkgraph.sh's steps;
    monophone without a tree)."""
    tree = tree or ContextTree.monophone(lang.topo)
    kaldifst.arcsort(g, sort_type="ilabel")
    lg = kaldifst.compose(lang.l_fst(disambig=True), g)
    kaldifst.determinize_star(lg)
    kaldifst.minimize_encoded(lg)
    kaldifst.arcsort(lg, sort_type="ilabel")
    h, clg = _with_context(lang, tree, lg, disambig=True)
    hclga = kaldifst.compose(h, clg)
    kaldifst.determinize_star(hclga)
    hclga = _remove_disambig(hclga, tree.num_pdfs)
    kaldifst.rmepsilon(hclga)
    kaldifst.minimize_encoded(hclga)
    hclg = add_hmm_self_loops(hclga, trans)
    kaldifst.arcsort(hclg, sort_type="ilabel")
    return hclg


def _remove_disambig(fst: kaldifst.StdVectorFst, num_pdfs: int) -> kaldifst.StdVectorFst:
    """A copy of ``fst`` whose input labels above ``num_pdfs`` (disambiguation symbols) are epsilon."""
    out = kaldifst.StdVectorFst()
    for _ in range(fst.num_states):
        out.add_state()
    out.start = fst.start
    for s in range(fst.num_states):
        w = fst.final(s)
        if w != kaldifst.TropicalWeight.zero:
            out.set_final(s, w)
        it = kaldifst.ArcIterator(fst, s)
        while not it.done:
            a = it.value
            i = 0 if a.ilabel > num_pdfs else a.ilabel
            out.add_arc(s, kaldifst.StdArc(i, a.olabel, a.weight, a.nextstate))
            it.next()
    return out


def training_graph(
    lang: Lang, word_ids: list[int], trans: TransitionModel, tree: ContextTree | None = None
) -> kaldifst.StdVectorFst:
    """The graph of one transcript for alignment: H (with self-loops) o C o L o the word
    string (C with a triphone tree only), optional silence between words as L allows."""
    tree = tree or ContextTree.monophone(lang.topo)
    w = kaldifst.StdVectorFst()
    s = w.add_state()
    w.start = s
    for i in word_ids:
        n = w.add_state()
        w.add_arc(s, kaldifst.StdArc(i, i, 0.0, n))
        s = n
    w.set_final(s, 0.0)
    lw = kaldifst.compose(lang.l_fst(), w)
    kaldifst.arcsort(lw, sort_type="ilabel")
    h, clw = _with_context(lang, tree, lw, disambig=False)
    hlw = kaldifst.compose(h, clw)
    if tree.width > 1:  # C's own disambiguation symbol #-1 -> epsilon
        hlw = _remove_disambig(hlw, tree.num_pdfs)
    kaldifst.connect(hlw)
    return add_hmm_self_loops(hlw, trans)


def mkgraph(
    lang_dir: str | os.PathLike,
    model_dir: str | os.PathLike,
    out: str | os.PathLike,
    lm: str | None = None,
    grammar: str | None = None,
) -> dict:
    """Write ``out``/HCLG.fst, words.txt and graph.json for the model of ``model_dir``
    (its ``trans.json`` and ``lang.json``) and an ARPA LM or a grammar file."""
    # deferred: the grammar parser is used only here
    from speechseq.hybrid.grammar import grammar_fst

    if (lm is None) == (grammar is None):
        from speechseq.errors import UsageError  # deferred: only on this usage error

        raise UsageError("give exactly one of --lm LM.arpa and --grammar FILE")
    lang = Lang(lang_dir)
    model = Path(model_dir)
    check_model_lang(model, lang)
    tree = model_tree(model, lang.topo)
    trans = TransitionModel.load(tree, model / "trans.json")
    if lm is not None:
        g = g_from_arpa(NgramLM.read_arpa(lm), lang, lm)
        source = {"lm": str(Path(lm).resolve())}
    else:
        g = grammar_fst(Path(grammar), lang)
        source = {"grammar": str(Path(grammar).resolve())}
    hclg = make_hclg(lang, g, trans, tree)
    info = {
        "lang": str(lang.path.resolve()),
        "lang_digest": lang.digest,
        "num_pdfs": tree.num_pdfs,
        "context_width": tree.width,
        "states": hclg.num_states,
        "arcs": sum(hclg.num_arcs(s) for s in range(hclg.num_states)),
        **source,
    }
    with atomic_dir(out) as tmp:
        hclg.write(str(tmp / "HCLG.fst"))
        (tmp / "words.txt").write_bytes((lang.path / "words.txt").read_bytes())
        (tmp / "graph.json").write_text(json.dumps(info, indent=2) + "\n")
    return info


def check_model_lang(model: Path, lang: Lang) -> None:
    """A model directory records the digest of the lang it was trained with; another is an error."""
    path = model / "lang.json"
    if not path.is_file():
        raise SpeechseqError(
            f"{model}: no lang.json — not a hybrid model directory (train one with speechseq train-hybrid)"
        )
    digest = json.loads(path.read_text()).get("lang_digest")
    if digest != lang.digest:
        raise SpeechseqError(
            f"{lang.path}: this lang (digest {lang.digest}) is not the one {model} was trained with "
            f"(digest {digest}) — build the graph from the model's lang"
        )
