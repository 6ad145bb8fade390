"""WER counts against independent oracles: a brute-force edit-distance table written here, and
Kaldi's own counting code (compute-wer's ``LevenshteinEditDistance``) through ``kaldialign``."""

from __future__ import annotations

import random
from functools import cache

from speechseq.metrics.wer import align, error_stats, utt_stats

WORDS = ["a", "b", "c"]  # a small vocabulary makes matches, and so ties, common


def random_pairs(n: int, seed: int, max_len: int = 6) -> list[tuple[list[str], list[str]]]:
    rng = random.Random(seed)
    return [
        (
            [rng.choice(WORDS) for _ in range(rng.randint(0, max_len))],
            [rng.choice(WORDS) for _ in range(rng.randint(0, max_len))],
        )
        for _ in range(n)
    ]


def optimal_splits(ref: list[str], hyp: list[str]) -> tuple[int, set[tuple[int, int, int]]]:
    """The edit distance and every ``(ins, dels, subs)`` that a minimum-cost alignment can have:
    the textbook recursion over (ref prefix, hyp prefix), keeping all optimal predecessors."""

    @cache
    def best(m: int, n: int) -> tuple[int, frozenset]:
        if m == 0 and n == 0:
            return 0, frozenset({(0, 0, 0)})
        moves = []
        if m and n:
            cost, splits = best(m - 1, n - 1)
            sub = int(ref[m - 1] != hyp[n - 1])
            moves.append((cost + sub, {(i, d, s + sub) for i, d, s in splits}))
        if m:
            cost, splits = best(m - 1, n)
            moves.append((cost + 1, {(i, d + 1, s) for i, d, s in splits}))
        if n:
            cost, splits = best(m, n - 1)
            moves.append((cost + 1, {(i + 1, d, s) for i, d, s in splits}))
        low = min(c for c, _ in moves)
        return low, frozenset().union(*(s for c, s in moves if c == low))

    dist, splits = best(len(ref), len(hyp))
    return dist, set(splits)


def test_oracle_itself_on_a_hand_example():
    # "a b" -> "b c": D(a) C(b) I(c), or S(a,b) S(b,c): both cost 2
    assert optimal_splits(["a", "b"], ["b", "c"]) == (2, {(1, 1, 0), (0, 0, 2)})


def test_utterance_counts_are_a_minimum_edit_split_on_random_short_sequences():
    for ref, hyp in random_pairs(1500, seed=0):
        dist, splits = optimal_splits(ref, hyp)
        s = utt_stats(" ".join(ref), " ".join(hyp))
        assert s.errors == dist, (ref, hyp)
        assert (s.ins, s.dels, s.subs) in splits, (ref, hyp, s)
        assert s.ref_len == len(ref) and s.utt_errors == int(dist > 0)


def test_align_is_a_minimum_cost_alignment_of_both_sequences():
    for ref, hyp in random_pairs(1500, seed=1):
        dist, splits = optimal_splits(ref, hyp)
        ali = align(ref, hyp)
        assert [r for _, r, _ in ali if r is not None] == ref
        assert [h for _, _, h in ali if h is not None] == hyp
        for op, r, h in ali:
            if r is None:
                assert op == "I" and h is not None
            elif h is None:
                assert op == "D"
            else:
                assert op == ("C" if r == h else "S")
        ops = [op for op, _, _ in ali]
        assert len(ops) - ops.count("C") == dist, (ref, hyp, ali)
        assert (ops.count("I"), ops.count("D"), ops.count("S")) in splits


def test_error_stats_totals_are_the_sum_of_brute_force_distances():
    pairs = random_pairs(300, seed=2)
    refs = {f"u{i:03d}": " ".join(r) for i, (r, _) in enumerate(pairs)}
    hyps = {f"u{i:03d}": " ".join(h) for i, (_, h) in enumerate(pairs)}
    total = error_stats(refs, hyps)
    assert total.errors == sum(optimal_splits(r, h)[0] for r, h in pairs)
    assert total.ref_len == sum(len(r) for r, _ in pairs)
    assert total.ins - total.dels == sum(len(h) - len(r) for r, h in pairs)


def forward_pass_counts(ref: list[str], hyp: list[str]) -> tuple[int, int, int]:
    """``(ins, dels, subs)`` by Kaldi's ``LevenshteinEditDistance`` forward pass, written out in
    Python (what speechseq used before it called kaldialign): an oracle for the C++ counts.

    Kaldi's ``LevenshteinEditDistance`` (``util/edit-distance-inl.h``): a forward pass over the
    hypothesis in which each cell takes a match or substitution only when it is strictly cheaper
    than both other moves, else a deletion when strictly cheaper than an insertion, else an
    insertion. The total is :func:`align`'s; on ties the split can differ from it.
    """
    # e[m]: (cost, ins, dels, subs) of ref[:m] against the hypothesis words seen so far
    e = [(m, 0, m, 0) for m in range(len(ref) + 1)]
    for h in hyp:
        cost, ins, dels, subs = e[0]
        cur = [(cost + 1, ins + 1, dels, subs)]
        for m, r in enumerate(ref, start=1):
            ins_cost, del_cost = e[m][0] + 1, cur[m - 1][0] + 1
            diff = int(r != h)
            sub_cost = e[m - 1][0] + diff
            if sub_cost < ins_cost and sub_cost < del_cost:
                _, ins, dels, subs = e[m - 1]
                cur.append((sub_cost, ins, dels, subs + diff))
            elif del_cost < ins_cost:
                _, ins, dels, subs = cur[m - 1]
                cur.append((del_cost, ins, dels + 1, subs))
            else:
                _, ins, dels, subs = e[m]
                cur.append((ins_cost, ins + 1, dels, subs))
        e = cur
    _, ins, dels, subs = e[-1]
    return ins, dels, subs


def test_counts_equal_kaldi_compute_wer_per_utterance_and_in_total():
    """compute-wer counts ins/del/sub with ``LevenshteinEditDistance``, whose forward pass
    breaks ties its own way; kaldialign wraps that very code, and the forward pass written
    out in Python gives the same split. Ties are common with 3 words."""
    import kaldialign

    pairs = random_pairs(1500, seed=3)
    for ref, hyp in pairs:
        k = kaldialign.edit_distance(ref, hyp)
        s = utt_stats(" ".join(ref), " ".join(hyp))
        assert (s.ins, s.dels, s.subs) == (k["ins"], k["del"], k["sub"]), (ref, hyp)
        assert (s.ins, s.dels, s.subs) == forward_pass_counts(ref, hyp), (ref, hyp)
    refs = {f"u{i:04d}": " ".join(r) for i, (r, _) in enumerate(pairs)}
    hyps = {f"u{i:04d}": " ".join(h) for i, (_, h) in enumerate(pairs)}
    total = error_stats(refs, hyps)
    ks = [kaldialign.edit_distance(r, h) for r, h in pairs]
    assert (total.ins, total.dels, total.subs) == tuple(
        sum(k[key] for k in ks) for key in ("ins", "del", "sub")
    )
