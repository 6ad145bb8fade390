"""``train-st``, ``train-mt``, ``translate``: speech translation and the text model of the cascade.

Scoring a data dir is ``speechseq decode`` (cli/asr.py): on a translation experiment it writes
BLEU and chrF; with ``--cascade MT_EXP`` it recognises with the given ASR experiment first.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from speechseq.cli.common import (
    CHANNEL,
    DEVICE,
    ON_THE_FLY,
    TrainingOptions,
    beam_option,
    commands,
    dev_option,
    info,
    json_option,
    out_option,
    target_option,
    training_command,
    units_option,
)
from speechseq.core.experiment import resolve_config

app = commands()

TARGET = target_option(
    "Target language: the data dirs' text.<lang> (fr, de, es) [config: st.target, default fr]."
)
UNITS = units_option("Target tokens: char | bpe [config: st.units, default bpe].")


def _st_sections(training: TrainingOptions, features: dict | None = None, **st) -> dict:
    return {"train": training.overrides, "st": st, "features": features or {}}


@training_command(app, "train-st", max_epochs=40, max_frames=20000)
def train_st_cmd(
    train: Path = typer.Argument(..., help="Training data dir (feats.scp and text.<lang>)."),
    dev: Path = dev_option("Dev data dir, for BLEU and early stopping."),
    out: Path = out_option("Model directory to write (exp/<model>)."),
    target: str | None = TARGET,
    units: str | None = UNITS,
    ctc_weight: float | None = typer.Option(
        None,
        "--ctc-weight",
        help="Weight of an auxiliary CTC loss on the English transcript (text); 0 reads no "
        "transcript at all [config: st.ctc_weight, default 0].",
    ),
    sampling_prob: float | None = typer.Option(
        None,
        "--sampling-prob",
        help="Scheduled sampling: final probability of feeding the model's own token [config: st.sampling_prob, default 0].",
    ),
    on_the_fly: bool | None = ON_THE_FLY,
    *,
    training: TrainingOptions,
) -> None:
    """Train an attention encoder-decoder that translates speech into target-language text.

    No English transcript is read unless --ctc-weight > 0. Start the encoder from a CTC model
    with --init-from EXP --init-part encoder. Writes config.yaml, tokens.txt, final.pt and
    metrics.csv into OUT; the dev BLEU (greedy) picks the best epoch.
    """
    # deferred: the translation task imports torch, which is slow to import
    from speechseq.st.task import STConfig
    from speechseq.st.training import train_st

    cfg = resolve_config(
        STConfig,
        training.config,
        _st_sections(
            training,
            {"on_the_fly": on_the_fly},
            target=target,
            units=units,
            ctc_weight=ctc_weight,
            sampling_prob=sampling_prob,
        ),
    )
    state = train_st(train, dev, out, cfg, resume=training.resume, overwrite=training.overwrite)
    info(f"{out}: best dev BLEU {state.best_metric or 0:.2f} at epoch {state.best_epoch}")


@training_command(app, "train-mt", max_epochs=30, max_frames=4000)
def train_mt_cmd(
    train: Path = typer.Argument(
        ..., help="Training data dir (text and text.<lang>); no audio is read."
    ),
    dev: Path = dev_option("Dev data dir, for BLEU and early stopping."),
    out: Path = out_option("Model directory to write (exp/<model>)."),
    target: str | None = TARGET,
    units: str | None = UNITS,
    *,
    training: TrainingOptions,
) -> None:
    """Train a text translation model (English words -> target tokens) for the cascade baseline.

    --max-frames counts source words per batch here.
    """
    # deferred: the translation task imports torch, which is slow to import
    from speechseq.st.task import MTConfig
    from speechseq.st.training import train_mt

    cfg = resolve_config(
        MTConfig, training.config, _st_sections(training, target=target, units=units)
    )
    state = train_mt(train, dev, out, cfg, resume=training.resume, overwrite=training.overwrite)
    info(f"{out}: best dev BLEU {state.best_metric or 0:.2f} at epoch {state.best_epoch}")


@app.command("translate")
def translate_cmd(
    exp: Path = typer.Argument(..., help="Speech translation model directory (train-st)."),
    files: list[Path] = typer.Argument(..., help="Audio files (any format soundfile reads)."),
    beam: int = beam_option(5, "Beam size; 1 = greedy."),
    nbest: int = typer.Option(1, "--nbest", min=1, help="Hypotheses in the --json output."),
    target: str | None = target_option("Check that the model translates into this language."),
    as_json: bool = json_option("JSON with the n-best list and scores instead of text lines."),
    device: str = DEVICE,
    channel: str = CHANNEL,
) -> None:
    """Translate audio files: one line of target-language text per file, or JSON."""
    # deferred: inference imports torch, which is slow to import
    from speechseq.decode.seq2seq import Seq2SeqDecodeOptions
    from speechseq.st.translate import translate_files

    opts = Seq2SeqDecodeOptions(beam=beam, nbest=min(nbest, beam))
    results = translate_files(
        exp, [str(f) for f in files], opts, device=device, target=target, channel=channel
    )
    if as_json:
        print(json.dumps(results if len(results) > 1 else results[0], indent=2, ensure_ascii=False))
    else:
        for r in results:
            print(f"{r['file']}\t{r['text']}" if len(results) > 1 else r["text"])
