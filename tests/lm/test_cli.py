"""``speechseq lm train`` end to end."""

from __future__ import annotations

from typer.testing import CliRunner

from speechseq.cli.main import app
from speechseq.lm.ngram import NgramLM


def test_lm_train_writes_arpa_and_prints_counts_and_perplexity(tmp_path):
    text = tmp_path / "text"
    text.write_text("utt1 the cat sat\nutt2 the dog sat\nutt3 a cat ran\n")
    out = tmp_path / "lm" / "lm.arpa"
    res = CliRunner().invoke(
        app, ["lm", "train", str(text), "--order", "2", "--kaldi-text", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert "ngram 1=9" in res.output and "ngram 2=" in res.output
    assert "training perplexity" in res.output
    lm = NgramLM.read_arpa(out)
    assert lm.order == 2 and "cat" in lm.vocab and "utt1" not in lm.vocab


def test_lm_train_rejects_sentence_markers_with_file_and_line(tmp_path):
    text = tmp_path / "corpus.txt"
    text.write_text("the cat\n<s> the dog\n")
    out = tmp_path / "lm.arpa"
    res = CliRunner().invoke(app, ["lm", "train", str(text), "--out", str(out)])
    assert res.exit_code == 1
    assert "corpus.txt:2: <s> inside a sentence" in res.output
    assert not out.exists()
