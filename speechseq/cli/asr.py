"""``train-ctc``, ``decode``, ``align``, ``transcribe``."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from speechseq.cli.common import info

# The trainer's shared options: every train-* command takes them the same way.
CONFIG = typer.Option(
    None, "--config", help="YAML config (sections encoder/train/...); options below override it."
)
MAX_EPOCHS = typer.Option(
    None,
    "--max-epochs",
    help="Passes over the training set [config: train.max_epochs, default 30].",
)
MAX_FRAMES = typer.Option(
    None, "--max-frames", help="Padded frames per batch [config: train.max_frames, default 12000]."
)
DEVICE = typer.Option(
    None, "--device", help="auto | cpu | cuda[:N] | mps [config: train.device, default auto]."
)
RESUME = typer.Option(False, "--resume", help="Continue from the last checkpoint in OUT.")
SEED = typer.Option(None, "--seed", help="Random seed [config: train.seed, default 0].")
WORKERS = typer.Option(
    None,
    "-j",
    "--num-workers",
    help="Data-loading worker processes [config: train.num_workers, default 0].",
)


def trainer_overrides(max_epochs, max_frames, device, seed, num_workers) -> dict:
    return {
        "max_epochs": max_epochs,
        "max_frames": max_frames,
        "device": device,
        "seed": seed,
        "num_workers": num_workers,
    }


def parse_floats(text: str, option: str) -> list[float]:
    """``"0.5,1,1.5"`` -> ``[0.5, 1.0, 1.5]``; anything else is a usage error naming the option."""
    from speechseq.errors import UsageError

    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values:
        raise UsageError(
            f"{option} {text!r}: give a number or numbers separated by commas, e.g. 0.5,1.0"
        )
    return values


def register(app: typer.Typer) -> None:
    @app.command("train-ctc")
    def train_ctc_cmd(
        train: Path = typer.Argument(..., help="Training data dir (with feats.scp and text)."),
        dev: Path = typer.Option(..., "--dev", help="Dev data dir, for CER and early stopping."),
        out: Path = typer.Option(..., "--out", help="Model directory to write (exp/<model>)."),
        units: str = typer.Option(
            None, "--units", help="char | phone | bpe [config: ctc.units, default char]."
        ),
        lexicon: str = typer.Option(
            None, "--lexicon", help="Kaldi lexicon.txt for phone units (default: CMUdict)."
        ),
        drop_unfit: bool = typer.Option(
            None,
            "--drop-unfit/--no-drop-unfit",
            help="Leave out utterances too short for their targets.",
        ),
        spec_augment: bool = typer.Option(
            None, "--spec-augment/--no-spec-augment", help="SpecAugment masks on training batches."
        ),
        config: Path = CONFIG,
        max_epochs: int = MAX_EPOCHS,
        max_frames: int = MAX_FRAMES,
        device: str = DEVICE,
        resume: bool = RESUME,
        seed: int = SEED,
        num_workers: int = WORKERS,
    ) -> None:
        """Train a CTC acoustic model (shared encoder + CTC loss)."""
        from speechseq.asr.ctc import CTCConfig
        from speechseq.asr.training import train_ctc
        from speechseq.core.experiment import resolve_config

        cfg = resolve_config(
            CTCConfig,
            config,
            {
                "train": trainer_overrides(max_epochs, max_frames, device, seed, num_workers),
                "ctc": {
                    "units": units,
                    "lexicon": lexicon,
                    "drop_unfit": drop_unfit,
                    "spec_augment": spec_augment,
                },
            },
        )
        state = train_ctc(train, dev, out, cfg, resume=resume)
        info(
            f"{out}: best dev CER {100 * (state.best_metric or 0):.2f}% at epoch {state.best_epoch}"
        )

    @app.command("decode")
    def decode_cmd(
        exp: Path = typer.Argument(..., help="Model directory from train-ctc."),
        data: Path = typer.Argument(..., help="Data dir with feats.scp (and text for scoring)."),
        beam: int = typer.Option(1, "--beam", help="Beam size; 1 = greedy."),
        lm: str = typer.Option(
            None, "--lm", help="Word n-gram LM in ARPA format (speechseq lm train)."
        ),
        lexicon: str = typer.Option(
            None,
            "--lexicon",
            help="Restrict words to this lexicon (Kaldi lexicon.txt or word list).",
        ),
        lm_weight: str = typer.Option(
            "0.5",
            "--lm-weight",
            help="LM weight (log10 scores converted to nats); a comma list (0.5,1,1.5) decodes a grid from one network pass.",
        ),
        word_bonus: str = typer.Option(
            "1.0",
            "--word-bonus",
            help="Score added per word with an LM or lexicon; a comma list decodes a grid.",
        ),
        device: str = typer.Option("auto", "--device", help="auto | cpu | cuda[:N] | mps."),
        out: Path = typer.Option(
            None,
            "--out",
            help="Output dir [default EXP/decode_<set>_<options>, e.g. decode_test_beam10].",
        ),
    ) -> None:
        """Decode a data dir: hyp.txt, per_utt, per_spk, a Kaldi %WER line and results.json."""
        from speechseq.decode.ctc import CTCDecodeOptions
        from speechseq.decode.run import decode_data

        if lm and beam <= 1:
            beam = 10
        weights, bonuses = (
            parse_floats(lm_weight, "--lm-weight"),
            parse_floats(word_bonus, "--word-bonus"),
        )
        opts = CTCDecodeOptions(
            beam=beam,
            lm=lm or "",
            lexicon=lexicon or "",
            lm_weight=weights[0],
            word_bonus=bonuses[0],
        )
        for r in decode_data(exp, data, opts, weights, bonuses, device=device, out_dir=out):
            if "wer_line" in r:
                print(r["wer_line"], r["out_dir"] if len(weights) * len(bonuses) > 1 else "")
                print(r["cer_line"], r["out_dir"] if len(weights) * len(bonuses) > 1 else "")
            info(
                f"decoded {r['utterances']} utterances ({r['audio_s']:.1f} s audio) in {r['decode_s']:.2f} s: RTF {r['rtf']:.4f} (search alone {r['search_rtf']:.4f}) -> {r['out_dir']}"
            )

    @app.command("align")
    def align_cmd(
        exp: Path = typer.Argument(..., help="Model directory from train-ctc."),
        data: Path = typer.Argument(..., help="Data dir with feats.scp and text."),
        out: Path = typer.Option(
            ..., "--out", help="Word CTM to write; the unit CTM goes beside it (*.units.ctm)."
        ),
        device: str = typer.Option("auto", "--device", help="auto | cpu | cuda[:N] | mps."),
    ) -> None:
        """CTC forced alignment of transcripts to word and unit CTM."""
        from speechseq.asr.inference import align_data

        n, unit_path = align_data(exp, data, out, device=device)
        info(f"aligned {n} utterances: {out} (words), {unit_path} (units)")

    @app.command("transcribe")
    def transcribe_cmd(
        exp: Path = typer.Argument(..., help="Model directory from train-ctc."),
        files: list[Path] = typer.Argument(..., help="Audio files (any format soundfile reads)."),
        beam: int = typer.Option(1, "--beam", help="Beam size; 1 = greedy."),
        lm: str = typer.Option(None, "--lm", help="Word n-gram LM (ARPA)."),
        as_json: bool = typer.Option(
            False, "--json", help="JSON with word timings instead of text lines."
        ),
        device: str = typer.Option("auto", "--device", help="auto | cpu | cuda[:N] | mps."),
    ) -> None:
        """Transcribe audio files: one line of text per file, or JSON with word timings."""
        from speechseq.asr.inference import transcribe_files
        from speechseq.decode.ctc import CTCDecodeOptions

        opts = CTCDecodeOptions(beam=beam, lm=lm or "")
        results = transcribe_files(exp, [str(f) for f in files], device=device, options=opts)
        if as_json:
            print(json.dumps(results if len(results) > 1 else results[0], indent=2))
        else:
            for r in results:
                print(f"{r['file']}\t{r['text']}" if len(results) > 1 else r["text"])
