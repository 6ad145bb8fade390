"""Feature extraction speed on one core: speechseq vs torchaudio.compliance.kaldi vs kaldi-native-fbank.

    python benchmarks/features.py [--minutes 10] [--data DATA_DIR] [--repeats 3]

Generates ``--minutes`` of audio (utterances of 2-15 s: chirps, tones and noise at 16 kHz),
or reads that much from a data dir, and prints, for fbank (80 bins) and MFCC (13 ceps),
the seconds of compute per hour of audio and the real-time factor of each implementation
on the same utterances (dither 0, Kaldi defaults otherwise). The best of ``--repeats``
passes is reported. kaldi-native-fbank is timed twice: computing only (accept_waveform)
and also copying the frames out to one numpy array (what a caller needs).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy/torch are imported: one core

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

SR = 16000  # Hz


def generated_audio(minutes: float, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    utts, total = [], 0
    while total < minutes * 60 * SR:
        n = int(rng.uniform(2.0, 15.0) * SR)
        t = np.arange(n) / SR
        f0, f1 = rng.uniform(80, 400), rng.uniform(500, 4000)
        x = 0.3 * np.sin(2 * np.pi * (f0 * t + 0.5 * (f1 - f0) / t[-1] * t**2))
        x += 0.1 * np.sin(2 * np.pi * rng.uniform(100, 1000) * t) + 0.03 * rng.standard_normal(n)
        utts.append((np.round(x * 32767) / 32768).astype(np.float32))
        total += n
    return utts


def data_dir_audio(path: str, minutes: float) -> list[np.ndarray]:
    from speechseq.data import DataDir
    from speechseq.data.audio import read_audio

    data, utts, total = DataDir(path), [], 0
    for utt in data.utt_ids:
        spec, start_s, end_s = data.audio_spec(utt)
        x = read_audio(spec, target_sr=SR, start_s=start_s, end_s=end_s, what=utt)
        utts.append(x)
        total += len(x)
        if total >= minutes * 60 * SR:
            break
    return utts


def implementations(kind: str):
    """``name -> fn(x float32 [num_samples] in [-1, 1]) -> features [T, C]`` for fbank or mfcc."""
    import torchaudio.compliance.kaldi as tk

    from speechseq.features import FeatureConfig, compute_features

    cfg = FeatureConfig(type=kind, dither=0.0)
    impls = {"speechseq": lambda x: compute_features(x, cfg)}
    if kind == "fbank":
        impls["torchaudio.compliance.kaldi"] = lambda x: tk.fbank(
            torch.from_numpy(x * 32768)[None], num_mel_bins=80, dither=0.0, energy_floor=0.0
        ).numpy()
    else:
        impls["torchaudio.compliance.kaldi"] = lambda x: tk.mfcc(
            torch.from_numpy(x * 32768)[None], dither=0.0, energy_floor=0.0, use_energy=True
        ).numpy()
    try:
        import kaldi_native_fbank as knf
    except ImportError:
        return impls
    if kind == "fbank":
        opts, cls = knf.FbankOptions(), knf.OnlineFbank
        opts.mel_opts.num_bins = 80
    else:
        opts, cls = knf.MfccOptions(), knf.OnlineMfcc
    opts.frame_opts.dither = 0.0

    def knf_compute(x):
        comp = cls(opts)
        comp.accept_waveform(SR, x * 32768)
        comp.input_finished()
        return comp

    def knf_array(x):
        comp = knf_compute(x)
        return np.stack([comp.get_frame(i) for i in range(comp.num_frames_ready)])

    impls["kaldi-native-fbank"] = knf_array
    impls["kaldi-native-fbank (compute only)"] = knf_compute
    return impls


def time_impls(impls: dict, utts: list[np.ndarray], repeats: int) -> dict[str, float]:
    """Best-of-``repeats`` seconds per implementation; passes are interleaved so that load
    from other processes falls on all implementations alike."""
    for fn in impls.values():
        fn(utts[0])  # warm caches
    best = dict.fromkeys(impls, float("inf"))
    for _ in range(repeats):
        for name, fn in impls.items():
            t0 = time.perf_counter()
            for x in utts:
                fn(x)
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="minutes of audio")
    ap.add_argument(
        "--data", default=None, help="a data dir to read audio from (default: generated)"
    )
    ap.add_argument("--repeats", type=int, default=3, help="passes; the best is reported")
    args = ap.parse_args()

    utts = data_dir_audio(args.data, args.minutes) if args.data else generated_audio(args.minutes)
    audio_s = sum(len(x) for x in utts) / SR
    print(
        f"{len(utts)} utterances, {audio_s / 60:.1f} min of audio at {SR} Hz; one core (torch threads 1)"
    )
    for kind in ("fbank", "mfcc"):
        impls = implementations(kind)
        ref_fn = impls.get("kaldi-native-fbank")
        print(f"\n{kind}{' (80 bins)' if kind == 'fbank' else ' (23 bins, 13 ceps)'}")
        print(
            f"{'implementation':36s} {'s / h audio':>12s} {'RTF':>9s} {'vs speechseq':>13s} {'mean |diff| vs knf':>19s}"
        )
        times = time_impls(impls, utts, args.repeats)
        ours = times["speechseq"] / audio_s * 3600
        for name, fn in impls.items():
            secs = times[name]
            per_hour = secs / audio_s * 3600
            diff = ""
            if ref_fn is not None and "compute only" not in name:
                diff = f"{np.mean([np.abs(fn(x) - ref_fn(x)).mean() for x in utts[:5]]):.1e}"
            print(
                f"{name:36s} {per_hour:12.3f} {secs / audio_s:9.5f} {per_hour / ours:12.2f}x {diff:>19s}"
            )


if __name__ == "__main__":
    main()
