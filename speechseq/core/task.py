"""The task contract: what a task (CTC, embedder, a frame classifier, translation) implements.

The :class:`~speechseq.core.trainer.Trainer` owns everything that is the same for every
task — device and mixed precision, moving batches to the device, the optimiser step with
clipping and the non-finite guard, the learning-rate schedule, checkpoints and ``--resume``,
starting from another experiment's weights, early stopping, metrics.csv / TensorBoard,
DDP — and asks the task only for what differs. To add a task, subclass :class:`Task`:

``name``
    A short id (``"ctc"``, ``"embed"``) saved in ``final.pt``; :func:`task_class` finds the
    class again from it (or from the saved ``module:Class`` path) when a model is loaded.
``data_fields``
    The data-dir files the task reads besides the features (``("text",)`` for CTC,
    ``("ctm",)`` for word segments): documentation for users and a check for commands.
``metric_name``, ``metric_mode``
    The dev metric that picks the best epoch and drives early stopping — one key of
    :meth:`evaluate`'s result — and whether lower (``"min"``) or higher (``"max"``) is better.
``pad_values``
    How :meth:`collate` pads each field of a batch (default: features 0.0, ``targets`` -1;
    a frame-level target stream would use e.g. ``{"frame_labels": -100}``).
:meth:`build_model`
    A fresh ``nn.Module``. Models take tensors and return tensors; they know nothing of
    paths or logging.
:meth:`loss`
    ``(model, batch) -> (loss, stats)``: a scalar tensor to minimise and a dict of floats
    (e.g. ``{"mse": 0.41, "same_word": 1.2}``) that the Trainer averages per epoch into
    metrics.csv (``train_<key>``) and logs per step to TensorBoard (``train/<key>``).
    The batch is already on the model's device (:func:`~speechseq.core.batching.pad_collate`
    keys: ``utt_ids``, ``feats [N, T, C]``, ``lengths [N]``, ``targets [N, L]``,
    ``target_lengths [N]``, and one tensor plus lengths per extra field).
:meth:`evaluate`
    ``(model, batches) -> {"loss": ..., metric_name: ..., ...}`` on the dev set; the batches
    are already on the device and the model is in eval mode under ``torch.no_grad``.
:meth:`meta`
    Plain values (ints, floats, strings) that, with the experiment's ``config.yaml``,
    rebuild the model: saved in ``final.pt`` next to the weights.

Optional hooks, with defaults that most tasks keep:

:meth:`collate`
    ``items -> batch``; the default pads every field (:func:`pad_collate`).
:meth:`on_epoch_start`
    ``(epoch, model)`` before each training epoch (e.g. a scheduled-sampling rate).
:meth:`parameter_groups`
    The parameters to optimise, as ``torch.optim`` parameter groups (e.g. a lower learning
    rate for a pretrained encoder). Frozen parameters (``requires_grad=False``, see the
    trainer's ``freeze`` option) are left out by the default.
:meth:`from_experiment`
    Rebuild the task of a trained model directory, for inference (``load_experiment``).

Decodable tasks (those ``speechseq decode`` accepts) also implement :meth:`outputs`
(network outputs per utterance, e.g. CTC log-posteriors, or the encoder output an attention
decoder searches over) and :meth:`decoder` (a decoding strategy from :mod:`speechseq.decode`;
it is given the model too, for searches that run the network step by step).
"""

from __future__ import annotations

import abc
import importlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from speechseq.core.batching import PAD_VALUES, pad_collate
from speechseq.errors import SpeechseqError

# Tasks saved before final.pt recorded their class: the name -> "module:Class" of the built-in ones.
BUILTIN_TASKS = {
    "ctc": "speechseq.asr.ctc:CTCTask",
    "embed": "speechseq.embed.model:EmbedTask",
}


@dataclass(frozen=True)
class Exportable:
    """What a task hands to ``speechseq export``: a module of tensors only, and what it means.

    ``module.forward(feats [N, T, C] float32, lengths [N] int64)`` returns the tensors named in
    ``outputs`` (in that order); ``info`` holds further JSON fields a user needs to feed it
    (units, frame shift, the normalisation its input must have had).
    """

    module: nn.Module
    outputs: dict[str, str]  # output name -> dtype, shape and meaning
    info: dict[str, Any]  # extra fields of the JSON written beside the exported file


class Task(abc.ABC):
    """One kind of model and its training objective; see the module docstring."""

    name: ClassVar[str] = ""  # saved in final.pt meta as "task"
    data_fields: ClassVar[tuple[str, ...]] = ()  # data-dir files read besides the features
    metric_name: ClassVar[str] = "loss"  # a key of evaluate()'s result
    metric_mode: ClassVar[str] = "min"  # "min" | "max": which way the metric improves
    pad_values: ClassVar[dict[str, float | int]] = dict(PAD_VALUES)  # per-field padding

    # -- required ----------------------------------------------------------------------------

    @abc.abstractmethod
    def build_model(self) -> nn.Module:
        """A freshly initialised model."""

    @abc.abstractmethod
    def loss(self, model: nn.Module, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        """The training loss of one (device-resident) batch and the stats to log."""

    @abc.abstractmethod
    def evaluate(self, model: nn.Module, batches: Iterable[dict]) -> dict[str, float]:
        """Dev-set figures: ``loss`` and :attr:`metric_name` at least."""

    @abc.abstractmethod
    def meta(self) -> dict[str, Any]:
        """Plain values needed with config.yaml to rebuild the model (input_dim, vocabulary size ...)."""

    # -- optional hooks ------------------------------------------------------------------------

    def collate(self, items: Sequence[dict]) -> dict:
        """Items of a :class:`~speechseq.core.batching.FeatDataset` -> one padded batch."""
        return pad_collate(items, self.pad_values)

    def on_epoch_start(self, epoch: int, model: nn.Module) -> None:
        """Called before training epoch ``epoch`` (0-based), on every rank."""
        return None

    def parameter_groups(self, model: nn.Module) -> list[dict]:
        """Parameter groups for the optimiser (AdamW); frozen parameters are left out."""
        return [{"params": [p for p in model.parameters() if p.requires_grad]}]

    @classmethod
    def from_experiment(cls, exp: Path, config: dict[str, Any], meta: dict[str, Any]) -> Task:
        """The task of a trained model directory (``config``: its config.yaml, ``meta``: final.pt's)."""
        raise SpeechseqError(f"{exp}: {cls.__name__} models cannot be loaded for inference")

    # -- decodable tasks -----------------------------------------------------------------------

    def outputs(self, model: nn.Module, batch: dict) -> list[np.ndarray]:
        """Per-utterance network outputs a decoder searches (e.g. log-posteriors ``[T', V]``)."""
        raise SpeechseqError(
            f"a {self.name} model has nothing to decode — use the command made for it"
        )

    def decoder(self, options: Any, model: nn.Module | None = None):
        """A decoding strategy (see :mod:`speechseq.decode`) for ``options``; ``model`` is the
        loaded network, for strategies that run part of it during search (an attention decoder)."""
        raise SpeechseqError(
            f"a {self.name} model has nothing to decode — use the command made for it"
        )

    # -- exportable tasks ----------------------------------------------------------------------

    def exportable(self, model: nn.Module) -> Exportable | None:
        """The part of ``model`` that ``speechseq export`` writes out, or None: not exportable."""
        return None

    def full_meta(self) -> dict[str, Any]:
        """:meth:`meta` plus what finds this class again (saved in final.pt)."""
        cls = type(self)
        return {
            "task": self.name,
            "task_class": f"{cls.__module__}:{cls.__qualname__}",
            **self.meta(),
        }


def task_class(meta: dict[str, Any], where: str) -> type[Task]:
    """The Task class a saved model's ``meta`` names (its ``task_class``, else a built-in ``task``).

    The import is by name at run time: core must not import the task packages above it.
    """
    path = meta.get("task_class") or BUILTIN_TASKS.get(str(meta.get("task")))
    if not path:
        raise SpeechseqError(
            f"{where}: the model's task '{meta.get('task')}' is unknown — it was not written by this speechseq"
        )
    module, _, qualname = path.partition(":")
    try:
        obj: Any = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as e:
        raise SpeechseqError(
            f"{where}: cannot find the model's task class {path} ({e}) — is the package that defines it installed?"
        ) from None
    if not (isinstance(obj, type) and issubclass(obj, Task)):
        raise SpeechseqError(f"{where}: {path} is not a speechseq Task")
    return obj
