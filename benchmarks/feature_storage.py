"""Feature storage: disk per hour of audio and CTC training throughput, side by side, for
features stored as float32 arks, stored as Kaldi-compressed arks, and computed on the fly in
the data-loader workers.

    python benchmarks/feature_storage.py [--num-utts 400] [--epochs 2] [--workers 1] [--threads 1]
        [--repeats 3]

Speaks one small synthetic digits corpus (espeak-ng) into a temporary directory, computes
80-dim fbank both ways (``compute_feats``, ``compress=True``), then trains the same CTC model
for ``--epochs`` epochs three times (``train_ctc``; the same batches, the features read or
computed by ``--workers`` DataLoader workers), after one untimed warm-up training, and
``--repeats`` times in rotation (the median is shown, with the spread). Disk: the arks' bytes
over the hours of training audio. Throughput: seconds of training audio per second of the
training epochs (the dev pass included). Prints the load average and the busiest other processes first:
measure on a quiet machine; figures are per run, not a test.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from speechseq.asr.ctc import CTCConfig, CTCOptions  # noqa: E402
from speechseq.asr.training import train_ctc  # noqa: E402
from speechseq.core.encoder import EncoderConfig  # noqa: E402
from speechseq.core.trainer import TrainConfig  # noqa: E402
from speechseq.data.kaldi_dir import DataDir, read_table  # noqa: E402
from speechseq.features import FeatureConfig, compute_feats  # noqa: E402
from speechseq.features.config import FeatureSource  # noqa: E402
from speechseq.synth.corpus import synthesize_corpus  # noqa: E402

FBANK = FeatureConfig(type="fbank", num_mel_bins=80)  # compute-feats' defaults


def machine_load() -> str:
    """The load average and the other processes using CPU now (``ps``), for the report."""
    me = os.getpid()
    lines = [
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores"
    ]
    out = subprocess.run(
        ["ps", "-eo", "pid,ppid,pcpu,etime,args", "--sort=-pcpu"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.splitlines()
    busy = [
        line
        for line in out[1:]
        if float(line.split()[2]) >= 5.0
        and int(line.split()[0]) != me
        and int(line.split()[1]) != me
    ]
    lines.append("other processes at >= 5% CPU (ps, averaged over their lifetime):")
    lines += [f"  {line[:150]}" for line in busy[:8]] or ["  none"]
    return "\n".join(lines)


def ark_bytes(data: Path) -> int:
    arks = {Path(v.split()[-1].rsplit(":", 1)[0]) for v in read_table(data / "feats.scp").values()}
    return sum(a.stat().st_size for a in arks)


def hours(data: Path) -> float:
    return sum(float(v) for v in read_table(data / "utt2dur").values()) / 3600


def copy_dir(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True)
    for name in ("wav.scp", "text", "utt2spk", "spk2utt", "utt2dur"):
        (dst / name).write_text((src / name).read_text())
    return dst


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--num-utts", type=int, default=400, help="corpus size (80%% train)")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--workers", type=int, default=1, help="DataLoader worker processes")
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the trainer")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3, help="timed trainings of each kind")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(machine_load(), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        synthesize_corpus(
            "digits", root / "corpus", num_utts=args.num_utts, seed=1, log=lambda m: None
        )
        h = hours(root / "corpus" / "train")
        sets = {}
        for name, compress in (("float32", False), ("compressed", True)):
            sets[name] = {}
            for part in ("train", "dev"):
                d = copy_dir(root / "corpus" / part, root / name / part)
                s = compute_feats(d, FBANK, progress=False, compress=compress)
                if part == "train":
                    sets[name]["compute_s"] = s.elapsed_s
                sets[name][part] = d
        sets["on the fly"] = {p: root / "corpus" / p for p in ("train", "dev")}
        cfg = CTCConfig(
            encoder=EncoderConfig(subsample="stack3", hidden=args.hidden, layers=2, dropout=0.1),
            train=TrainConfig(
                max_epochs=args.epochs,
                max_frames=12000,
                device="cpu",
                checkpoint_every=0,
                warmup_steps=10,
                num_workers=args.workers,
            ),
            ctc=CTCOptions(units="char", cmvn="utterance", spec_augment=True),
        )

        def fit(name: str, s: dict, exp: Path) -> tuple[float, float, float]:
            """(seconds of the epochs, seconds of the whole fit, last train loss)"""
            run_cfg = cfg
            if name == "on the fly":
                run_cfg = dataclasses.replace(cfg, features=FeatureSource(True, FBANK))
            t0 = time.perf_counter()
            state = train_ctc(s["train"], s["dev"], exp, run_cfg, quiet=True)
            wall = time.perf_counter() - t0
            epochs_s = sum(r["epoch_time_s"] for r in state.history)
            return epochs_s, wall, state.history[-1]["train_loss"]

        fit("float32", sets["float32"], root / "exp" / "warmup")  # imports, allocator, caches
        runs: dict[str, list] = {name: [] for name in sets}
        for r in range(args.repeats):
            for name, s in sets.items():
                runs[name].append(fit(name, s, root / "exp" / f"{name.replace(' ', '_')}_{r}"))
        rows = []
        for name, s in sets.items():
            disk = ark_bytes(s["train"]) if name != "on the fly" else 0
            tputs = sorted(h * 3600 * args.epochs / ep for ep, _, _ in runs[name])
            mid = statistics.median(tputs)
            wall = statistics.median(w for _, w, _ in runs[name])
            rows.append(
                (
                    name,
                    disk / 1e6 / h,
                    mid,
                    tputs[0],
                    tputs[-1],
                    wall,
                    s.get("compute_s"),
                    runs[name][0][2],
                )
            )
        n_train = len(DataDir(root / "corpus" / "train").utt2spk)
        print(
            f"{n_train} training utterances, {h * 3600:.0f} s of audio; 80-dim fbank; CTC stack3 + "
            f"2x{args.hidden} BLSTM, {args.epochs} epochs, {args.workers} loader worker(s), "
            f"{args.threads} trainer thread(s)"
        )
        print(
            f"{'features':<12}{'MB / h audio':>14}{'s audio / s':>13}{'(min-max)':>15}{'fit s':>8}"
            f"{'compute-feats s':>17}{'last train loss':>17}"
        )
        for name, mb_h, tput, lo, hi, wall, comp, loss in rows:
            comp_txt = f"{comp:.1f}" if comp is not None else "-"
            spread = f"{lo:.1f}-{hi:.1f}"
            print(
                f"{name:<12}{mb_h:>14.1f}{tput:>13.1f}{spread:>15}{wall:>8.1f}{comp_txt:>17}{loss:>17.4f}"
            )
    print(machine_load(), flush=True)


if __name__ == "__main__":
    main()
