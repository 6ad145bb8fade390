"""Datasets over feats.scp and length-bucketed batches capped by total frames.

A batch is a dict of tensors: ``feats: [N, T, C]`` float32 (zero padded),
``lengths: [N]`` (frames), ``utt_ids`` (list of str), and, when the dataset has
targets, ``targets: [N, L]`` (padded with -1) with ``target_lengths: [N]``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from speechseq.errors import SpeechseqError


class FeatDataset(Dataset):
    """Utterances of a data dir: ``(utt_id, feats [T, C] float32, target list[int] | None)``.

    ``reader`` maps an utterance id to its (CMVN-normalised) features and knows
    ``num_frames(utt)`` without loading them; ``targets`` maps ids to unit-id lists.
    """

    def __init__(
        self,
        reader,
        utt_ids: Sequence[str] | None = None,
        targets: dict[str, list[int]] | None = None,
    ):
        self.reader = reader
        self.utt_ids = list(utt_ids if utt_ids is not None else reader.utt_ids)
        self.targets = targets
        self.lengths = [reader.num_frames(u) for u in self.utt_ids]  # frames, for bucketing

    def __len__(self) -> int:
        return len(self.utt_ids)

    def __getitem__(self, i: int):
        utt = self.utt_ids[i]
        feats = np.asarray(self.reader[utt], dtype=np.float32)
        return utt, feats, (self.targets[utt] if self.targets is not None else None)


class ArrayReader:
    """An in-memory feature reader: ``{utt: feats [T, C]}`` served like a FeatureReader."""

    def __init__(self, feats: dict[str, np.ndarray]):
        self.feats = feats
        self.utt_ids = sorted(feats)
        self.dim = next(iter(feats.values())).shape[1] if feats else 0

    def __getitem__(self, utt: str) -> np.ndarray:
        return self.feats[utt]

    def __len__(self) -> int:
        return len(self.feats)

    def num_frames(self, utt: str) -> int:
        return self.feats[utt].shape[0]


def collate(items) -> dict:
    utts = [it[0] for it in items]
    lengths = torch.tensor([it[1].shape[0] for it in items], dtype=torch.long)
    dim = items[0][1].shape[1]
    feats = torch.zeros(len(items), int(lengths.max()), dim, dtype=torch.float32)
    for k, it in enumerate(items):
        feats[k, : it[1].shape[0]] = torch.from_numpy(it[1])
    batch = {"utt_ids": utts, "feats": feats, "lengths": lengths}
    if items[0][2] is not None:
        tl = torch.tensor([len(it[2]) for it in items], dtype=torch.long)
        targets = torch.full((len(items), max(int(tl.max()), 1)), -1, dtype=torch.long)
        for k, it in enumerate(items):
            targets[k, : len(it[2])] = torch.tensor(it[2], dtype=torch.long)
        batch["targets"], batch["target_lengths"] = targets, tl
    return batch


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


def make_loader(
    dataset: FeatDataset,
    max_frames: int,
    shuffle: bool,
    seed: int = 0,
    num_workers: int = 0,
    rank: int = 0,
    world_size: int = 1,
) -> DataLoader:
    """A DataLoader over bucketed batches; ``loader.batch_sampler`` has ``set_epoch``/``start_at``."""
    sampler = BucketBatchSampler(
        dataset.lengths, max_frames, shuffle=shuffle, seed=seed, rank=rank, world_size=world_size
    )
    return DataLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=collate,
        num_workers=num_workers,
        persistent_workers=False,
        worker_init_fn=_one_thread if num_workers else None,
    )


def _one_thread(_worker_id: int) -> None:
    torch.set_num_threads(1)


def batch_audio_seconds(batch: dict, frame_shift_s: float = 0.01) -> float:
    """Seconds of audio in a batch (sum of utterance lengths, not padding)."""
    return float(batch["lengths"].sum()) * frame_shift_s
