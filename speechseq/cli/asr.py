"""``train-ctc``, ``decode``, ``align``, ``transcribe``."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from speechseq.cli.common import (
    CHANNEL,
    DEVICE,
    TrainingOptions,
    commands,
    dev_option,
    float_list,
    info,
    json_option,
    lm_option,
    out_option,
    training_command,
)
from speechseq.core.experiment import resolve_config
from speechseq.errors import SpeechseqError, UsageError

app = commands()

BEAM = typer.Option(1, "--beam", min=1, help="Beam size; 1 = greedy.")
LM = lm_option("Word n-gram LM in ARPA format (speechseq lm train).")


@training_command(app, "train-ctc", max_epochs=30, max_frames=12000)
def train_ctc_cmd(
    train: Path = typer.Argument(..., help="Training data dir (with feats.scp and text)."),
    dev: Path = dev_option("Dev data dir, for CER and early stopping."),
    out: Path = out_option("Model directory to write (exp/<model>)."),
    units: str | None = typer.Option(
        None, "--units", help="char | phone | bpe [config: ctc.units, default char]."
    ),
    lexicon: str | None = typer.Option(
        None, "--lexicon", help="Kaldi lexicon.txt for phone units (default: CMUdict)."
    ),
    drop_unfit: bool | None = typer.Option(
        None,
        "--drop-unfit/--no-drop-unfit",
        help="Leave out utterances too short for their targets instead of stopping with a list "
        "[config: ctc.drop_unfit, default off].",
    ),
    spec_augment: bool | None = typer.Option(
        None,
        "--spec-augment/--no-spec-augment",
        help="SpecAugment masks on training batches [config: ctc.spec_augment, default on].",
    ),
    *,
    training: TrainingOptions,
) -> None:
    """Train a CTC acoustic model (shared encoder + CTC loss).

    Writes config.yaml, units.txt, checkpoints/, final.pt and metrics.csv into OUT; the dev
    CER picks the best epoch.
    """
    # deferred: the CTC task imports torch, which is slow to import
    from speechseq.asr.ctc import CTCConfig
    from speechseq.asr.training import train_ctc

    cfg = resolve_config(
        CTCConfig,
        training.config,
        {
            "train": training.overrides,
            "ctc": {
                "units": units,
                "lexicon": lexicon,
                "drop_unfit": drop_unfit,
                "spec_augment": spec_augment,
            },
        },
    )
    state = train_ctc(train, dev, out, cfg, resume=training.resume, overwrite=training.overwrite)
    info(f"{out}: best dev CER {100 * (state.best_metric or 0):.2f}% at epoch {state.best_epoch}")


@app.command("decode")
def decode_cmd(
    exp: Path = typer.Argument(..., help="Model directory (train-ctc, train-hybrid)."),
    data: Path = typer.Argument(..., help="Data dir with feats.scp (and text for scoring)."),
    beam: float | None = typer.Option(
        None,
        "--beam",
        min=1,
        help="Beam size; 1 = greedy [default 1]. With --graph: the search beam in cost units "
        "[default 13].",
    ),
    lm: str | None = LM,
    lexicon: str | None = typer.Option(
        None,
        "--lexicon",
        help="Restrict words to this lexicon (Kaldi lexicon.txt or word list).",
    ),
    graph: str | None = typer.Option(
        None, "--graph", help="Hybrid models: the graph dir to search (speechseq mkgraph)."
    ),
    max_active: int = typer.Option(
        7000, "--max-active", min=1, help="With --graph: most states kept per frame."
    ),
    acoustic_scale: float = typer.Option(
        0.1, "--acoustic-scale", min=0.0, help="With --graph: weight of the acoustic scores."
    ),
    lm_weight: str = typer.Option(
        "0.5",
        "--lm-weight",
        help="LM weight (log10 scores converted to nats); a comma list (0.5,1,1.5) decodes "
        "every value from one pass of the network.",
    ),
    word_bonus: str = typer.Option(
        "1.0",
        "--word-bonus",
        help="Score added per word with an LM or a lexicon; a comma list decodes a grid.",
    ),
    device: str = DEVICE,
    out: Path | None = out_option(
        "Output dir [default: EXP/decode_<set>_<options>, e.g. decode_test_beam10]; "
        "only for a single grid point.",
        required=False,
    ),
) -> None:
    """Decode a data dir: hyp.txt, per_utt, per_spk, a Kaldi %WER line and results.json.

    The experiment's task chooses the search. With --lm and --beam 1 the beam becomes 10.
    A grid of --lm-weight x --word-bonus values writes one decode dir per point.
    """
    # deferred: decoding imports torch, which is slow to import
    from speechseq.decode.ctc import CTCDecodeOptions
    from speechseq.decode.run import decode_data

    if graph is not None:
        _decode_graph(exp, data, graph, beam, max_active, acoustic_scale, device, out)
        return
    if beam is not None and beam != int(beam):
        raise UsageError(f"--beam {beam}: a CTC beam is a whole number of hypotheses")
    beam = int(beam or 1)
    if lm and beam <= 1:
        beam = 10
    weights = float_list(lm_weight, "--lm-weight")
    bonuses = float_list(word_bonus, "--word-bonus")
    opts = CTCDecodeOptions(
        beam=beam, lm=lm or "", lexicon=lexicon or "", lm_weight=weights[0], word_bonus=bonuses[0]
    )
    results = decode_data(exp, data, opts, weights, bonuses, device=device, out_dir=out)
    for r in results:
        if "wer_line" in r:
            where = f" {r['out_dir']}" if len(results) > 1 else ""
            print(r["wer_line"] + where)
            print(r["cer_line"] + where)
        info(
            f"decoded {r['utterances']} utterances ({r['audio_s']:.1f} s audio) in {r['decode_s']:.2f} s: "
            f"RTF {r['rtf']:.4f} (search alone {r['search_rtf']:.4f}) -> {r['out_dir']}"
        )


def _decode_graph(exp, data, graph, beam, max_active, acoustic_scale, device, out) -> None:
    """Hybrid decoding over a graph dir: an LSTM's final.pt, or a GMM dir (EXP/mono)."""
    # deferred: graph decoding imports kaldi-decoder and torch
    from speechseq.decode.graph import GraphDecodeOptions
    from speechseq.decode.run import decode_data
    from speechseq.hybrid.training import decode_gmm

    if not (exp / "lang.json").is_file():
        raise SpeechseqError(
            f"{exp}: not a hybrid model (no lang.json) — --graph is for models of train-hybrid; "
            f"decode other models without --graph"
        )
    opts = GraphDecodeOptions(
        graph=graph, beam=beam or 13.0, max_active=max_active, acoustic_scale=acoustic_scale
    )
    if (exp / "gmm.npz").is_file() and not (exp / "final.pt").is_file():
        results = [decode_gmm(exp, data, opts, out_dir=out)]
    else:
        results = decode_data(exp, data, opts, device=device, out_dir=out)
    for r in results:
        if "wer_line" in r:
            print(r["wer_line"])
        info(
            f"decoded {r['utterances']} utterances ({r['audio_s']:.1f} s audio) in {r['decode_s']:.2f} s: "
            f"RTF {r['rtf']:.4f} (search alone {r['search_rtf']:.4f}) -> {r['out_dir']}"
        )


@app.command("align")
def align_cmd(
    exp: Path = typer.Argument(..., help="Model directory from train-ctc or train-hybrid."),
    data: Path = typer.Argument(..., help="Data dir with feats.scp and text."),
    out: Path = out_option("Word CTM to write; the unit CTM goes beside it (*.units.ctm)."),
    device: str = DEVICE,
) -> None:
    """Forced alignment of transcripts: word CTM and unit CTM (CTC), or for a hybrid model
    word CTM, phone CTM (*.phones.ctm) and state alignments (*.ali.ark)."""
    if (exp / "lang.json").is_file():
        # deferred: the hybrid chain imports torch and kaldifst
        from speechseq.hybrid.training import align_data as align_hybrid

        r = align_hybrid(exp, data, out, device=device)
        failed = (
            f"; {len(r['failed'])} could not be aligned: {' '.join(r['failed'][:5])}"
            if r["failed"]
            else ""
        )
        info(
            f"aligned {r['aligned']} utterances: {r['words']} (words), {r['phones']} (phones), {r['states']} (states){failed}"
        )
        return
    # deferred: inference imports torch, which is slow to import
    from speechseq.asr.inference import align_data

    n, unit_path = align_data(exp, data, out, device=device)
    info(f"aligned {n} utterances: {out} (words), {unit_path} (units)")


@app.command("transcribe")
def transcribe_cmd(
    exp: Path = typer.Argument(..., help="Model directory from train-ctc."),
    files: list[Path] = typer.Argument(..., help="Audio files (any format soundfile reads)."),
    beam: int = BEAM,
    lm: str | None = LM,
    as_json: bool = json_option("JSON with word timings instead of text lines."),
    device: str = DEVICE,
    channel: str = CHANNEL,
) -> None:
    """Transcribe audio files: one line of text per file, or JSON with word timings."""
    # deferred: inference imports torch, which is slow to import
    from speechseq.asr.inference import transcribe_files
    from speechseq.decode.ctc import CTCDecodeOptions  # deferred, as above

    opts = CTCDecodeOptions(beam=10 if lm and beam <= 1 else beam, lm=lm or "")
    results = transcribe_files(
        exp, [str(f) for f in files], device=device, options=opts, channel=channel
    )
    if as_json:
        print(json.dumps(results if len(results) > 1 else results[0], indent=2))
    else:
        for r in results:
            print(f"{r['file']}\t{r['text']}" if len(results) > 1 else r["text"])
