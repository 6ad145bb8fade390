"""CTC decoding: greedy, prefix beam search, word LM and lexicon constraint on hand-made posteriors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from speechseq.decode.ctc import (
    build_lexicon_trie,
    greedy,
    prefix_beam_search,
)
from speechseq.errors import SpeechseqError

# Units of the toy char models: 0 blank, 1 word boundary.
SYMBOLS = ["<blank>", "|", "a", "b", "c", "d", "g", "o", "t"]
ID = {s: i for i, s in enumerate(SYMBOLS)}


def posteriors(frames: list[dict[str, float]], symbols=SYMBOLS) -> np.ndarray:
    """log_probs [T, V] from per-frame {symbol: prob}; the rest of each frame's mass spread evenly."""
    V = len(symbols)
    out = np.zeros((len(frames), V))
    for t, frame in enumerate(frames):
        rest = 1.0 - sum(frame.values())
        others = [i for i, s in enumerate(symbols) if s not in frame]
        out[t, others] = rest / len(others) if others else 0.0
        for s, p in frame.items():
            out[t, symbols.index(s)] = p
    return np.log(np.maximum(out, 1e-12)).astype(np.float32)


def spell(text: str) -> list[dict[str, float]]:
    """A peaky posteriorgram for ``text`` (``_`` = blank frame), 0.9 on each frame's symbol."""
    return [{"<blank>" if ch == "_" else ch: 0.9} for ch in text]


def to_word(ids) -> str:
    return "".join(SYMBOLS[i] for i in ids)


def peaky_random(rng, T: int, V: int) -> np.ndarray:
    """Random peaky posteriors: each frame puts most mass on one unit (blank half the time)."""
    logits = rng.normal(0.0, 1.0, size=(T, V))
    labels = np.where(rng.random(T) < 0.5, 0, rng.integers(1, V, size=T))
    logits[np.arange(T), labels] += 6.0
    return torch.log_softmax(torch.from_numpy(logits), dim=-1).numpy().astype(np.float32)


class UnigramLM:
    """Stand-in for speechseq.lm.ngram.NgramLM: unigram log10 probs, state = words so far."""

    order = 1

    def __init__(self, log10: dict[str, float], unk: float = -5.0, end: float = -0.3):
        self.log10, self.unk, self.end = log10, unk, end
        self.vocab = set(log10)
        self.calls: list[str] = []

    def begin_state(self):
        return ()

    def score(self, state, word):
        self.calls.append(word)
        return self.log10.get(word, self.unk), (*state, word)

    def end_score(self, state):
        return self.end


def test_greedy_merges_repeats_and_keeps_blank_separated_repeats():
    merged = posteriors(spell("aa_"))
    separated = posteriors(spell("a_a"))
    assert greedy(merged) == [ID["a"]]
    assert greedy(separated) == [ID["a"], ID["a"]]
    assert greedy(posteriors(spell("_c_aa_t__"))) == [ID["c"], ID["a"], ID["t"]]
    assert greedy(np.zeros((0, 5), dtype=np.float32)) == []


def test_beam_search_sums_paths_and_beats_greedy():
    # Each frame: blank 0.6, a 0.4. Greedy reads blank blank = "", P=0.36;
    # "a" has paths a-a, a-_, _-a: 0.16 + 0.24 + 0.24 = 0.64.
    lp = posteriors([{"<blank>": 0.6, "a": 0.4}] * 2, symbols=["<blank>", "a"])
    assert greedy(lp) == []
    hyps = prefix_beam_search(lp, beam=4)
    assert hyps[0].ids == [1]
    assert math.isclose(math.exp(hyps[0].am_score), 0.64, rel_tol=1e-5)
    assert hyps[1].ids == []
    assert math.isclose(math.exp(hyps[1].am_score), 0.36, rel_tol=1e-5)


def test_beam_search_keeps_repeat_after_blank_as_two_units():
    lp = posteriors(spell("a_a") + spell("_"))
    assert prefix_beam_search(lp, beam=5)[0].ids == [ID["a"], ID["a"]]
    lp = posteriors(spell("aa_"))
    assert prefix_beam_search(lp, beam=5)[0].ids == [ID["a"]]


@pytest.mark.parametrize("seed", range(5))
def test_beam_search_equals_greedy_on_peaky_posteriors(seed):
    lp = peaky_random(np.random.default_rng(seed), T=60, V=12)
    g = greedy(lp)
    assert prefix_beam_search(lp, beam=1)[0].ids == g
    assert prefix_beam_search(lp, beam=10)[0].ids == g


def test_beam_search_score_is_exact_ctc_probability():
    rng = np.random.default_rng(3)
    logits = torch.from_numpy(rng.normal(size=(6, 4)))
    lp = torch.log_softmax(logits, dim=-1).float().numpy()
    hyps = prefix_beam_search(lp, beam=200, prune_logp=-1e9, top_k=10, blank_skip=None)
    for h in hyps[:5]:
        if not h.ids:
            continue
        nll = torch.nn.functional.ctc_loss(
            torch.from_numpy(lp).unsqueeze(1),
            torch.tensor([h.ids]),
            torch.tensor([6]),
            torch.tensor([len(h.ids)]),
            reduction="sum",
        )
        assert math.isclose(h.am_score, -nll.item(), rel_tol=1e-4, abs_tol=1e-4)
    total = sum(math.exp(h.am_score) for h in hyps)
    assert 0.95 < total <= 1.0 + 1e-4  # nearly all sequences kept, their probabilities sum to ~1


def cab_or_cat() -> np.ndarray:
    """'cab' acoustically a little better than 'cat', then '|' and 'dog'."""
    frames = spell("_c_a_") + [{"b": 0.5, "t": 0.45}] + spell("_|_d_o_g_")
    return posteriors(frames)


def test_word_lm_picks_preferred_word_over_acoustically_better_one():
    lp = cab_or_cat()
    plain = prefix_beam_search(lp, beam=8, word_boundary=ID["|"])
    assert to_word(plain[0].ids) == "cab|dog"
    lm = UnigramLM({"cat": -1.0, "cab": -4.0, "dog": -1.0})
    hyps = prefix_beam_search(
        lp, beam=8, word_boundary=ID["|"], lm=lm, lm_weight=1.0, units_to_word=to_word
    )
    best = hyps[0]
    assert to_word(best.ids) == "cat|dog"
    assert best.words == ["cat", "dog"]
    expected_lm = (-1.0 - 1.0 - 0.3) * math.log(10)
    assert math.isclose(best.lm_score, expected_lm, rel_tol=1e-6)
    assert math.isclose(best.score, best.am_score + best.lm_score, rel_tol=1e-6)


def test_word_bonus_is_added_per_word():
    lp = cab_or_cat()
    lm = UnigramLM({"cat": -1.0, "dog": -1.0})
    kw = dict(beam=8, word_boundary=ID["|"], lm=lm, lm_weight=0.5, units_to_word=to_word)
    h0 = prefix_beam_search(lp, word_bonus=0.0, **kw)[0]
    h2 = prefix_beam_search(lp, word_bonus=2.0, **kw)[0]
    assert h0.ids == h2.ids
    for h, bonus in ((h0, 0.0), (h2, 2.0)):
        expected = h.am_score + 0.5 * h.lm_score + bonus * len(h.words)
        assert math.isclose(h.score, expected, rel_tol=1e-6)


def test_lexicon_trie_forbids_non_word_spelling():
    lp = cab_or_cat()
    spellings = {w: [[ID[ch] for ch in w]] for w in ["cat", "dog", "cot"]}
    trie = build_lexicon_trie(spellings)
    hyps = prefix_beam_search(lp, beam=8, word_boundary=ID["|"], lexicon_trie=trie)
    assert to_word(hyps[0].ids) == "cat|dog"
    assert hyps[0].words == ["cat", "dog"]
    for h in hyps:
        assert all(w in spellings for w in h.words)
        assert "cab" not in to_word(h.ids)


def test_lexicon_trie_allows_boundary_only_at_word_end():
    # Acoustics say "ca|t": 'ca' is not a word, so the boundary there is pruned.
    lp = posteriors(spell("_c_a_") + [{"|": 0.6, "t": 0.3}] + spell("_t_"))
    trie = build_lexicon_trie({"cat": [[ID["c"], ID["a"], ID["t"]]], "at": [[ID["a"], ID["t"]]]})
    assert to_word(prefix_beam_search(lp, beam=8, word_boundary=ID["|"])[0].ids) == "ca|t"
    hyps = prefix_beam_search(lp, beam=8, word_boundary=ID["|"], lexicon_trie=trie)
    assert hyps[0].words == ["cat"]


def test_lexicon_homophones_take_the_word_the_lm_prefers():
    lp = posteriors(spell("_c_a_t_"))
    trie = build_lexicon_trie(
        {"cat": [[ID["c"], ID["a"], ID["t"]]], "kat": [[ID["c"], ID["a"], ID["t"]]]}
    )
    assert trie.lookup([ID["c"], ID["a"], ID["t"]]) == ["cat", "kat"]
    lm = UnigramLM({"cat": -3.0, "kat": -0.5})
    hyps = prefix_beam_search(lp, beam=4, word_boundary=ID["|"], lexicon_trie=trie, lm=lm)
    assert hyps[0].words == ["kat"]


def test_build_lexicon_trie_rejects_empty_or_boundary_spelling():
    with pytest.raises(SpeechseqError, match="'ox'.*empty"):
        build_lexicon_trie({"ox": [[]]})
    with pytest.raises(SpeechseqError, match="'a b'.*word-boundary"):
        build_lexicon_trie({"a b": [[ID["a"], ID["|"], ID["b"]]]}, word_boundary=ID["|"])


def test_bpe_lm_scores_words_at_word_start_pieces():
    pieces = ["<blank>", "▁ca", "t", "b", "▁do", "g"]
    lp = posteriors(
        [
            {"<blank>": 0.9},
            {"▁ca": 0.9},
            {"b": 0.5, "t": 0.45},
            {"<blank>": 0.9},
            {"▁do": 0.9},
            {"g": 0.9},
        ],
        symbols=pieces,
    )
    starts = {i for i, p in enumerate(pieces) if p.startswith("▁")}

    def piece_word(ids):
        return "".join(pieces[i] for i in ids).lstrip("▁")

    plain = prefix_beam_search(lp, beam=8)
    assert plain[0].ids == [1, 3, 4, 5] and plain[0].words is None
    lm = UnigramLM({"cat": -1.0, "cab": -4.0, "dog": -1.0})
    hyps = prefix_beam_search(lp, beam=8, lm=lm, word_start_units=starts, units_to_word=piece_word)
    assert hyps[0].ids == [1, 2, 4, 5]
    assert hyps[0].words == ["cat", "dog"]


def test_lm_without_word_boundary_is_refused():
    lp = posteriors(spell("_a_"))
    with pytest.raises(SpeechseqError, match="word_boundary"):
        prefix_beam_search(lp, lm=UnigramLM({}), units_to_word=to_word)
    with pytest.raises(SpeechseqError, match="word-boundary unit"):
        prefix_beam_search(lp, lexicon_trie=build_lexicon_trie({"a": [[ID["a"]]]}))


def test_real_ngram_lm_steers_the_beam():
    from speechseq.lm.ngram import train_ngram

    lm = train_ngram([["cat", "dog"]] * 5 + [["dog"], ["cot"]], order=2)
    hyps = prefix_beam_search(
        cab_or_cat(), beam=8, word_boundary=ID["|"], lm=lm, lm_weight=1.0, units_to_word=to_word
    )
    assert hyps[0].words == ["cat", "dog"]
    expected = lm.sentence_logprob(["cat", "dog"]) * math.log(10)
    assert math.isclose(hyps[0].lm_score, expected, rel_tol=1e-6)


def test_blank_skip_frames_only_carry_existing_prefixes_forward():
    # near-certain blank frames between the units: skipping them changes almost nothing
    blank = {"<blank>": 0.9995}
    lp = posteriors(
        [{"c": 0.9}, blank, blank, {"a": 0.8}, blank, {"t": 0.7}, blank, {"<blank>": 0.6}]
    )
    skipped = prefix_beam_search(lp, beam=4)  # blank_skip 0.999
    full = prefix_beam_search(lp, beam=4, blank_skip=None)
    assert skipped[0].ids == full[0].ids == [ID["c"], ID["a"], ID["t"]]
    assert skipped[0].am_score == pytest.approx(full[0].am_score, abs=1e-4)


def test_greedy_decodes_a_single_frame():
    assert greedy(posteriors([{"a": 0.9}])) == [ID["a"]]


def test_lexicon_trie_counts_words_and_spellings():
    trie = build_lexicon_trie(
        {"cat": [[4, 2, 8]], "dog": [[5, 7, 6], [5, 2, 6]]}, blank=0, word_boundary=1
    )
    assert (trie.num_words, trie.num_spellings) == (2, 3)
    assert build_lexicon_trie({"x": [[1]]}).num_spellings == 1  # unit 1 is ordinary by default


def test_lexicon_trie_errors_end_with_the_fix():
    with pytest.raises(SpeechseqError, match="'a': empty unit spelling .* fix the lexicon entry$"):
        build_lexicon_trie({"a": [[]]})
    with pytest.raises(SpeechseqError, match="unit 0 — a word is .* fix the lexicon entry$"):
        build_lexicon_trie({"a": [[2, 0]]})


def test_word_bonus_sign_chooses_between_one_word_and_two_with_a_lexicon():
    """'a' then a frame torn between the boundary and 'b', then 'b': "a|b" (two words) and
    "ab" (one) have the same acoustic score, so the word bonus decides, either way."""
    lp = posteriors(spell("_a_") + [{"|": 0.45, "b": 0.45}] + spell("b_"))
    trie = build_lexicon_trie({w: [[ID[ch] for ch in w]] for w in ["a", "b", "ab"]})
    kw = dict(beam=8, word_boundary=ID["|"], lexicon_trie=trie, units_to_word=to_word)
    more = prefix_beam_search(lp, word_bonus=3.0, **kw)[0]
    fewer = prefix_beam_search(lp, word_bonus=-3.0, **kw)[0]
    assert more.words == ["a", "b"] and fewer.words == ["ab"]
    for h, bonus in ((more, 3.0), (fewer, -3.0)):
        assert math.isclose(h.score, h.am_score + bonus * len(h.words), rel_tol=1e-6)


def test_hypotheses_ending_inside_a_non_word_are_dropped_for_a_lexicon():
    """The acoustics end in "ca" (no word); with a lexicon the best hypothesis is a whole word."""
    lp = posteriors(spell("_c_a_t_") + spell("_c_a_"))
    trie = build_lexicon_trie({"cat": [[ID["c"], ID["a"], ID["t"]]]})
    hyps = prefix_beam_search(lp, beam=8, word_boundary=ID["|"], lexicon_trie=trie)
    assert hyps[0].words is not None and all(w == "cat" for w in hyps[0].words)
    assert not to_word(hyps[0].ids).endswith("ca")


def test_candidates_are_the_top_k_non_blank_units_above_the_floor():
    from speechseq.decode.ctc import _candidates

    lp = np.log(
        np.array(
            [
                [0.50, 0.20, 0.15, 0.10, 0.05],  # blank most likely; 0.05 is exactly the floor
                [0.10, 0.02, 0.03, 0.80, 0.05],
            ]
        )
    )
    before = lp.copy()
    floor = float(np.log(0.05))

    def sets(top_k, prune=floor):
        return [sorted(c) for c in _candidates(lp, 0, top_k, prune)]

    assert sets(2) == [[1, 2], [3, 4]]
    assert sets(1) == [[1], [3]]
    assert sets(4) == [[1, 2, 3, 4], [3, 4]]  # every non-blank at or above the floor
    assert sets(9) == sets(4)
    assert sets(3) == [[1, 2, 3], [3, 4]]
    assert sets(0) == [[], []]
    assert sets(4, prune=float(np.log(0.12))) == [[1, 2], [3]]
    assert [sorted(c) for c in _candidates(lp, 3, 4, floor)] == [[0, 1, 2, 4], [0, 4]]
    np.testing.assert_array_equal(lp, before)  # the caller's posteriors are left as they are
    assert _candidates(lp[:, :1], 0, 3, floor) == [[], []]  # only a blank: nothing to extend
