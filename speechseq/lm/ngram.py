"""Word n-gram language models: interpolated modified Kneser-Ney training, ARPA files, scoring.

Training follows Chen & Goodman (1998) as KenLM's ``lmplz`` implements it:

- Every sentence is padded to ``<s> w1 .. wk </s>``. The highest order uses raw counts; a
  lower-order n-gram uses its *continuation count* (the number of distinct words seen to its
  left), except an n-gram that starts with ``<s>``, which nothing can precede, and so keeps
  its raw count ("adjusted counts").
- Each order n has three discounts from its count-of-counts n1..n4 (of adjusted counts):
  ``Y = n1 / (n1 + 2 n2)``, ``D1 = 1 - 2Y n2/n1``, ``D2 = 2 - 3Y n3/n2``, ``D3+ = 3 - 4Y n4/n3``.
  On tiny corpora some n_k are 0 or a discount leaves (0, k]; that order then uses KenLM's
  ``--discount_fallback`` values D1=0.5, D2=1, D3+=1.5 and the model records a note.
- ``p(w|h) = (a(hw) - D(a(hw))) / a(h.) + gamma(h) p(w|h')`` with
  ``gamma(h) = (D1 N1(h.) + D2 N2(h.) + D3+ N3+(h.)) / a(h.)`` and h' = h without its first word.
  The unigram level interpolates with the uniform distribution over the predictable
  vocabulary V (all words, ``</s>`` and ``<unk>``; not ``<s>``). ``<unk>`` has no count, so its
  probability is exactly its share of the unigram discount mass: ``gamma() / |V|``.
- Written as ARPA, an n-gram's probability is the interpolated one and a context's back-off
  weight is ``gamma(h)``, so back-off scoring reproduces the interpolated model exactly.
  ``<s>`` is never predicted: its unigram log10 probability is -99 (SRILM, KenLM).

Scoring works on states, tuples of the last ``order - 1`` words trimmed on the left to the
longest context that the model can extend (as KenLM does), so equal-probability histories
share a state. Log probabilities are base 10, as in ARPA files.
"""

from __future__ import annotations

import gzip
import math
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

from speechseq.data.kaldi_dir import read_table, read_table_lines
from speechseq.errors import SpeechseqError, where
from speechseq.fileio import atomic_write

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
NO_PROB = -99.0  # log10 "probability" written for <s>, which is never predicted
MISSING_UNK_LOGP = -100.0  # log10 p(<unk>) assumed when an ARPA file has no <unk> (as KenLM does)
FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)  # D1, D2, D3+ when count-of-counts cannot give them (KenLM)

State = tuple[str, ...]  # the last <= order-1 words, oldest first


def modified_kn_discounts(coc: dict[int, int]) -> tuple[float, float, float] | None:
    """``(D1, D2, D3+)`` from count-of-counts ``{1: n1, .., 4: n4}``; None if they cannot be formed.

    Chen & Goodman's estimates need n1, n2, n3 > 0 and each D_k must lie in (0, k]
    (a larger discount would give negative probabilities).
    """
    n1, n2, n3, n4 = (coc.get(k, 0) for k in (1, 2, 3, 4))
    if n1 == 0 or n2 == 0 or n3 == 0:
        return None
    y = n1 / (n1 + 2 * n2)
    d = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
    if not all(0 < dk <= k for k, dk in enumerate(d, start=1)):
        return None
    return d


def train_ngram(
    sentences: Iterable[Sequence[str]],
    order: int = 3,
    discounts: str | Sequence[float] = "modified-kn",
) -> NgramLM:
    """Train an interpolated modified Kneser-Ney word n-gram model.

    ``sentences``: word lists without ``<s>``/``</s>``. ``discounts``: ``"modified-kn"`` (from the
    data, per order) or three numbers ``(D1, D2, D3+)`` used for every order.
    """
    if order < 1:
        raise SpeechseqError(
            f"n-gram order {order} is not valid — use an order of 1 or more (3 is usual)"
        )
    fixed = None
    if isinstance(discounts, str):
        if discounts != "modified-kn":
            raise SpeechseqError(
                f"discounts '{discounts}' is not known — use 'modified-kn' or three numbers D1 D2 D3+"
            )
    else:
        fixed = tuple(float(d) for d in discounts)
        if len(fixed) != 3 or not all(0 < d <= k for k, d in enumerate(fixed, start=1)):
            raise SpeechseqError(
                f"discounts {discounts} are not valid — give three numbers D1 D2 D3+ with 0 < Dk <= k"
            )

    # raw[n][ngram]: how often the n-gram occurs in the padded sentences
    raw: list[Counter] = [Counter() for _ in range(order + 1)]
    n_sent = 0
    for i, words in enumerate(sentences, start=1):
        words = tuple(words)
        if BOS in words or EOS in words or "" in words:
            bad = next(w for w in words if w in (BOS, EOS, ""))
            raise SpeechseqError(
                f"sentence {i}: word {bad!r} cannot appear inside a sentence — sentences are padded with "
                f"{BOS} and {EOS} automatically; remove it from the text"
            )
        toks = (BOS, *words, EOS)
        for n in range(1, min(order, len(toks)) + 1):
            c = raw[n]
            for j in range(len(toks) - n + 1):
                c[toks[j : j + n]] += 1
        n_sent += 1
    if n_sent == 0:
        raise SpeechseqError("no sentences to train the language model on — give a non-empty text")

    # adjusted counts: raw at the highest order and for n-grams starting with <s>, else continuation counts
    adj: list[dict[State, int]] = [{} for _ in range(order + 1)]
    adj[order] = dict(raw[order])
    for n in range(order - 1, 0, -1):
        left = Counter(g[1:] for g in raw[n + 1])
        adj[n] = {g: (c if g[0] == BOS else left[g]) for g, c in raw[n].items()}
    adj[1].pop((BOS,), None)  # <s> is never predicted

    disc: dict[int, tuple[float, float, float]] = {}
    notes: list[str] = []
    for n in range(1, order + 1):
        coc = Counter(a for a in adj[n].values() if a <= 4)
        d = fixed or modified_kn_discounts(coc)
        if d is None:
            d = FALLBACK_DISCOUNTS
            notes.append(
                f"order {n}: count-of-counts n1..n4 = {[coc.get(k, 0) for k in (1, 2, 3, 4)]} cannot give modified "
                f"Kneser-Ney discounts (too few n-grams seen 1, 2 or 3 times, usual for tiny corpora or small vocabularies); using D1={d[0]} D2={d[1]} D3+={d[2]}"
            )
        disc[n] = d

    def discount(n: int, a: int) -> float:
        return 0.0 if a == 0 else disc[n][min(a, 3) - 1]

    # per-context totals a(h.) and back-off mass gamma(h), for contexts of every order
    totals: list[dict[State, int]] = [{} for _ in range(order + 1)]
    gamma: dict[State, float] = {}
    for n in range(1, order + 1):
        total: dict[State, int] = defaultdict(int)
        mass: dict[State, float] = defaultdict(float)
        for g, a in adj[n].items():
            total[g[:-1]] += a
            mass[g[:-1]] += discount(n, a)
        for h, t in total.items():
            gamma[h] = mass[h] / t
        totals[n] = total

    vocab = {g[0] for g in adj[1]} | {EOS, UNK}
    uniform = 1.0 / len(vocab)
    probs: dict[State, float] = {}
    for w in vocab:
        a = adj[1].get((w,), 0)
        probs[(w,)] = (a - discount(1, a)) / totals[1][()] + gamma[()] * uniform
    for n in range(2, order + 1):
        total = totals[n]
        for g, a in adj[n].items():
            probs[g] = (a - discount(n, a)) / total[g[:-1]] + gamma[g[:-1]] * probs[g[1:]]

    ngrams: dict[State, tuple[float, float]] = {}
    for g, p in probs.items():
        bow = math.log10(gamma[g]) if len(g) < order and g in gamma else 0.0
        ngrams[g] = (math.log10(p), bow)
    ngrams[(BOS,)] = (NO_PROB, math.log10(gamma[(BOS,)]) if order > 1 and (BOS,) in gamma else 0.0)
    return NgramLM(ngrams, order, discounts=disc, notes=notes)


class NgramLM:
    """A back-off word n-gram model: ``ngrams[(w1, .., wn)] = (log10 p, log10 back-off weight)``."""

    def __init__(
        self,
        ngrams: dict[State, tuple[float, float]],
        order: int,
        discounts: dict[int, tuple[float, float, float]] | None = None,
        notes: Sequence[str] = (),
    ):
        self.order = order
        self.discounts = discounts or {}  # order -> (D1, D2, D3+), for models trained here
        self.notes = list(notes)  # what a person should know about how the model was made
        self._ngrams = ngrams
        if (UNK,) not in ngrams:
            ngrams[(UNK,)] = (MISSING_UNK_LOGP, 0.0)
            self.notes.append(
                f"the model has no {UNK}; unknown words get log10 p = {MISSING_UNK_LOGP}"
            )
        self.vocab = frozenset(g[0] for g in ngrams if len(g) == 1)
        # contexts a state must keep: prefixes of longer n-grams, and n-grams with a back-off weight
        self._keep = {g[:-1] for g in ngrams if len(g) > 1} | {
            g for g, (_, b) in ngrams.items() if b != 0.0
        }
        self._cache: dict[tuple[State, str], tuple[float, State]] = {}

    def __len__(self) -> int:
        return len(self._ngrams)

    def counts(self) -> list[int]:
        """Number of n-grams of each order 1..order."""
        c = Counter(len(g) for g in self._ngrams)
        return [c[n] for n in range(1, self.order + 1)]

    def ngrams(self, n: int) -> dict[State, tuple[float, float]]:
        """The n-grams of order ``n`` with their ``(log10 p, log10 back-off weight)``."""
        return {g: v for g, v in self._ngrams.items() if len(g) == n}

    # ---- scoring ----------------------------------------------------------------------------

    def _trim(self, words: State) -> State:
        """The last ``order - 1`` words, shortened on the left to the longest context the model can use."""
        ctx = words[-(self.order - 1) :] if self.order > 1 else ()
        while ctx and ctx not in self._keep:
            ctx = ctx[1:]
        return ctx

    def begin_state(self) -> State:
        """The state after ``<s>``."""
        return self._trim((BOS,))

    def score(self, state: State, word: str) -> tuple[float, State]:
        """``(log10 p(word | state), next state)``; a word outside the vocabulary is scored as ``<unk>``."""
        key = (state, word)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        w = word if word in self.vocab else UNK
        ng = self._ngrams
        back_off = 0.0
        ctx = state
        while True:
            e = ng.get(ctx + (w,))
            if e is not None:
                logp = back_off + e[0]
                break
            b = ng.get(ctx)
            if b is not None:
                back_off += b[1]
            ctx = ctx[1:]
        out = (logp, self._trim(state + (w,)))
        if len(self._cache) > 1_000_000:
            self._cache.clear()
        self._cache[key] = out
        return out

    def end_score(self, state: State) -> float:
        """log10 p(``</s>`` | state)."""
        return self.score(state, EOS)[0]

    def logprob(self, word: str, context: Sequence[str] = ()) -> float:
        """log10 p(word | context) for any word sequence ``context`` (``<s>`` first for a sentence start)."""
        return self.score(self._trim(tuple(context)), word)[0]

    def sentence_logprob(self, words: Sequence[str]) -> float:
        """log10 p(``<s>`` words ``</s>``)."""
        state, total = self.begin_state(), 0.0
        for w in words:
            lp, state = self.score(state, w)
            total += lp
        return total + self.end_score(state)

    def perplexity(self, sentences: Iterable[Sequence[str]]) -> float:
        """``10 ** (-sum log10 p / N)`` over N = words + one ``</s>`` per sentence (unknown words as ``<unk>``)."""
        total, n = 0.0, 0
        for words in sentences:
            total += self.sentence_logprob(words)
            n += len(words) + 1
        if n == 0:
            raise SpeechseqError("perplexity needs at least one sentence")
        return 10 ** (-total / n)

    # ---- ARPA files ---------------------------------------------------------------------------

    def write_arpa(self, path: str | os.PathLike) -> None:
        """Write the model as an ARPA file (atomically): log10 probabilities and back-off weights."""
        by_order: list[list[State]] = [[] for _ in range(self.order + 1)]
        for g in self._ngrams:
            by_order[len(g)].append(g)
        with atomic_write(path) as f:
            f.write("\n\\data\\\n")
            for n in range(1, self.order + 1):
                f.write(f"ngram {n}={len(by_order[n])}\n")
            for n in range(1, self.order + 1):
                f.write(f"\n\\{n}-grams:\n")
                for g in sorted(by_order[n]):
                    logp, bow = self._ngrams[g]
                    line = f"{_fmt(logp)}\t{' '.join(g)}"
                    if n < self.order and (bow != 0.0 or g in self._keep):
                        line += f"\t{_fmt(bow)}"
                    f.write(line + "\n")
            f.write("\n\\end\\\n")

    @classmethod
    def read_arpa(cls, path: str | os.PathLike) -> NgramLM:
        """Read an ARPA file (plain or ``.gz``); a malformed line is an error naming ``file:line``."""
        try:
            f = (
                gzip.open(path, "rt", encoding="utf-8")
                if str(path).endswith(".gz")
                else open(path, encoding="utf-8")
            )
        except FileNotFoundError:
            raise SpeechseqError(
                f"{path}: no such ARPA file — train one with 'speechseq lm train'"
            ) from None
        try:
            with f:
                return cls(*_parse_arpa(f, path))
        except UnicodeDecodeError as e:
            raise SpeechseqError(
                f"{path}: not UTF-8 text ({e.reason}) — an ARPA file is text; gzip files need the .gz suffix"
            ) from None


def _fmt(x: float) -> str:
    return f"{x:.9g}"


def _parse_arpa(lines: Iterable[str], path) -> tuple[dict[State, tuple[float, float]], int]:
    declared: dict[int, int] = {}
    ngrams: dict[State, tuple[float, float]] = {}
    seen: Counter = Counter()
    section = None  # None: before \data\, 0: in \data\, n: in \n-grams:
    header_line: dict[int, int] = {}
    ended = False
    for lineno, raw in enumerate(lines, start=1):
        line = raw.strip()
        if ended or (section is None and line != "\\data\\"):
            continue  # text before \data\ and after \end\ is free-form in ARPA
        if not line:
            continue
        if line == "\\data\\":
            if section is not None:
                raise SpeechseqError(
                    f"{where(path, lineno)}: a second \\data\\ header — an ARPA file has one"
                )
            section = 0
            continue
        if line == "\\end\\":
            ended = True
            continue
        if line.startswith("\\") and line.endswith("-grams:"):
            try:
                n = int(line[1 : -len("-grams:")])
            except ValueError:
                raise SpeechseqError(
                    f"{where(path, lineno)}: section header {line!r} — expected \\N-grams:"
                ) from None
            if n not in declared:
                raise SpeechseqError(
                    f"{where(path, lineno)}: section {line} has no 'ngram {n}=COUNT' line in \\data\\"
                )
            section, header_line[n] = n, lineno
            continue
        if section == 0:
            key, _, val = line.partition("=")
            parts = key.split()
            if (
                len(parts) != 2
                or parts[0] != "ngram"
                or not parts[1].isdigit()
                or not val.strip().isdigit()
            ):
                raise SpeechseqError(
                    f"{where(path, lineno)}: {line!r} in \\data\\ — expected 'ngram N=COUNT'"
                )
            declared[int(parts[1])] = int(val)
            continue
        fields = line.split()
        n = section
        if len(fields) not in (n + 1, n + 2):
            raise SpeechseqError(
                f"{where(path, lineno)}: {n}-gram line has {len(fields)} fields — expected log10-prob, {n} word(s) "
                f"and an optional back-off weight"
            )
        try:
            logp = float(fields[0])
            bow = float(fields[n + 1]) if len(fields) == n + 2 else 0.0
        except ValueError:
            raise SpeechseqError(
                f"{where(path, lineno)}: {line!r} — probability and back-off weight must be numbers"
            ) from None
        if not (math.isfinite(logp) and math.isfinite(bow)) or logp > 0:
            raise SpeechseqError(
                f"{where(path, lineno)}: {line!r} — log10 probabilities must be finite and <= 0"
            )
        ngrams[tuple(fields[1 : n + 1])] = (logp, bow)
        seen[n] += 1
    if section is None:
        raise SpeechseqError(f"{path}: no \\data\\ header — not an ARPA language model")
    if not ended:
        raise SpeechseqError(f"{path}: no \\end\\ line — the file is truncated; write it again")
    for n, count in declared.items():
        if seen[n] != count:
            at = where(path, header_line.get(n))
            raise SpeechseqError(
                f"{at}: \\data\\ declares {count} {n}-grams but the file has {seen[n]} — the file is damaged"
            )
    order = max((n for n, c in declared.items() if c > 0), default=0)
    if order == 0:
        raise SpeechseqError(f"{path}: the model has no n-grams")
    return ngrams, order


def read_sentences(
    path: str | os.PathLike, kaldi_text: bool = False
) -> tuple[list[list[str]], int]:
    """Word lists from a text file, one sentence per line; returns ``(sentences, empty_lines)``.

    ``kaldi_text``: the file is a Kaldi ``text`` table and the first field (the utterance id)
    is dropped. Empty lines of a plain text are not sentences; their number is returned so a
    caller can report it. ``<s>``/``</s>`` inside a line is an error naming ``file:line``.
    """
    if kaldi_text:
        rows = read_table(path)  # checks ids and empty transcripts, errors name file:line
        lines = {tl.key: tl.lineno for tl in read_table_lines(path)}
        items = [(lines[k], v) for k, v in rows.items()]
    else:
        items = [(tl.lineno, f"{tl.key} {tl.value}") for tl in read_table_lines(path)]
    sentences, empty = [], 0
    for lineno, text in items:
        words = text.split()
        if not words:
            empty += 1
            continue
        for w in words:
            if w in (BOS, EOS):
                raise SpeechseqError(
                    f"{where(path, lineno)}: {w} inside a sentence — sentences are padded with {BOS} and {EOS} "
                    f"automatically; remove it"
                )
        sentences.append(words)
    if not sentences:
        raise SpeechseqError(
            f"{path}: no sentences — the language model needs a text with at least one line of words"
        )
    return sentences, empty
