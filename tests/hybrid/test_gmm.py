"""The monophone GMM: likelihoods by hand, flat start and Viterbi re-estimation on features
drawn from known HMM state sequences."""

from __future__ import annotations

import numpy as np
import pytest

from speechseq.hybrid.align import Aligner, MonoOptions, phone_spans, train_mono, word_spans
from speechseq.hybrid.gmm import DiagGmm, GmmStats, mix_up
from speechseq.hybrid.lang import Lang
from speechseq.hybrid.topo import TransitionModel


def synthetic_corpus(lang: Lang, n: int = 30, dim: int = 4, seed: int = 0):
    """Utterances of 1-3 words with silence at both ends; each pdf emits N(mean_pdf, 0.3^2)."""
    rng = np.random.default_rng(seed)
    topo = lang.topo
    means = rng.normal(0, 2, (topo.num_pdfs, dim))
    feats, texts, truth = {}, {}, {}
    for k in range(n):
        words = list(rng.choice(["one", "two", "three"], rng.integers(1, 4)))
        phones = ["SIL"] + [p for w in words for p in lang.lexicon.pronunciations(w)[0]] + ["SIL"]
        seq = []
        for p in phones:
            for s in range(topo.states[p]):
                seq += [topo.pdf_of(p, s)] * int(rng.integers(2, 6))
        seq = np.array(seq)
        utt = f"u{k:03d}"
        feats[utt] = means[seq] + rng.normal(0, 0.3, (len(seq), dim))
        texts[utt] = " ".join(words)
        truth[utt] = seq
    return feats, texts, truth


def test_loglikes_match_a_hand_computation():
    g = DiagGmm(
        means=[[0.0, 1.0], [2.0, 0.0], [0.0, 0.0]],
        vars_=[[1.0, 4.0], [1.0, 1.0], [2.0, 2.0]],
        log_weights=np.log([0.25, 0.75, 1.0]),
        pdf=[0, 0, 1],
        num_pdfs=2,
    )
    x = np.array([[1.0, 1.0]])

    def n(x, m, v):
        return np.prod(np.exp(-0.5 * (x - m) ** 2 / v) / np.sqrt(2 * np.pi * np.array(v)))

    p0 = 0.25 * n(x[0], [0, 1], [1, 4]) + 0.75 * n(x[0], [2, 0], [1, 1])
    p1 = n(x[0], [0, 0], [2, 2])
    assert g.loglikes(x)[0] == pytest.approx(np.log([p0, p1]))


def test_loglikes_of_some_pdfs_equal_the_full_ones_and_stats_only_touch_aligned_pdfs():
    rng = np.random.default_rng(3)
    g = DiagGmm(rng.normal(0, 1, (7, 2)), rng.uniform(0.5, 2, (7, 2)), np.log(np.full(7, 0.5)),
                [0, 0, 1, 2, 2, 3, 3], 4)  # fmt: skip
    x = rng.normal(0, 1, (5, 2))
    some = g.loglikes(x, [3, 1])
    assert some[:, [1, 3]] == pytest.approx(g.loglikes(x)[:, [1, 3]])
    assert (some[:, [0, 2]] == 0).all()
    s = GmmStats(g)
    s.add(x, np.array([1, 1, 3, 3, 3]))
    assert s.occ[[0, 1, 3, 4]].sum() == 0 and s.occ.sum() == pytest.approx(5)
    assert s.occ[2] == pytest.approx(2)


def test_em_step_and_split_keep_one_distribution_per_pdf():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(-2, 1, (200, 3)), rng.normal(2, 1, (200, 3))])
    g = DiagGmm.single(np.zeros((1, 3)), np.ones((1, 3)))
    g = mix_up(g, 2, np.array([400.0]))
    assert g.num_gauss == 2
    lls = []
    for _ in range(5):
        s = GmmStats(g)
        s.add(x, np.zeros(len(x), dtype=int))
        lls.append(s.loglike)
        g = s.estimate(np.full(3, 1e-3))
    assert all(b >= a - 1e-6 for a, b in zip(lls, lls[1:], strict=False))
    assert np.exp(g.log_weights).sum() == pytest.approx(1.0)
    assert sorted(np.round(g.means[:, 0])) == [-2, 2]


def test_mono_training_raises_likelihood_every_iteration_and_finds_the_states(lang):
    feats, texts, truth = synthetic_corpus(lang)
    opts = MonoOptions(num_iters=5, max_gauss=lang.topo.num_pdfs)  # no splitting: EM's guarantee
    gmm, trans, ali, hist = train_mono(lang, feats, texts, opts, "synthetic", log=lambda m: None)
    objectives = [h["objective"] for h in hist]
    assert all(b >= a - 1e-3 for a, b in zip(objectives, objectives[1:], strict=False)), objectives
    assert objectives[-1] > objectives[0]
    acc = np.mean(np.concatenate([ali[u] == truth[u] for u in ali]))
    assert acc > 0.95
    assert not any(h["failed"] for h in hist)
    # self-loop probabilities near the drawn durations' (2..5 frames: loop 0.71 on average)
    assert 0.5 < float(np.mean(trans.loop_prob[1:])) < 0.85


def test_word_and_phone_spans_of_an_alignment(lang):
    feats, texts, truth = synthetic_corpus(lang, n=1, seed=3)
    (utt,) = feats
    topo = lang.topo
    gmm = DiagGmm.single(*_true_model(lang, feats, truth))
    aligner = Aligner(lang, texts, "t")
    aligner.set_transitions(TransitionModel(topo))
    best = aligner.align(utt, gmm.loglikes(feats[utt]))
    phones = phone_spans(best.columns, lang)
    assert [p for p, _, _ in phones][0] == "SIL" and phones[-1][0] == "SIL"
    words = word_spans(best, lang)
    assert [w for w, _, _ in words] == texts[utt].split()
    assert words[0][1] == phones[1][1]  # the first word starts after the leading silence
    assert words[-1][2] == phones[-1][1]  # the last ends where the final silence starts


def _true_model(lang, feats, truth):
    x = np.concatenate(list(feats.values()))
    y = np.concatenate(list(truth.values()))
    P = lang.topo.num_pdfs
    means = np.array([x[y == p].mean(0) if (y == p).any() else x.mean(0) for p in range(P)])
    return means, np.full_like(means, 0.09)


# ---- bootstrapping from a phone CTC model ---------------------------------------------------------

CTC_SYMBOLS = ["<blank>", "|", "ah", "iy", "n", "r", "t", "th", "uw", "w"]  # lower case on purpose


def _spiky_posteriors(spikes: dict[int, str], frames: int, sharp: float = 0.97) -> np.ndarray:
    """CTC log-posteriors [frames, V]: blank everywhere except a spike of the given unit."""
    probs = np.full((frames, len(CTC_SYMBOLS)), (1 - sharp) / (len(CTC_SYMBOLS) - 1))
    probs[:, 0] = sharp
    for t, unit in spikes.items():
        probs[t] = (1 - sharp) / (len(CTC_SYMBOLS) - 1)
        probs[t, CTC_SYMBOLS.index(unit)] = sharp
    return np.log(probs)


def test_ctc_columns_match_phones_case_insensitively_and_name_a_missing_one(lang):
    from speechseq.errors import SpeechseqError
    from speechseq.hybrid.align import ctc_columns

    cols = ctc_columns(lang, CTC_SYMBOLS, "ctc")
    for pdf, ph in enumerate(lang.topo.pdf_phone):
        want = -1 if ph == "SIL" else CTC_SYMBOLS.index(ph.lower())
        assert cols[pdf] == want, (pdf, ph)
    with pytest.raises(SpeechseqError, match=r"ctc: the CTC model has no unit for phone\(s\) TH"):
        ctc_columns(lang, [s for s in CTC_SYMBOLS if s != "th"], "ctc")


def test_ctc_scores_repeat_to_the_feature_rate_and_score_phones_and_silence(lang):
    from speechseq.hybrid.align import PHONE_BLANK_WEIGHT, ctc_columns, ctc_pdf_scores

    lp = _spiky_posteriors({1: "w"}, 4)  # 4 frames at 30 ms: 12 feature frames (11 asked)
    cols = ctc_columns(lang, CTC_SYMBOLS, "ctc")
    s = ctc_pdf_scores(lp, cols, 11, blank=0, word_sep=1)
    assert s.shape == (11, lang.topo.num_pdfs)
    w0, sil = lang.topo.pdf_of("W", 0), lang.topo.pdf_of("SIL", 0)
    p = np.exp(lp)
    for t in range(11):  # frame t of the features is frame t // 3 of the model's
        q = p[t // 3]
        assert s[t, w0] == pytest.approx(np.log(q[9] + PHONE_BLANK_WEIGHT * q[0]), abs=1e-5)
        assert s[t, sil] == pytest.approx(np.log(q[1] + q[0]), abs=1e-5)
    short = ctc_pdf_scores(lp, cols, 14, blank=0, word_sep=1)  # more features than 3 x 4
    np.testing.assert_array_equal(short[12:], np.repeat(short[11:12], 2, axis=0))


def test_a_forced_alignment_over_ctc_scores_puts_each_phone_over_its_spike(lang):
    from speechseq.hybrid.align import ctc_columns, ctc_pdf_scores

    # "one two": W AH N | T UW, spikes at 10 ms frames (one model frame per feature frame)
    spikes = {6: "w", 9: "ah", 12: "n", 20: "|", 27: "t", 30: "uw"}
    scores = ctc_pdf_scores(
        _spiky_posteriors(spikes, 40), ctc_columns(lang, CTC_SYMBOLS, "ctc"), 40, 0, 1
    )
    aligner = Aligner(lang, {"u": "one two"}, "text")
    aligner.set_transitions(TransitionModel(lang.topo))
    best = aligner.align("u", scores)
    spans = phone_spans(best.columns, lang)
    assert [ph for ph, _, _ in spans if ph != "SIL"] == ["W", "AH", "N", "T", "UW"]
    for t, unit in spikes.items():
        ph = "SIL" if unit == "|" else unit.upper()
        assert any(p == ph and s <= t < e for p, s, e in spans), (t, unit, spans)
    # the blanks before the first spike and between the words are silence: words start near
    # their first spike (a state per frame at least: 2 states of W before frame 6 at most 1)
    words = word_spans(best, lang)
    assert [w for w, _, _ in words] == ["one", "two"]
    assert 5 <= words[0][1] <= 6 and 26 <= words[1][1] <= 27
