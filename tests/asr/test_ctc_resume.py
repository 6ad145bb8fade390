"""`speechseq train-ctc --resume` killed with SIGKILL after its first checkpoint and run again
ends with the weights of a run that was never interrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from speechseq.core import checkpoint as ckpt

REPO = Path(__file__).resolve().parents[2]
EPOCHS = 3

# 11 batches an epoch (one or two utterances each), a checkpoint every 4 steps, and final.pt
# the average of the last two epochs, so that it depends on the epochs after the kill.
CONFIG = f"""\
encoder: {{subsample: stack3, hidden: 16, layers: 1, dropout: 0.0}}
train: {{max_epochs: {EPOCHS}, max_frames: 400, warmup_steps: 2, checkpoint_every: 4,
         average_last: 2, deterministic: true, device: cpu}}
ctc: {{spec_augment: false}}
"""


def command(corpus: Path, out: Path, config: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "speechseq.cli.main",
        "train-ctc",
        str(corpus / "train"),
        "--dev",
        str(corpus / "dev"),
        "--out",
        str(out),
        "--config",
        str(config),
        "--resume",
    ]


def start(cmd: list[str], log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    with log.open("w") as f:
        return subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env)


def weights(path: Path) -> dict[str, torch.Tensor]:
    return ckpt.load(path)["model"]


def assert_same_weights(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for k in want:
        torch.testing.assert_close(got[k], want[k], rtol=0, atol=0, msg=f"{k} differs")


def test_train_ctc_killed_after_a_checkpoint_resumes_to_the_uninterrupted_weights(
    digits_corpus, tmp_path
):
    config = tmp_path / "tiny.yaml"
    config.write_text(CONFIG)
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    procs: list[subprocess.Popen] = []
    try:
        # the uninterrupted run, alongside the one to be killed
        reference = start(command(digits_corpus, straight, config), tmp_path / "straight.log")
        victim = start(command(digits_corpus, killed, config), tmp_path / "killed.log")
        procs += [reference, victim]
        latest = killed / "checkpoints" / "latest"
        deadline = time.monotonic() + 120
        while not latest.exists() and victim.poll() is None:
            assert time.monotonic() < deadline, "no checkpoint after 120 s"
            time.sleep(0.01)
        assert victim.poll() is None, "the run ended before its first checkpoint was seen"
        os.kill(victim.pid, signal.SIGKILL)
        assert victim.wait(timeout=60) == -signal.SIGKILL
        assert not (killed / "final.pt").exists()
        first = ckpt.latest(killed / "checkpoints")
        assert first is not None and first.name.startswith("step-")

        # the same command again continues from that checkpoint and finishes
        resumed = start(command(digits_corpus, killed, config), tmp_path / "resumed.log")
        procs.append(resumed)
        log = tmp_path / "resumed.log"
        assert resumed.wait(timeout=240) == 0, log.read_text()[-3000:]
        assert "resume: continuing from step-" in log.read_text(), log.read_text()[-3000:]
        assert reference.wait(timeout=240) == 0, (tmp_path / "straight.log").read_text()[-3000:]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()

    last = f"checkpoints/epoch-{EPOCHS}.pt"
    assert_same_weights(weights(killed / last), weights(straight / last))
    assert_same_weights(weights(killed / "final.pt"), weights(straight / "final.pt"))
    assert "average of" in ckpt.load(killed / "final.pt")["source"]
