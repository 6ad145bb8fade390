"""DistributedDataParallel under torchrun (2 CPU processes, gloo): the ranks train on disjoint
batches and end every epoch with identical weights, which only gradient averaging can give."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from speechseq.core import checkpoint as ckpt
from speechseq.core.batching import BucketBatchSampler

from .toy import toy_reader, weights_sha256

REPO = Path(__file__).resolve().parents[2]
TORCHRUN = Path(sys.executable).with_name("torchrun")
MAX_FRAMES, EPOCHS, SEED = 200, 2, 0


def torchrun(args: list[str], port: int, **kw) -> subprocess.CompletedProcess:
    cmd = [str(TORCHRUN), "--nproc_per_node", "2", "--master_port", str(port), *args]
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240, **kw)


def read_log(path: Path) -> tuple[dict[int, list[list[str]]], dict[int, str]]:
    """(epoch -> batches of utterance ids, epoch -> weight hash) from one rank's log."""
    batches: dict[int, list[list[str]]] = {}
    weights: dict[int, str] = {}
    for line in path.read_text().splitlines():
        r = json.loads(line)
        if "batch" in r:
            batches.setdefault(r["epoch"], []).append(r["batch"])
        else:
            weights[r["epoch"]] = r["weights"]
    return batches, weights


def test_ranks_train_disjoint_batches_and_end_with_identical_weights(tmp_path, free_port):
    script = tmp_path / "fit.py"
    script.write_text(
        textwrap.dedent(f"""
        from speechseq.core.batching import FeatDataset
        from speechseq.core.trainer import TrainConfig, Trainer
        from tests.core.toy import RecordingToyTask, toy_reader

        cfg = TrainConfig(max_epochs={EPOCHS}, max_frames={MAX_FRAMES}, lr=5e-3, warmup_steps=2,
                          checkpoint_every=0, device="cpu", seed={SEED}, deterministic=True)
        trainer = Trainer(RecordingToyTask(8, {str(tmp_path)!r}), cfg, {str(tmp_path / "exp")!r})
        train_set, dev_set = FeatDataset(toy_reader()), FeatDataset(toy_reader(n=6, seed=1))
        train, dev = trainer.loaders(train_set, dev_set)
        trainer.fit(train, dev)
        """)
    )
    proc = torchrun([str(script)], free_port)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "world size 2" in proc.stderr
    (b0, w0), (b1, w1) = read_log(tmp_path / "rank0.jsonl"), read_log(tmp_path / "rank1.jsonl")

    # Identical weights after every epoch (each rank hashed its own copy) ...
    assert sorted(w0) == sorted(w1) == list(range(EPOCHS))
    assert w0 == w1
    assert w0[0] != w0[1]  # ... and they changed: the ranks trained
    # ... and rank 0's final.pt holds those weights.
    final = ckpt.load(tmp_path / "exp" / "final.pt")["model"]
    assert weights_sha256(final) in w1.values()

    # Disjoint batches, the same number per rank, sharing out the single-process epoch.
    lengths = toy_reader().num_frames  # frames per utterance, as FeatDataset reads them
    utt_ids = toy_reader().utt_ids
    for epoch in range(EPOCHS):
        assert len(b0[epoch]) == len(b1[epoch]) > 0
        u0 = [u for b in b0[epoch] for u in b]
        u1 = [u for b in b1[epoch] for u in b]
        assert not set(u0) & set(u1)
        assert len(set(u0)) == len(u0) and len(set(u1)) == len(u1)
        whole = BucketBatchSampler([lengths(u) for u in utt_ids], MAX_FRAMES, seed=SEED)
        whole.set_epoch(epoch)
        full = whole.batches()
        usable = full[: len(full) // 2 * 2]
        assert sorted(u0 + u1) == sorted(utt_ids[i] for b in usable for i in b)
