"""``train-ctc``, ``decode``, ``align``, ``transcribe``."""

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
    float_list,
    from_parts_option,
    info,
    json_option,
    lm_option,
    out_option,
    target_option,
    training_command,
    units_option,
)
from speechseq.core.experiment import resolve_config
from speechseq.errors import SpeechseqError, UsageError

app = commands()

BEAM = beam_option(1, "Beam size; 1 = greedy.")
LM = lm_option("Word n-gram LM in ARPA format (speechseq lm train).")


@training_command(app, "train-ctc", max_epochs=30, max_frames=12000)
def train_ctc_cmd(
    train: Path = typer.Argument(..., help="Training data dir (with feats.scp and text)."),
    dev: Path = dev_option("Dev data dir, for CER and early stopping."),
    out: Path = out_option("Model directory to write (exp/<model>)."),
    units: str | None = units_option("char | phone | bpe [config: ctc.units, default char]."),
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
    on_the_fly: bool | None = ON_THE_FLY,
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
            "features": {"on_the_fly": on_the_fly},
        },
    )
    state = train_ctc(train, dev, out, cfg, resume=training.resume, overwrite=training.overwrite)
    info(f"{out}: best dev CER {100 * (state.best_metric or 0):.2f}% at epoch {state.best_epoch}")


@app.command("decode")
def decode_cmd(
    exp: Path = typer.Argument(
        ...,
        help="Model directory (train-ctc, train-hybrid, train-st; the ASR model with --cascade).",
    ),
    data: Path = typer.Argument(
        ..., help="Data dir with feats.scp (and text / text.<lang> for scoring)."
    ),
    beam: float | None = beam_option(
        None,
        "Beam size; 1 = greedy [default: 1 for CTC, 5 for translation]. With --graph: the "
        "search beam in cost units [default 13].",
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
    lattice: bool = typer.Option(
        False,
        "--lattice",
        help="With --graph: keep a lattice per utterance (lat.txt.gz, Kaldi's text form) and "
        "rescore it at each --lm-weight / --word-bonus without searching again.",
    ),
    lattice_beam: float = typer.Option(
        8.0,
        "--lattice-beam",
        min=0.0,
        help="With --lattice: keep paths within this cost of the best.",
    ),
    lm_weight: str | None = typer.Option(
        None,
        "--lm-weight",
        help="LM weight (log10 scores converted to nats) [default 0.5; with --graph --lattice: "
        "the graph costs' weight, default 1]; a comma list (0.5,1,1.5) decodes every value from "
        "one pass of the network.",
    ),
    word_bonus: str | None = typer.Option(
        None,
        "--word-bonus",
        help="Score added per word with an LM or a lexicon [default 1.0; with --graph --lattice: "
        "0]; a comma list decodes a grid.",
    ),
    cascade: Path | None = typer.Option(
        None,
        "--cascade",
        help="Text translation model (train-mt): recognise with EXP, then translate; scored with BLEU.",
    ),
    mt_beam: int = typer.Option(5, "--mt-beam", min=1, help="With --cascade: the MT model's beam."),
    plot_attention: Path | None = typer.Option(
        None, "--plot-attention", help="Translation: write attention maps (PNG per utterance) here."
    ),
    target: str | None = target_option(
        "Translation: check that the model translates into this language."
    ),
    device: str = DEVICE,
    out: Path | None = out_option(
        "Output dir [default: EXP/decode_<set>_<options>, e.g. decode_test_beam10]; with a "
        "grid of several points, the dir that holds one dir per point (OUT/<options>), "
        "replaced whole.",
        required=False,
    ),
    from_parts: Path | None = from_parts_option(
        "DATA/splitN: instead of decoding, score as one decode dir (--out OUT) the parts "
        "of 'speechseq data split DATA N' decoded apart (e.g. on Slurm; recipes/utils/"
        "parallel.sh) into OUT/part-1 .. OUT/part-N; every utterance of DATA must be in "
        "exactly one. The decode options are then those of the parts; parts decoded over a "
        "grid (OUT/part-K/<options>) become OUT/<options> for each point."
    ),
) -> None:
    """Decode a data dir. CTC: hyp.txt, per_utt, per_spk, a Kaldi %WER line and results.json.
    Translation: hyp.txt, ref.txt, per_utt and bleu (BLEU and chrF with sacrebleu's signature).

    The experiment's task chooses the search. With --lm and --beam 1 the beam becomes 10.
    A grid of --lm-weight x --word-bonus values writes one decode dir per point.
    """
    if from_parts is not None:
        _report_decode(_merge_decode_parts(data, from_parts, out))
        return
    # deferred: decoding imports torch, which is slow to import
    from speechseq.decode.ctc import CTCDecodeOptions
    from speechseq.decode.run import decode_data
    from speechseq.st.translate import options_by_task

    if graph is not None:
        opts = dict(beam=beam or 13.0, max_active=max_active, acoustic_scale=acoustic_scale)
        opts.update(lattice=lattice, lattice_beam=lattice_beam)
        _decode_graph(exp, data, graph, opts, lm_weight, word_bonus, device, out)
        return
    if lattice:
        raise UsageError("--lattice is for hybrid models decoded over a graph: add --graph DIR")
    beam = _whole_beam(beam)
    weights = float_list(lm_weight or "0.5", "--lm-weight")
    bonuses = float_list(word_bonus or "1.0", "--word-bonus")
    ctc_opts = CTCDecodeOptions(
        beam=10 if lm and (beam or 1) <= 1 else beam or 1,
        lm=lm or "",
        lexicon=lexicon or "",
        lm_weight=weights[0],
        word_bonus=bonuses[0],
    )
    if cascade is not None:
        _report_translation(
            _decode_cascade(exp, cascade, data, ctc_opts, mt_beam, device, out, plot_attention)
        )
        return
    results = decode_data(
        exp,
        data,
        options_by_task(
            ctc_opts,
            beam,
            target,
            bool(lm or lexicon or lm_weight or word_bonus),
            bool(plot_attention or target),
            str(exp),
        ),
        weights if lm_weight else None,
        bonuses if word_bonus else None,
        device=device,
        out_dir=out,
        plot_attention=plot_attention,
    )
    _report_decode(results)


def _merge_decode_parts(data: Path, split_dir: Path, out: Path | None) -> list[dict]:
    """``decode --from-parts``: the parts decoded into OUT/part-K scored as one decode dir (or,
    decoded over a grid, as OUT/<point> for each point)."""
    # deferred: the scoring imports decode.run, which imports torch
    from speechseq.decode.merge import merge_part_decodes

    if out is None:
        raise UsageError(
            "--from-parts needs --out OUT: the decode dir whose OUT/part-K dirs hold the parts"
        )
    return merge_part_decodes(data, split_dir, out)


def _decode_cascade(exp, cascade, data, ctc_opts, mt_beam, device, out, plot_attention) -> dict:
    """Recognise with the CTC model ``exp``, translate with the MT model ``cascade``, score."""
    # deferred: translation imports torch, which is slow to import
    from speechseq.decode.seq2seq import Seq2SeqDecodeOptions
    from speechseq.st.translate import cascade_decode

    mt_opts = Seq2SeqDecodeOptions(beam=mt_beam)
    return cascade_decode(
        exp,
        cascade,
        data,
        ctc_opts,
        mt_opts,
        device=device,
        out_dir=out,
        plot_attention=plot_attention,
    )


def _whole_beam(beam: float | None) -> int | None:
    """A CTC or translation beam: a whole number (only a graph beam may have a fraction)."""
    if beam is not None and beam != int(beam):
        raise UsageError(
            f"--beam {beam}: a CTC or translation beam is a whole number of hypotheses"
        )
    return int(beam) if beam is not None else None


def _report_decode(results: list[dict]) -> None:
    said = set()  # the points of a lattice grid share one search: its failures are said once
    for r in results:
        if "bleu" in r:
            _report_translation(r)
            continue
        if "wer_line" in r:
            where = f" {r['out_dir']}" if len(results) > 1 else ""
            print(r["wer_line"] + where)
            print(r["cer_line"] + where)
        info(
            f"decoded {r['utterances']} utterances ({r['audio_s']:.1f} s audio) in {r['decode_s']:.2f} s: "
            f"RTF {r['rtf']:.4f} (search alone {r['search_rtf']:.4f}) -> {r['out_dir']}"
            + (f" (from {r['parts']} parts, their times added up)" if r.get("parts") else "")
        )
        failed = r.get("no_final_state")
        if failed and tuple(failed) not in said:
            said.add(tuple(failed))
            info(
                f"{len(failed)} of {r['utterances']} utterance(s) reached no final state of the graph "
                f"within the beam (first: {failed[0]}; all in results.json): their hypotheses are "
                f"empty, scored as deletions — widen --beam, or check that the graph admits what they say"
            )


def _report_translation(r: dict) -> None:
    print(r["bleu_line"])
    print(r["chrf_line"])
    rtf = f": RTF {r['rtf']:.4f}" if r.get("rtf") is not None else ""
    info(f"translated {r['utterances']} utterances in {r['decode_s']:.2f} s{rtf} -> {r['out_dir']}")
    if r.get("unseen_words"):
        info(
            f"cascade: {r['unseen_words']} recognised word(s) ({r['unseen_types']} kinds) are not in "
            f"the MT model's vocabulary; translated as <unk>, listed in {r['out_dir']}/oov.txt"
        )
    if r.get("stopped_by_length_guard"):
        info(
            f"{len(r['stopped_by_length_guard'])} output(s) never emitted <eos> and stopped at the length guard"
        )


def _decode_graph(exp, data, graph, opts, lm_weight, word_bonus, device, out) -> None:
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
    weights = float_list(lm_weight, "--lm-weight") if lm_weight else None
    bonuses = float_list(word_bonus, "--word-bonus") if word_bonus else None
    if (weights or bonuses) and not opts["lattice"]:
        raise UsageError(
            "--lm-weight / --word-bonus over a graph rescore lattices — add --lattice "
            "(the graph's LM weight is otherwise fixed at 1)"
        )
    opts = GraphDecodeOptions(
        graph=graph,
        lm_weight=weights[0] if weights else 1.0,
        word_bonus=bonuses[0] if bonuses else 0.0,
        **opts,
    )
    if (exp / "gmm.npz").is_file() and not (exp / "final.pt").is_file():
        results = decode_gmm(exp, data, opts, out, weights, bonuses)
    else:
        results = decode_data(exp, data, opts, weights, bonuses, device=device, out_dir=out)
    _report_decode(results)


@app.command("align")
def align_cmd(
    exp: Path = typer.Argument(..., help="Model directory from train-ctc or train-hybrid."),
    data: Path = typer.Argument(..., help="Data dir with feats.scp and text."),
    out: Path = out_option("Word CTM to write; the unit CTM goes beside it (*.units.ctm)."),
    device: str = DEVICE,
    from_parts: Path | None = from_parts_option(
        "DATA/splitN: instead of aligning, write OUT (X/words.ctm) and the files beside it "
        "from the parts of 'speechseq data split DATA N' aligned apart (e.g. on Slurm; "
        "recipes/utils/parallel.sh) into X/part-1/words.ctm .. X/part-N/words.ctm."
    ),
) -> None:
    """Forced alignment of transcripts: word CTM and unit CTM (CTC), or for a hybrid model
    word CTM, phone CTM (*.phones.ctm) and state alignments (*.ali.ark)."""
    if from_parts is not None:
        # deferred: merging imports decode.run, which imports torch
        from speechseq.decode.merge import merge_part_alignments

        r = merge_part_alignments(data, from_parts, out)
        files = ", ".join(f"{path} ({n})" for path, n in r["files"].items())
        info(f"aligned {r['utterances']} utterances in {r['parts']} parts: {files}")
        return
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
