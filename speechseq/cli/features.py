"""``speechseq compute-feats DATA``: Kaldi-compatible fbank/MFCC features for a data dir."""

from __future__ import annotations

import typer

from speechseq.cli.common import (
    CHANNEL,
    NUM_JOBS,
    SEED,
    commands,
    from_parts_option,
    type_option,
)

app = commands()


@app.command("compute-feats")
def compute_feats_cmd(
    data: str = typer.Argument(
        ..., help="Kaldi data directory (wav.scp, utt2spk, optional segments)."
    ),
    type: str = type_option("fbank", "fbank (log mel filterbank) or mfcc."),
    num_mel_bins: int | None = typer.Option(
        None, "--num-mel-bins", help="Mel bins (default: 80 for fbank, 23 for mfcc)."
    ),
    num_ceps: int = typer.Option(13, "--num-ceps", help="Cepstra kept (mfcc)."),
    sample_rate: int = typer.Option(
        16000, "--sample-rate", help="Hz; audio at other rates is resampled."
    ),
    dither: float = typer.Option(
        1.0, "--dither", help="Gaussian dither (int16 scale); 0 for none."
    ),
    snip_edges: bool = typer.Option(
        True, "--snip-edges/--no-snip-edges", help="Only frames that fit in the audio."
    ),
    num_jobs: int = NUM_JOBS,
    skip_bad: bool = typer.Option(
        False,
        "--skip-bad",
        help="List unreadable utterances in DATA/bad_utts and go on, instead of stopping.",
    ),
    seed: int = SEED,
    channel: str = CHANNEL,
    compress: bool = typer.Option(
        False,
        "--compress",
        help="Store Kaldi-compressed matrices (as copy-feats --compress=true): about a quarter "
        "of float32's disk, 8 bits per value.",
    ),
    from_parts: str | None = from_parts_option(
        "DATA/splitN: instead of computing, commit into DATA the features compute-feats "
        "wrote into each part of 'speechseq data split DATA N' (jobs run apart, e.g. on Slurm; "
        "recipes/utils/parallel.sh). The other feature options are then not used."
    ),
) -> None:
    """Compute Kaldi-compatible fbank/MFCC features (feats.scp, cmvn.ark) for a data dir.

    Writes feats.scp with its ark files, per-speaker CMVN stats (cmvn.ark), utt2num_frames and
    conf/feats.yaml into DATA.
    """
    # deferred: speechseq.features imports torch, which is slow to import
    from speechseq.features import FeatureConfig, compute_feats
    from speechseq.features.extract import print_summary
    from speechseq.features.merge import merge_part_features

    if from_parts is not None:
        summary = merge_part_features(data, from_parts)
        print(f"{summary.feats_scp}: {summary.num_utts} utterances from the parts of {from_parts}")
        return
    cfg = FeatureConfig(
        type=type,
        num_mel_bins=num_mel_bins,
        num_ceps=num_ceps,
        sample_rate=sample_rate,
        dither=dither,
        snip_edges=snip_edges,
        seed=seed,
    )
    summary = compute_feats(
        data,
        cfg,
        num_jobs=num_jobs,
        skip_bad=skip_bad,
        progress=True,
        channel=channel,
        compress=compress,
    )
    print_summary(summary, cfg)
