"""``speechseq lm``: word n-gram language models (ARPA) for CTC decoding."""

from __future__ import annotations

from pathlib import Path

import typer

from speechseq.cli.common import info, noun_group, out_option
from speechseq.lm.ngram import read_sentences, train_ngram

app = noun_group(
    "lm", "Word n-gram language models (modified Kneser-Ney, ARPA files) for decoding."
)


@app.command("train")
def train_cmd(
    text: Path = typer.Argument(
        ..., help="Training text: one sentence per line (or a Kaldi text with --kaldi-text)."
    ),
    out: Path = out_option("ARPA file to write."),
    order: int = typer.Option(3, "--order", min=1, help="n-gram order."),
    kaldi_text: bool = typer.Option(
        False,
        "--kaldi-text",
        help="TEXT is a Kaldi 'text' file: drop the first field (utterance id).",
    ),
) -> None:
    """Train an interpolated modified Kneser-Ney n-gram model and write it as ARPA."""
    sentences, empty = read_sentences(text, kaldi_text=kaldi_text)
    if empty:
        info(f"{text}: {empty} empty line(s) are not sentences and were left out")
    lm = train_ngram(sentences, order=order)
    for note in lm.notes:
        info(f"note: {note}")
    lm.write_arpa(out)
    words = sum(len(s) for s in sentences)
    info(f"{out}: order {order} from {len(sentences)} sentences, {words} words")
    for n, count in enumerate(lm.counts(), start=1):
        d = lm.discounts.get(n)
        disc = f"  discounts D1={d[0]:.4f} D2={d[1]:.4f} D3+={d[2]:.4f}" if d else ""
        print(f"ngram {n}={count}{disc}")
    print(f"training perplexity {lm.perplexity(sentences):.2f}")
