"""CTC decoding against brute force: every one of the V**T paths of a short utterance, collapsed
to its label sequence, with path probabilities summed per sequence."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from speechseq.decode.ctc import greedy, prefix_beam_search

T, V, BLANK = 5, 3, 0  # 3**5 = 243 paths


def random_log_posteriors(seed: int) -> np.ndarray:
    """``[T, V]`` natural-log posteriors, flat enough that many sequences compete."""
    logits = np.random.default_rng(seed).normal(0.0, 1.5, size=(T, V))
    return logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))


def collapse(path: tuple[int, ...]) -> tuple[int, ...]:
    """Merge repeats, then drop blanks (the CTC many-to-one map)."""
    out, prev = [], None
    for u in path:
        if u != prev and u != BLANK:
            out.append(u)
        prev = u
    return tuple(out)


def all_paths(lp: np.ndarray) -> list[tuple[tuple[int, ...], float]]:
    """Every path with its log probability (the sum of its frames' log posteriors)."""
    return [
        (path, float(sum(lp[t, u] for t, u in enumerate(path))))
        for path in itertools.product(range(V), repeat=T)
    ]


def sequence_log_probs(lp: np.ndarray) -> dict[tuple[int, ...], float]:
    """log P(labels) = log of the sum over the paths that collapse to them."""
    by_seq: dict[tuple[int, ...], list[float]] = {}
    for path, logp in all_paths(lp):
        by_seq.setdefault(collapse(path), []).append(logp)
    return {seq: float(np.logaddexp.reduce(v)) for seq, v in by_seq.items()}


def exhaustive_beam(lp: np.ndarray):
    """Prefix beam search with a beam wider than the number of sequences and no pruning."""
    return prefix_beam_search(
        lp, beam=1000, blank=BLANK, top_k=V - 1, prune_logp=-math.inf, blank_skip=None
    )


def test_oracle_sums_to_one_and_counts_sequences():
    probs = sequence_log_probs(random_log_posteriors(0))
    assert math.isclose(sum(math.exp(v) for v in probs.values()), 1.0, abs_tol=1e-12)
    # Sequences over the 2 labels that 5 frames can carry (a repeat needs a blank between):
    # length 0: 1, 1: 2, 2: 4, 3: 8, 4: 8 (at most one repeat), 5: 2 (no repeat).
    assert len(probs) == 1 + 2 + 4 + 8 + 8 + 2


@pytest.mark.parametrize("seed", range(8))
def test_beam_search_best_sequence_and_log_prob_equal_brute_force(seed):
    lp = random_log_posteriors(seed)
    oracle = sequence_log_probs(lp)
    best_seq = max(oracle, key=oracle.get)
    hyps = exhaustive_beam(lp)
    assert tuple(hyps[0].ids) == best_seq
    assert hyps[0].am_score == pytest.approx(oracle[best_seq], abs=1e-6)
    assert hyps[0].score == hyps[0].am_score  # no LM, no bonus
    # with nothing pruned, every sequence comes back, with its exact probability
    got = {tuple(h.ids): h.am_score for h in hyps}
    assert got.keys() == oracle.keys()
    for seq, logp in oracle.items():
        assert got[seq] == pytest.approx(logp, abs=1e-6), seq
    assert [h.score for h in hyps] == sorted((h.score for h in hyps), reverse=True)


@pytest.mark.parametrize("seed", range(8))
def test_greedy_is_the_collapsed_most_likely_path(seed):
    lp = random_log_posteriors(seed)
    best_path, _ = max(all_paths(lp), key=lambda p: p[1])
    assert tuple(greedy(lp, blank=BLANK)) == collapse(best_path)
