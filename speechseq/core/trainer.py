"""One Trainer for every task.

A task implements the contract of :class:`speechseq.core.task.Task` (model, loss with
stats, dev evaluation, metadata, optional hooks). The Trainer owns everything else: device
and mixed precision, moving batches to the device, AdamW (over the task's parameter groups)
with warmup and cosine decay, gradient-norm clipping, a guard that skips and counts
non-finite steps, starting from another experiment's weights (``init_from``/``init_part``)
and freezing parts (``freeze``), rotating atomic checkpoints and ``--resume``, early
stopping, best / averaged final weights, metrics.csv (the task's stats included),
TensorBoard, a progress bar, curves.png, and DDP under torchrun.
"""

from __future__ import annotations

import contextlib
import csv
import math
import os
import random
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from speechseq.core import checkpoint as ckpt
from speechseq.core.batching import FeatDataset, batch_audio_seconds, make_loader
from speechseq.core.device import autocast_dtype, resolve_device
from speechseq.core.task import Task
from speechseq.errors import SpeechseqError
from speechseq.fileio import atomic_write
from speechseq.progress import progress_bar
from speechseq.ranges import FREE, Check, check_fields, integer, number, one_of, setting


def _device_ok(value: str) -> bool:
    return value in ("auto", "cpu", "cuda", "mps") or (
        value.startswith("cuda:") and value[5:].isdigit()
    )


@dataclass(frozen=True)
class TrainConfig:
    max_epochs: int = setting(30, integer(ge=1))  # passes over the training set
    max_frames: int = setting(12000, integer(ge=1))  # padded 10 ms frames per batch (N * max T)
    lr: float = setting(2e-3, number(gt=0))  # peak learning rate (AdamW)
    weight_decay: float = setting(1e-2, number(ge=0))  # AdamW decoupled weight decay
    warmup_steps: int = setting(200, integer(ge=0))  # linear warmup from 0 to lr
    min_lr_ratio: float = setting(0.05, number(ge=0, le=1))  # cosine decay ends at lr * this
    # gradient-norm clipping threshold (a cliff must not throw the weights away)
    clip_norm: float = setting(5.0, number(gt=0))
    # consecutive non-finite steps before training stops
    max_bad_steps: int = setting(20, integer(ge=1))
    # steps between step checkpoints (0: epoch checkpoints only)
    checkpoint_every: int = setting(500, integer(ge=0))
    keep_checkpoints: int = setting(3, integer(ge=1))  # step checkpoints kept (oldest removed)
    # epochs without dev improvement before stopping (0: never stop early)
    patience: int = setting(0, integer(ge=0))
    # final.pt = average of the last k epoch checkpoints (1: the best epoch's weights)
    average_last: int = setting(1, integer(ge=1))
    # auto (bf16/fp16 on GPU, fp32 on CPU) | fp32 | bf16 | fp16
    precision: str = setting("auto", one_of("auto", "fp32", "bf16", "fp16"))
    # auto (cuda, then mps, then cpu) | cpu | cuda[:N] | mps
    device: str = setting("auto", Check(_device_ok, "auto, cpu, cuda, cuda:N or mps"))
    # seeds Python, NumPy and torch; batches depend on (seed, epoch)
    seed: int = setting(0, integer(ge=0))
    num_workers: int = setting(0, integer(ge=0))  # data-loading worker processes
    deterministic: bool = False  # torch deterministic algorithms (for exact resume checks)
    # start from the weights of another experiment dir (its final.pt) or a .pt file
    init_from: str = setting("", FREE)
    # with init_from: only parameters under this prefix (e.g. "encoder"); "" = all that match
    init_part: str = setting("", FREE)
    # comma-separated parameter-name prefixes kept fixed (e.g. "encoder")
    freeze: str = setting("", FREE)

    def __post_init__(self):
        check_fields(self, "train")


@dataclass
class TrainState:
    run_id: str = ""  # drawn when a run starts, kept when it resumes; in every checkpoint
    epoch: int = 0  # epochs finished
    step: int = 0  # batches processed (skipped ones included)
    batch_in_epoch: int = 0  # batches processed in the current epoch
    bad_steps: int = 0  # non-finite steps skipped in all
    bad_in_a_row: int = 0
    best_metric: float | None = None
    best_epoch: int = -1
    epochs_since_best: int = 0
    history: list[dict] = field(default_factory=list)  # one row per epoch


def _rng_state() -> dict:
    """Every random generator's state, as tensors and plain values (checkpoints load with
    ``weights_only=True``, which refuses NumPy objects)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    st = {
        "python": random.getstate(),
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def _set_rng_state(st: dict) -> None:
    random.setstate(st["python"])
    name, keys, pos, has_gauss, cached = st["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(st["torch"])
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _distributed() -> tuple[int, int, int]:
    """(rank, world_size, local_rank) from torchrun's environment; (0, 1, 0) otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, 0
    return int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0"))


class Trainer:
    """Trains ``task``'s model into ``exp_dir``; see the module docstring."""

    def __init__(
        self, task: Task, cfg: TrainConfig, exp_dir: str | os.PathLike, quiet: bool = False
    ):
        self.task, self.cfg, self.exp = task, cfg, Path(exp_dir)
        self.ckpt_dir = self.exp / "checkpoints"
        self.rank, self.world, local_rank = _distributed()
        self.quiet = quiet or self.rank != 0
        if self.world > 1:
            if not torch.distributed.is_initialized():
                torch.distributed.init_process_group(
                    "nccl" if torch.cuda.is_available() else "gloo"
                )
            self.device = (
                torch.device(f"cuda:{local_rank}")
                if torch.cuda.is_available()
                else torch.device("cpu")
            )
            if self.device.type == "cuda":
                torch.cuda.set_device(self.device)
        else:
            self.device = resolve_device(cfg.device, quiet=self.quiet)
        self.amp_dtype = autocast_dtype(self.device, cfg.precision)
        if cfg.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)

    # -- helpers -------------------------------------------------------------------------

    def log(self, msg: str) -> None:
        if not self.quiet:
            print(msg, file=sys.stderr)

    def _autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def _schedule(self, total_steps: int):
        cfg = self.cfg

        def lr_factor(step: int) -> float:
            if step < cfg.warmup_steps:
                return (step + 1) / cfg.warmup_steps
            progress = min(1.0, (step - cfg.warmup_steps) / max(1, total_steps - cfg.warmup_steps))
            return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (
                1 + math.cos(math.pi * progress)
            )

        return lr_factor

    def _save(self, name: str, model, opt, sched, scaler, state: TrainState) -> Path:
        path = self.ckpt_dir / name
        if self.rank == 0:
            raw = model.module if hasattr(model, "module") else model
            ckpt.save(
                {
                    "model": raw.state_dict(),
                    "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(),
                    "scaler": scaler.state_dict(),
                    "state": asdict(state),
                    "rng": _rng_state(),
                },
                path,
            )
            ckpt.mark_latest(self.ckpt_dir, path)
        return path

    def _improved(self, metric: float, state: TrainState) -> bool:
        if state.best_metric is None or not math.isfinite(state.best_metric):
            return math.isfinite(metric)
        return (
            metric < state.best_metric
            if self.task.metric_mode == "min"
            else metric > state.best_metric
        )

    def loaders(self, train_set: FeatDataset, dev_set: FeatDataset | None = None):
        """Bucketed loaders for a training and a dev :class:`~speechseq.core.batching.FeatDataset`,
        collated by the task; the training batches are shared out among DDP ranks."""
        c, collate = self.cfg, self.task.collate
        train = make_loader(
            train_set, c.max_frames, True, c.seed, c.num_workers, self.rank, self.world, collate
        )
        dev = (
            make_loader(dev_set, c.max_frames, False, 0, c.num_workers, collate_fn=collate)
            if dev_set is not None
            else None
        )
        return train, dev

    def to_device(self, batch: dict) -> dict:
        """The batch with every tensor on the training device."""
        nb = self.device.type == "cuda"
        return {
            k: v.to(self.device, non_blocking=nb) if isinstance(v, torch.Tensor) else v
            for k, v in batch.items()
        }

    def evaluate(self, model, loader) -> dict[str, float]:
        """The task's dev figures, with the model in eval mode and no gradients."""
        raw = model.module if hasattr(model, "module") else model
        raw.eval()
        try:
            with torch.no_grad(), self._autocast():
                return self.task.evaluate(raw, (self.to_device(b) for b in loader))
        finally:
            raw.train()

    def _prepare(self, model: nn.Module, fresh: bool) -> None:
        """Freeze the ``freeze`` prefixes; load ``init_from`` weights into a ``fresh`` model
        (a resumed one gets its weights from the checkpoint)."""
        cfg = self.cfg
        prefixes = [p.strip() for p in cfg.freeze.split(",") if p.strip()]
        if prefixes:
            frozen = 0
            for name, p in model.named_parameters():
                if any(name == q or name.startswith(q + ".") for q in prefixes):
                    p.requires_grad_(False)
                    frozen += p.numel()
            if not frozen:
                raise SpeechseqError(
                    f"freeze '{cfg.freeze}': no parameter has that prefix — parameter names start with "
                    f"{', '.join(sorted({n.split('.')[0] for n, _ in model.named_parameters()}))}"
                )
            self.log(
                f"freeze: {frozen / 1e6:.2f}M parameters under {', '.join(prefixes)} kept fixed"
            )
        if cfg.init_from and fresh:
            n, source = init_weights(model, cfg.init_from, cfg.init_part)
            self.log(
                f"init-from {source}: {n} tensors"
                + (f" under '{cfg.init_part}'" if cfg.init_part else "")
            )

    # -- the loop --------------------------------------------------------------------------

    def fit(self, train_loader, dev_loader=None, resume: bool = False) -> TrainState:
        """Train until ``max_epochs`` or early stop; writes checkpoints, metrics and ``final.pt``."""
        cfg, task = self.cfg, self.task
        self.exp.mkdir(parents=True, exist_ok=True)
        self.ckpt_dir.mkdir(exist_ok=True)
        seed_everything(cfg.seed)
        model = task.build_model()
        resume_from = ckpt.latest(self.ckpt_dir) if resume else None
        self._prepare(model, fresh=resume_from is None)
        model = model.to(self.device)
        if self.world > 1:
            model = nn.parallel.DistributedDataParallel(
                model, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        sampler = train_loader.batch_sampler
        steps_per_epoch = len(sampler)
        total_steps = steps_per_epoch * cfg.max_epochs
        raw_model = model.module if hasattr(model, "module") else model
        opt = torch.optim.AdamW(
            task.parameter_groups(raw_model), lr=cfg.lr, weight_decay=cfg.weight_decay
        )
        sched = torch.optim.lr_scheduler.LambdaLR(opt, self._schedule(total_steps))
        scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype == torch.float16)
        state = TrainState(run_id=uuid.uuid4().hex[:12])

        if resume:
            last = resume_from
            if last is None:
                self.log(f"resume: no checkpoint in {self.ckpt_dir}, starting from scratch")
            else:
                c = ckpt.load(last, map_location=self.device)
                (model.module if hasattr(model, "module") else model).load_state_dict(c["model"])
                opt.load_state_dict(c["optimizer"])
                sched.load_state_dict(c["scheduler"])
                scaler.load_state_dict(c["scaler"])
                state = TrainState(**c["state"])
                _set_rng_state(c["rng"])
                self.log(
                    f"resume: continuing from {last.name} (epoch {state.epoch}, step {state.step})"
                )

        tb = self._tensorboard()
        n_params = sum(p.numel() for p in model.parameters())
        self.log(
            f"training {type(task).__name__}: {n_params / 1e6:.2f}M parameters, {steps_per_epoch} batches/epoch, "
            f"device {self.device}{'' if self.amp_dtype is None else f' ({self.amp_dtype})'}, world size {self.world}"
        )
        stop_reason = "max epochs"
        while state.epoch < cfg.max_epochs:
            sampler.set_epoch(state.epoch)
            sampler.start_at(state.batch_in_epoch)
            task.on_epoch_start(state.epoch, raw_model)
            model.train()
            t0, audio_s, loss_sum, loss_n = time.time(), 0.0, 0.0, 0
            stat_sums: dict[str, float] = {}
            with self._progress(steps_per_epoch, state) as bar:
                for batch in train_loader:
                    audio_s += batch_audio_seconds(batch)
                    loss, stats = self._step(
                        model, self.to_device(batch), opt, sched, scaler, state
                    )
                    if loss is not None:
                        loss_sum, loss_n = loss_sum + loss, loss_n + 1
                        for k, v in stats.items():
                            stat_sums[k] = stat_sums.get(k, 0.0) + float(v)
                    elapsed = max(time.time() - t0, 1e-9)
                    # the epoch's mean so far (one batch's loss jumps by 2-3x between lines)
                    bar(loss=loss_sum / loss_n if loss_n else None, audio_per_s=audio_s / elapsed)
                    if tb is not None and loss is not None:
                        tb.add_scalar("train/loss", loss, state.step)
                        tb.add_scalar("train/lr", sched.get_last_lr()[0], state.step)
                        for k, v in stats.items():
                            tb.add_scalar(f"train/{k}", float(v), state.step)
                    if cfg.checkpoint_every and state.step % cfg.checkpoint_every == 0:
                        self._save(f"step-{state.step}.pt", model, opt, sched, scaler, state)
                        if self.rank == 0:
                            ckpt.rotate(self.ckpt_dir, "step", cfg.keep_checkpoints, state.run_id)
            elapsed = time.time() - t0
            train_loss = loss_sum / max(loss_n, 1)
            dev = self.evaluate(model, dev_loader) if dev_loader is not None else {}
            metric = dev.get(
                task.metric_name, -train_loss if task.metric_mode == "max" else train_loss
            )
            state.epoch += 1
            state.batch_in_epoch = 0
            row = {
                "epoch": state.epoch,
                "step": state.step,
                "train_loss": round(train_loss, 5),
                **{f"train_{k}": round(v / max(loss_n, 1), 5) for k, v in stat_sums.items()},
                "lr": sched.get_last_lr()[0],
                "audio_s_per_s": round(audio_s / max(elapsed, 1e-9), 1),
                "epoch_time_s": round(elapsed, 1),
                "bad_steps": state.bad_steps,
                **{f"dev_{k}": round(v, 5) for k, v in dev.items()},
            }
            state.history.append(row)
            if tb is not None:
                for k, v in dev.items():
                    tb.add_scalar(f"dev/{k}", v, state.step)
            if self._improved(metric, state):
                state.best_metric, state.best_epoch, state.epochs_since_best = (
                    metric,
                    state.epoch,
                    0,
                )
                if self.rank == 0:
                    raw = model.module if hasattr(model, "module") else model
                    ckpt.save(
                        {"model": raw.state_dict(), "state": asdict(state)},
                        self.ckpt_dir / "best.pt",
                    )
            else:
                state.epochs_since_best += 1
            self._save(f"epoch-{state.epoch}.pt", model, opt, sched, scaler, state)
            if self.rank == 0:
                ckpt.rotate(self.ckpt_dir, "epoch", max(cfg.average_last, 1), state.run_id)
            self._write_metrics(state)
            dev_txt = " ".join(f"dev_{k}={v:.4f}" for k, v in dev.items())
            self.log(
                f"epoch {state.epoch}/{cfg.max_epochs}: train_loss={train_loss:.4f} {dev_txt} "
                f"({elapsed:.1f}s, {row['audio_s_per_s']} s audio/s, {state.bad_steps} bad steps)"
            )
            if cfg.patience and state.epochs_since_best >= cfg.patience:
                stop_reason = f"early stop: no dev improvement in {cfg.patience} epochs"
                break
        self.log(
            f"stopped ({stop_reason}); best {task.metric_name} {state.best_metric} at epoch {state.best_epoch}"
        )
        if tb is not None:
            tb.close()
        if self.rank == 0:
            self._finish(state)
        return state

    def _step(self, model, batch, opt, sched, scaler, state: TrainState):
        """One optimiser step; returns (loss or None if skipped, stats)."""
        opt.zero_grad(set_to_none=True)
        with self._autocast():
            loss, stats = self.task.loss(model, batch)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), self.cfg.clip_norm)
        state.step += 1
        state.batch_in_epoch += 1
        finite = bool(torch.isfinite(loss.detach())) and bool(torch.isfinite(grad_norm))
        if not finite:
            opt.zero_grad(set_to_none=True)
            scaler.update()
            state.bad_steps += 1
            state.bad_in_a_row += 1
            self.log(
                f"step {state.step}: non-finite {'loss' if not torch.isfinite(loss.detach()) else 'gradient'} "
                f"(utterances {', '.join(batch['utt_ids'][:3])}{'…' if len(batch['utt_ids']) > 3 else ''}); "
                f"step skipped ({state.bad_steps} so far)"
            )
            if state.bad_in_a_row >= self.cfg.max_bad_steps:
                raise SpeechseqError(
                    f"{state.bad_in_a_row} training steps in a row had a non-finite loss or gradient — "
                    f"check the features for NaN/inf (speechseq data validate), lower --lr, or use fp32"
                )
            return None, stats
        state.bad_in_a_row = 0
        scaler.step(opt)
        scaler.update()
        sched.step()
        return float(loss.detach()), stats

    # -- outputs ---------------------------------------------------------------------------

    def _tensorboard(self):
        if self.rank != 0:
            return None
        try:  # deferred: tensorboard is slow to import and optional at run time
            from torch.utils.tensorboard import SummaryWriter
        except Exception:
            return None
        return SummaryWriter(str(self.exp / "tensorboard"))

    @contextlib.contextmanager
    def _progress(self, total: int, state: TrainState):
        label = f"epoch {state.epoch + 1}/{self.cfg.max_epochs}"
        with progress_bar(
            label,
            "loss {task.fields[loss]}",
            "{task.fields[speed]} s audio/s",
            enabled=not self.quiet,
        ) as progress:
            tid = progress.add_task(
                "batches", total=total, completed=state.batch_in_epoch, loss="-", speed="-"
            )

            def update(loss=None, audio_per_s=0.0):
                progress.update(
                    tid,
                    advance=1,
                    loss="skip" if loss is None else f"{loss:.3f}",
                    speed=f"{audio_per_s:.0f}",
                )

            yield update

    def _write_metrics(self, state: TrainState) -> None:
        if self.rank != 0 or not state.history:
            return
        keys: list[str] = []
        for row in state.history:
            keys += [k for k in row if k not in keys]
        with atomic_write(self.exp / "metrics.csv") as f:
            w = csv.DictWriter(f, fieldnames=keys)
            w.writeheader()
            w.writerows(state.history)

    def _finish(self, state: TrainState) -> None:
        """final.pt (best, or average of the last k epochs of this run) and curves.png."""
        epochs = ckpt.of_run(self.ckpt_dir, "epoch", state.run_id)
        if self.cfg.average_last > 1 and len(epochs) > 1:
            use = epochs[-self.cfg.average_last :]
            weights = ckpt.average(use)
            source = f"average of {', '.join(p.name for p in use)}"
        elif (self.ckpt_dir / "best.pt").is_file():
            weights, source = (
                ckpt.load(self.ckpt_dir / "best.pt")["model"],
                f"best.pt (epoch {state.best_epoch})",
            )
        else:
            weights, source = ckpt.load(epochs[-1])["model"], epochs[-1].name
        ckpt.save(
            {"model": weights, "meta": self.task.full_meta(), "source": source},
            self.exp / "final.pt",
        )
        self.log(f"wrote {self.exp / 'final.pt'} ({source})")
        plot_curves(state.history, self.exp / "curves.png")


def plot_curves(history: list[dict], path: Path) -> None:
    """Train loss and every dev metric against epoch, one panel each."""
    if not history:
        return
    import matplotlib  # deferred: matplotlib is slow to import and only needed here

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # deferred, as above

    dev_keys = [k for k in history[0] if k.startswith("dev_")]
    panels = ["train_loss", *dev_keys]
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.2), squeeze=False)
    epochs = [r["epoch"] for r in history]
    for ax, key in zip(axes[0], panels, strict=True):
        ax.plot(epochs, [r.get(key, float("nan")) for r in history], marker="o")
        ax.set_title(key)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png", dpi=100)
    plt.close(fig)


def init_weights(model: nn.Module, source: str, part: str = "") -> tuple[int, str]:
    """Copy weights from ``source`` (an experiment dir's final.pt, or a checkpoint file) into
    ``model``: those under ``part`` (a parameter-name prefix such as ``encoder``), or with
    ``part=""`` every tensor whose name and shape match. Returns (tensors copied, file)."""
    path = Path(source)
    if path.is_dir():
        path = path / "final.pt"
    saved = ckpt.load(path)["model"]
    own = model.state_dict()
    prefix = f"{part}." if part else ""
    wanted = {k: v for k, v in saved.items() if k.startswith(prefix)}
    if part and not wanted:
        raise SpeechseqError(
            f"--init-from {source}: the model has no parameters under '{part}' — its parts are "
            f"{', '.join(sorted({k.split('.')[0] for k in saved}))}"
        )
    missing = sorted(k for k in wanted if k not in own)
    shapes = sorted(
        f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}"
        for k, v in wanted.items()
        if k in own and own[k].shape != v.shape
    )
    if part and (missing or shapes):
        what = (
            f"{len(missing)} tensor(s) the new model lacks (first: {missing[0]})"
            if missing
            else f"shapes differ: {shapes[0]}"
        )
        raise SpeechseqError(
            f"--init-from {source} --init-part {part}: {what} — give the same encoder settings "
            f"(and input features) as the source experiment"
        )
    use = {k: v for k, v in wanted.items() if k in own and own[k].shape == v.shape}
    if not use:
        raise SpeechseqError(
            f"--init-from {source}: no tensor matches the new model by name and shape — "
            f"give the same encoder settings, or --init-part encoder"
        )
    model.load_state_dict(use, strict=False)
    return len(use), str(path)
