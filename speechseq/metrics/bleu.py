"""Corpus BLEU and chrF for translation output, computed by sacrebleu.

sacrebleu is the field's reference implementation (Post 2018): its default BLEU (13a
tokenisation, exponential smoothing, one reference) and chrF2 are what papers quote, and its
signature line says exactly which settings gave a figure, so we keep it rather than write our
own n-gram counting. ``translation_scores`` returns both scores, the signature strings and
the lines written to a decode dir's ``bleu`` file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from speechseq.errors import SpeechseqError


@dataclass(frozen=True)
class TranslationScores:
    bleu: float  # corpus BLEU, 0-100
    chrf: float  # corpus chrF2, 0-100
    bleu_line: str  # sacrebleu's own summary: "BLEU = 61.20 80.1/66.0/... (BP = ...)"
    chrf_line: str
    bleu_signature: str  # "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0"
    chrf_signature: str
    sentences: int

    def lines(self) -> list[str]:
        """The ``bleu`` file of a decode dir: both scores with their signatures."""
        return [
            f"{self.bleu_line} ({self.sentences} sentences) {self.bleu_signature}",
            f"{self.chrf_line} {self.chrf_signature}",
        ]


def translation_scores(refs: Mapping[str, str], hyps: Mapping[str, str]) -> TranslationScores:
    """Corpus BLEU and chrF of ``hyps`` against ``refs`` (one reference per utterance id).

    Every hypothesis needs a reference: a missing one is an error naming the utterance.
    """
    try:
        from sacrebleu.metrics import BLEU, CHRF
    except ImportError:  # pragma: no cover - a core dependency; a broken install says so
        raise SpeechseqError(
            "sacrebleu is not installed — pip install sacrebleu (it scores BLEU and chrF)"
        ) from None
    missing = [u for u in hyps if u not in refs]
    if missing:
        raise SpeechseqError(
            f"{len(missing)} hypothesis(es) have no reference translation (first: {missing[0]}) — "
            f"the data dir's text.<lang> must cover every utterance decoded"
        )
    utts = sorted(hyps)
    sys_out = [hyps[u] for u in utts]
    ref_out = [[refs[u] for u in utts]]
    bleu, chrf = BLEU(), CHRF()
    b = bleu.corpus_score(sys_out, ref_out)
    c = chrf.corpus_score(sys_out, ref_out)
    return TranslationScores(
        bleu=float(b.score),
        chrf=float(c.score),
        bleu_line=str(b),
        chrf_line=str(c),
        bleu_signature=str(bleu.get_signature()),
        chrf_signature=str(chrf.get_signature()),
        sentences=len(utts),
    )
