"""Training throughput: speechseq's Trainer against a plain PyTorch loop, same model, same batches.

    python benchmarks/train_ctc.py [--data data/train] [--epochs 2] [--device cpu] [--threads 2]
        [--config recipes/librispeech/conf/ctc_bpe.yaml --frames 800:1600]

Without ``--data`` it uses random 80-dim features (``--frames`` 10 ms frames per utterance,
default 2-6 s) with random character targets. ``--config``: the encoder and batch size of a
recipe's training config (default: a 3x128 BLSTM, 12000 frames per batch). Prints seconds of
audio per second of training for both, side by side, the trainer's overhead in percent and
the process's peak memory. Measure on a quiet machine; figures are per run, not a test.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from speechseq.asr.ctc import CTCConfig, CTCModel, CTCTask, ctc_loss  # noqa: E402
from speechseq.core.batching import ArrayReader, FeatDataset, batch_audio_seconds, make_loader  # noqa: E402
from speechseq.core.encoder import EncoderConfig  # noqa: E402
from speechseq.core.trainer import TrainConfig, Trainer, seed_everything  # noqa: E402


class CountUnits:
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n


def synthetic(n_utts: int, dim: int = 80, vocab: int = 30, seed: int = 0, frames=(200, 600)):
    rng = np.random.default_rng(seed)
    feats, targets = {}, {}
    for i in range(n_utts):
        t = int(rng.integers(*frames))
        feats[f"u{i:04d}"] = rng.standard_normal((t, dim)).astype(np.float32)
        targets[f"u{i:04d}"] = rng.integers(1, vocab, size=t // 12).tolist()
    return ArrayReader(feats), targets, vocab


def from_data(path: str):
    from speechseq.data.kaldi_dir import DataDir
    from speechseq.features import FeatureReader
    from speechseq.text.units import Units

    reader = FeatureReader(path)
    text = DataDir(path).text
    units = Units.build("char", list(text.values()))
    return reader, {u: units.encode(text[u]) for u in reader.utt_ids}, len(units)


def plain_loop(model, loader, cfg: TrainConfig, device, epochs: int) -> tuple[float, float]:
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    audio, t0 = 0.0, time.perf_counter()
    for epoch in range(epochs):
        loader.batch_sampler.set_epoch(epoch)
        for batch in loader:
            opt.zero_grad(set_to_none=True)
            lp, lengths = model(batch["feats"].to(device), batch["lengths"].to(device))
            loss = ctc_loss(
                lp, lengths, batch["targets"].to(device), batch["target_lengths"].to(device)
            )
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_norm)
            opt.step()
            audio += batch_audio_seconds(batch)
    return audio, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", help="data dir with feats.scp and text (default: synthetic features)")
    ap.add_argument("--utts", type=int, default=160, help="synthetic utterances")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--config", help="a recipe's training config: its encoder and max_frames")
    ap.add_argument(
        "--frames", default="200:600", help="synthetic utterance lengths LO:HI (frames)"
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    lo, hi = (int(x) for x in args.frames.split(":"))
    reader, targets, vocab = (
        from_data(args.data) if args.data else synthetic(args.utts, frames=(lo, hi))
    )
    enc = EncoderConfig(subsample="stack3", hidden=args.hidden, layers=3, dropout=0.1)
    max_frames = 12000
    if args.config:
        from speechseq.core.experiment import resolve_config

        recipe = resolve_config(CTCConfig, args.config)
        enc, max_frames = recipe.encoder, recipe.train.max_frames
    tcfg = TrainConfig(
        max_epochs=args.epochs,
        max_frames=max_frames,
        device=args.device,
        checkpoint_every=0,
        warmup_steps=10,
    )
    cfg = CTCConfig(encoder=enc, train=tcfg)
    device = torch.device(args.device)

    def loader():
        return make_loader(
            FeatDataset(reader, targets=targets), tcfg.max_frames, shuffle=True, seed=0
        )

    # warm-up pass so neither side pays one-off costs (allocator, kernels)
    seed_everything(0)
    warm = CTCModel(reader.dim, vocab, enc).to(device)
    plain_loop(warm, loader(), tcfg, device, 1)

    seed_everything(0)
    model = CTCModel(reader.dim, vocab, enc).to(device)
    audio_plain, t_plain = plain_loop(model, loader(), tcfg, device, args.epochs)

    with tempfile.TemporaryDirectory() as exp:
        task = CTCTask(cfg, reader.dim, CountUnits(vocab), spec_augment=None)
        trainer = Trainer(task, tcfg, exp, quiet=True)
        t0 = time.perf_counter()
        state = trainer.fit(loader(), None)
        t_trainer = time.perf_counter() - t0
    audio_tr = audio_plain  # same batches
    loop_s = sum(r["epoch_time_s"] for r in state.history)
    params = sum(p.numel() for p in model.parameters())
    print(
        f"device {device}, threads {args.threads}, {len(reader)} utterances, {args.epochs} epochs, "
        f"{audio_plain / args.epochs / 3600:.3f} h audio per epoch; {params / 1e6:.2f} M parameters, "
        f"{max_frames} frames per batch"
    )
    print(f"{'implementation':<34}{'s audio / s':>14}{'wall s':>10}")
    print(f"{'plain PyTorch loop':<34}{audio_plain / t_plain:>14.1f}{t_plain:>10.1f}")
    print(f"{'speechseq Trainer (epochs only)':<34}{audio_tr / loop_s:>14.1f}{loop_s:>10.1f}")
    print(f"{'speechseq Trainer (whole fit)':<34}{audio_tr / t_trainer:>14.1f}{t_trainer:>10.1f}")
    print(
        f"trainer overhead: {100 * (t_trainer / t_plain - 1):+.1f}% (whole fit, incl. checkpoints, final.pt, curves.png)"
    )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (max RSS of this process): {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
