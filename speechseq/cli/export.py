"""``export``: a trained model as a TorchScript or ONNX file that runs without speechseq."""

from __future__ import annotations

from pathlib import Path

import typer

from speechseq.cli.common import commands, info, out_option

app = commands()


@app.command("export")
def export_cmd(
    exp: Path = typer.Argument(..., help="Model directory from train-ctc or train-embedder."),
    fmt: str = typer.Option(
        "torchscript",
        "--format",
        help="torchscript (torch.jit.load) | onnx (onnxruntime; needs pip install 'speechseq[export]').",
    ),
    out: Path = out_option("File to write; a JSON that says how to feed it goes to OUT.json."),
) -> None:
    """Export a model: CTC -> (feats [N, T, C], lengths [N]) to (log-posteriors [N, T', V],
    output lengths [N]); embedder -> (feats, lengths) to L2-normalised vectors [N, dim].

    The file runs without speechseq; any batch size and lengths. OUT.json names the feature
    settings (the model's feats.yaml), the normalisation the features need, the outputs and,
    for CTC, the units (column 0 the blank).
    """
    # deferred: export imports torch, which is slow to import
    from speechseq.core.export import export_experiment

    meta = export_experiment(exp, fmt, out)
    info(
        f"{out}: {meta['format']} {meta['task']} model, input dim {meta['input_dim']}, "
        f"outputs {', '.join(meta['outputs'])}, normalisation {meta['cmvn']}; how to feed it: {out}.json"
    )
