"""Datasets over feats.scp and length-bucketed batches capped by total frames.

A dataset item is a dict of fields (``utt_id``, ``feats [T, C]``, and whatever streams a
task adds); :func:`pad_collate` turns a list of them into a batch dict of padded tensors,
one per field, each with its lengths: ``feats: [N, T, C]`` float32 (zero padded) with
``lengths: [N]`` (frames), ``utt_ids`` (list of str), ``targets: [N, L]`` (padded with -1)
with ``target_lengths: [N]``, and so on for any other field.
"""

from __future__ import annotations

import collections
import random
import re
import traceback
from collections.abc import Callable, Collection, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from speechseq.errors import SpeechseqError
from speechseq.features.reader import ArrayReader  # noqa: F401  (re-exported: the in-memory reader)


class FeatDataset(Dataset):
    """Utterances of a data dir as items ``{"utt_id": str, "feats": float32 [T, C], <field>: ...}``.

    ``reader`` maps an utterance id to its (normalised) features and knows
    ``num_frames(utt)`` without loading them. ``fields`` adds any number of per-utterance
    streams by name (``{"targets": {utt: [ids]}, "frame_labels": {utt: array [T]}}``);
    ``targets`` is shorthand for ``fields={"targets": targets}``. ``groups`` asks for
    batches that hold several items of each group (:class:`GroupBatchSampler`), e.g. several
    spoken examples of each word for a contrastive loss.
    """

    def __init__(
        self,
        reader,
        utt_ids: Sequence[str] | None = None,
        targets: Mapping[str, Sequence[int]] | None = None,
        fields: Mapping[str, Mapping[str, object]] | None = None,
        groups: Groups | None = None,
    ):
        self.reader = reader
        self.utt_ids = list(utt_ids if utt_ids is not None else reader.utt_ids)
        self.fields = dict(fields or {})
        if targets is not None:
            self.fields["targets"] = targets
        self.lengths = [reader.num_frames(u) for u in self.utt_ids]  # frames, for bucketing
        self.groups = groups

    def __len__(self) -> int:
        return len(self.utt_ids)

    def __getitem__(self, i: int) -> dict:
        utt = self.utt_ids[i]
        item = {"utt_id": utt, "feats": np.asarray(self.reader[utt], dtype=np.float32)}
        for name, table in self.fields.items():
            item[name] = table[utt]
        return item


PAD_VALUES: dict[str, float | int] = {"feats": 0.0, "targets": -1}  # what pad_collate pads with
LENGTH_KEYS: dict[str, str] = {
    "feats": "lengths",
    "targets": "target_lengths",
}  # else <name>_lengths


def lengths_key(name: str) -> str:
    """The batch key holding the lengths of field ``name`` (``feats`` -> ``lengths``)."""
    return LENGTH_KEYS.get(name, f"{name}_lengths")


def pad_collate(items: Sequence[dict], pad_values: Mapping[str, float | int] | None = None) -> dict:
    """Collate dict items field by field into one batch dict.

    - ``utt_id`` (str) -> ``utt_ids``: list of str;
    - a sequence field (array or list, first axis = time or tokens) -> a tensor ``[N, L, ...]``
      padded with ``pad_values[name]`` (default :data:`PAD_VALUES`, else 0), and its lengths
      ``[N]`` under :func:`lengths_key` (``feats`` -> ``lengths``, ``targets`` -> ``target_lengths``);
    - a scalar field (int or float) -> a tensor ``[N]``;
    - any other value -> a list.

    Floating arrays become float32, integer ones int64. Any number of input and target
    streams, each with its own lengths and padding, so a task rarely needs its own collate.
    """
    pads = {**PAD_VALUES, **(pad_values or {})}
    batch: dict = {"utt_ids": [it["utt_id"] for it in items]}
    for name in items[0]:
        if name == "utt_id":
            continue
        values = [it[name] for it in items]
        first = values[0]
        if isinstance(first, (bool, int, float, np.integer, np.floating)):
            batch[name] = torch.tensor(values)
            continue
        if not isinstance(first, (np.ndarray, list, tuple, torch.Tensor)):
            batch[name] = values
            continue
        arrays = [np.asarray(v) for v in values]
        floating = any(a.dtype.kind == "f" for a in arrays)
        dtype = torch.float32 if floating else torch.long
        lens = torch.tensor([a.shape[0] for a in arrays], dtype=torch.long)
        tail = next((a.shape[1:] for a in arrays if a.size), arrays[0].shape[1:])
        out = torch.full(
            (len(arrays), max(int(lens.max()), 1), *tail), pads.get(name, 0), dtype=dtype
        )
        for k, a in enumerate(arrays):
            if a.shape[0]:
                out[k, : a.shape[0]] = torch.as_tensor(a, dtype=dtype)
        batch[name] = out
        batch[lengths_key(name)] = lens
    return batch


def collate(items: Sequence[dict]) -> dict:
    """:func:`pad_collate` with the default padding values (features 0, targets -1)."""
    return pad_collate(items)


@dataclass(frozen=True)
class Groups:
    """Which items belong together in a batch: ``label[utt]`` (e.g. the word), ``size`` items of
    a label per batch, spread over ``speaker[utt]`` where given (different voices first)."""

    label: Mapping[str, Hashable]  # utterance (segment) id -> group label
    size: int = 2  # items of one label that go into a batch together (>= 2)
    speaker: Mapping[str, Hashable] | None = None  # utterance id -> speaker, to mix voices
    # items of no group (negatives), not in ``label``: spread over the batches, about
    # len(extras) / (labelled items) of them per labelled item in each batch
    extras: Collection[str] = ()


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of similar length whose padded size ``N * max(T)`` stays under ``max_frames``.

    The batch list of an epoch depends only on ``(seed, epoch)``, so a resumed run that
    calls ``set_epoch(e)`` and ``start_at(k)`` sees exactly the batches an uninterrupted
    run would from batch ``k`` on. Under DistributedDataParallel each of ``world_size``
    ranks takes every ``world_size``-th batch (the list is cut to a multiple of it).
    """

    def __init__(
        self,
        lengths: Sequence[int],
        max_frames: int,
        shuffle: bool = True,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ):
        self.lengths = list(lengths)
        self.max_frames = max_frames
        self.shuffle, self.seed = shuffle, seed
        self.rank, self.world_size = rank, world_size
        self.epoch, self.start = 0, 0
        too_long = [i for i, n in enumerate(self.lengths) if n > max_frames]
        if too_long:
            raise SpeechseqError(
                f"{len(too_long)} utterance(s) are longer than --max-frames {max_frames} "
                f"(longest {max(self.lengths)} frames) — raise --max-frames or split long utterances"
            )

    def set_epoch(self, epoch: int) -> None:
        self.epoch, self.start = epoch, 0

    def start_at(self, batch_index: int) -> None:
        """Skip the first ``batch_index`` batches of this epoch (this rank's count), for resuming."""
        self.start = batch_index

    def batches(self) -> list[list[int]]:
        rng = random.Random(self.seed * 100003 + self.epoch)
        order = list(range(len(self.lengths)))
        if self.shuffle:  # random order within equal lengths, then sort by length
            rng.shuffle(order)
        order.sort(key=lambda i: self.lengths[i])
        batches, cur, cur_max = [], [], 0
        for i in order:
            m = max(cur_max, self.lengths[i])
            if cur and m * (len(cur) + 1) > self.max_frames:
                batches.append(cur)
                cur, m = [], self.lengths[i]
            cur.append(i)
            cur_max = m
        if cur:
            batches.append(cur)
        if self.shuffle:
            rng.shuffle(batches)
        if self.world_size > 1:
            usable = len(batches) // self.world_size * self.world_size
            batches = batches[:usable][self.rank :: self.world_size]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        yield from self.batches()[self.start :]

    def __len__(self) -> int:
        return len(self.batches())


class GroupBatchSampler(BucketBatchSampler):
    """Batches made of runs of ``groups.size`` items with one label (by different speakers
    where the label has several), under the same padded-frame budget as
    :class:`BucketBatchSampler`, and like it a function of ``(seed, epoch)`` (resume, DDP).

    Each epoch, every label's items are shuffled, ordered round-robin over their speakers and
    cut into runs of ``size`` (a last run of one joins the run before it); runs are sorted by
    their longest item with a random +-25% jitter, so a batch holds words of similar length
    (cheap padding, hard negatives) but not always the same ones, packed into batches and
    shuffled. Items whose label has no second item cannot form a pair: they are left out of
    the training batches (``left_out`` counts them), never silently — the caller reports it.

    ``groups.extras`` (items of no label: negatives) are added to every batch after it is packed,
    ``ratio = len(extras) / labelled items`` of them per labelled item: the labelled items are
    packed under ``max_frames / (1 + ratio)``, and each batch then takes extras from a queue
    shuffled each epoch, those that keep it under ``max_frames`` (at most 64 looked at per
    batch; the others wait for the next batch). No batch is of extras alone; an extra that
    fits nowhere in an epoch is left for the next one.
    """

    def __init__(
        self,
        utt_ids: Sequence[str],
        lengths: Sequence[int],
        groups: Groups,
        max_frames: int,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ):
        super().__init__(lengths, max_frames, True, seed, rank, world_size)
        if groups.size < 2:
            raise SpeechseqError(
                f"{groups.size} items per group: a grouped batch needs at least 2 of each label"
            )
        extras = set(groups.extras)
        self.extras = [i for i, u in enumerate(utt_ids) if u in extras]
        by_label: dict[Hashable, list[int]] = {}
        for i, u in enumerate(utt_ids):
            if u not in extras:
                by_label.setdefault(groups.label[u], []).append(i)
        self.members = [ix for ix in by_label.values() if len(ix) >= 2]
        self.left_out = sum(len(ix) for ix in by_label.values() if len(ix) < 2)
        if not self.members:
            raise SpeechseqError(
                f"no label has two items among {len(utt_ids)} — grouped batches need repeated labels "
                "(e.g. words spoken more than once)"
            )
        spk = groups.speaker or {}
        self.speaker = [spk.get(u, i) for i, u in enumerate(utt_ids)]
        self.size = groups.size
        self.ratio = len(self.extras) / sum(len(ix) for ix in self.members)

    def _runs(self, rng: random.Random) -> list[list[int]]:
        runs = []
        for ix in self.members:
            by_spk: dict[Hashable, list[int]] = {}
            for i in rng.sample(ix, len(ix)):
                by_spk.setdefault(self.speaker[i], []).append(i)
            queues = list(by_spk.values())
            order = []  # round-robin: one item of each speaker, then the second of each ...
            for k in range(max(len(q) for q in queues)):
                order += [q[k] for q in queues if k < len(q)]
            cut = [order[k : k + self.size] for k in range(0, len(order), self.size)]
            if len(cut) > 1 and len(cut[-1]) < 2:
                last = cut.pop()
                cut[-1] += last
            runs += cut
        return runs

    def batches(self) -> list[list[int]]:
        rng = random.Random(self.seed * 100003 + self.epoch)
        runs = self._runs(rng)
        keys = [max(self.lengths[i] for i in r) * rng.uniform(0.8, 1.25) for r in runs]
        order = sorted(range(len(runs)), key=keys.__getitem__)
        budget = self.max_frames / (1.0 + self.ratio)  # the rest is the extras' room
        batches, cur, cur_max = [], [], 0
        for k in order:
            run = runs[k]
            longest = max(self.lengths[i] for i in run)
            if longest * len(run) > self.max_frames:
                raise SpeechseqError(
                    f"a run of {len(run)} items of one label needs {longest * len(run)} padded frames, "
                    f"over --max-frames {self.max_frames} — raise --max-frames or take fewer items per label"
                )
            m = max(cur_max, longest)
            if cur and m * (len(cur) + len(run)) > budget:
                batches.append(cur)
                cur, m = [], longest
            cur = cur + run
            cur_max = m
        if cur:
            batches.append(cur)
        if self.extras:
            self._add_extras(batches, rng)
        rng.shuffle(batches)
        if self.world_size > 1:
            usable = len(batches) // self.world_size * self.world_size
            batches = batches[:usable][self.rank :: self.world_size]
        return batches

    def _add_extras(self, batches: list[list[int]], rng: random.Random) -> None:
        queue = collections.deque(rng.sample(self.extras, len(self.extras)))
        for b in batches:
            want = round(self.ratio * len(b))
            m = max(self.lengths[i] for i in b)
            skipped = []
            for _ in range(min(64, len(queue))):
                if want == 0:
                    break
                i = queue.popleft()
                if max(m, self.lengths[i]) * (len(b) + 1) <= self.max_frames:
                    b.append(i)
                    m, want = max(m, self.lengths[i]), want - 1
                else:
                    skipped.append(i)
            queue.extend(skipped)


def make_loader(
    dataset: FeatDataset,
    max_frames: int,
    shuffle: bool,
    seed: int = 0,
    num_workers: int = 0,
    rank: int = 0,
    world_size: int = 1,
    collate_fn: Callable[[Sequence[dict]], dict] = collate,
) -> DataLoader:
    """A :class:`Loader` over bucketed batches; ``loader.batch_sampler`` has ``set_epoch``/``start_at``.

    A training set (``shuffle``) with ``groups`` gets a :class:`GroupBatchSampler` instead.
    """
    groups = getattr(dataset, "groups", None)
    if shuffle and groups is not None:
        sampler: BucketBatchSampler = GroupBatchSampler(
            dataset.utt_ids, dataset.lengths, groups, max_frames, seed, rank, world_size
        )
    else:
        sampler = BucketBatchSampler(
            dataset.lengths,
            max_frames,
            shuffle=shuffle,
            seed=seed,
            rank=rank,
            world_size=world_size,
        )
    return Loader(
        dataset,
        batch_sampler=sampler,
        collate_fn=collate_fn,
        num_workers=num_workers,
        persistent_workers=False,
        worker_init_fn=_one_thread if num_workers else None,
        generator=torch.Generator(),  # see Loader.__iter__
    )


class Loader(DataLoader):
    """A DataLoader whose worker processes fail the way the main process would: a
    :class:`SpeechseqError` or an ``OSError`` raised in a worker comes out as itself, with its
    one-line message (torch re-raises a copy whose message is "Caught SpeechseqError in
    DataLoader worker process 0. Original Traceback ..."; see :func:`unwrap_worker_error`)."""

    def __iter__(self):
        if self.generator is not None:
            # Starting an iteration draws the workers' base seed from this generator. Left to
            # torch's global one, the draw would shift the dropout masks of a run resumed in
            # the middle of an epoch (its global state comes from the checkpoint, taken after
            # this epoch's draw) away from those of the run it continues; seeded from the
            # sampler's (seed, epoch), the workers' seeds are also the same in both runs.
            s = self.batch_sampler
            self.generator.manual_seed(getattr(s, "seed", 0) * 100003 + getattr(s, "epoch", 0))
        it = super().__iter__()
        while True:
            try:
                batch = next(it)
            except StopIteration:
                return
            except (SpeechseqError, OSError) as e:
                error = unwrap_worker_error(e)
                if error is e:
                    raise
                # torch's copy and its frames form a cycle holding the iterator: break it, so
                # the workers stop now rather than in some process forked later
                traceback.clear_frames(e.__traceback__)
                break
            yield batch
        del it
        raise error


_OS_ERROR = re.compile(r"\[Errno (\d+)\] (.*?)(?:: '(.*)')?")  # str() of an OSError


def unwrap_worker_error(err: Exception) -> Exception:
    """The error a DataLoader worker raised, rebuilt from torch's re-raised copy of it: the
    same class with the original message (the last ``module.Class: message`` line of the
    traceback torch quotes), an ``OSError`` with its errno and file name; ``err`` itself when
    it is not such a copy."""
    text = str(err)
    if not text.startswith("Caught ") or "\nOriginal Traceback" not in text:
        return err
    cls = type(err)
    name = (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )
    k = text.rfind(f"\n{name}: ")
    if k < 0:
        return err
    message = text[k + len(name) + 3 :].rstrip("\n")
    if isinstance(err, OSError):
        m = _OS_ERROR.fullmatch(message)
        return OSError(int(m[1]), m[2], m[3]) if m else err
    try:
        return cls(message)
    except TypeError:
        return err


def _one_thread(_worker_id: int) -> None:
    torch.set_num_threads(1)


def batch_audio_seconds(batch: dict, frame_shift_s: float = 0.01) -> float:
    """Seconds of audio in a batch (sum of utterance lengths, not padding)."""
    return float(batch["lengths"].sum()) * frame_shift_s
