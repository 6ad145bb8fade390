"""BucketBatchSampler: frame budget, DDP sharding among ranks, and (seed, epoch) determinism."""

from __future__ import annotations

import random

import pytest

from speechseq.core.batching import BucketBatchSampler

MAX_FRAMES = 1000


def lengths(n: int = 205, seed: int = 0) -> list[int]:
    """Frames per utterance: 205 of them make 49 batches, not a multiple of 2, 3 or 4 ranks."""
    rng = random.Random(seed)
    return [rng.randint(5, 400) for _ in range(n)]


def rank_batches(lens, world: int, seed: int = 0, epoch: int = 0) -> list[list[list[int]]]:
    """Each rank's batch list for one epoch, as a DDP run builds them."""
    out = []
    for rank in range(world):
        s = BucketBatchSampler(
            lens, MAX_FRAMES, shuffle=True, seed=seed, rank=rank, world_size=world
        )
        s.set_epoch(epoch)
        out.append(list(s))
    return out


@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_every_batch_fits_the_frame_budget(world):
    lens = lengths()
    for batches in rank_batches(lens, world):
        for b in batches:
            assert b and len(b) * max(lens[i] for i in b) <= MAX_FRAMES, b


@pytest.mark.parametrize("world", [2, 3, 4])
def test_ranks_get_disjoint_equal_shares_covering_the_usable_batches(world):
    lens = lengths()
    per_rank = rank_batches(lens, world)
    assert len({len(b) for b in per_rank}) == 1  # the same number of steps on every rank
    seen = [i for batches in per_rank for b in batches for i in b]
    assert len(seen) == len(set(seen))  # no utterance on two ranks, nor twice on one
    # The single-process batch list of the same (seed, epoch), cut to a multiple of the world
    # size, is exactly what the ranks share out.
    [full] = rank_batches(lens, 1)
    usable = len(full) // world * world
    assert 0 < len(full) - usable < world  # the last batches, one per rank short, are left out
    assert sorted(seen) == sorted(i for b in full[:usable] for i in b)
    assert sorted(map(sorted, (b for batches in per_rank for b in batches))) == sorted(
        map(sorted, full[:usable])
    )


def test_one_process_sees_every_utterance_once_per_epoch():
    lens = lengths()
    [batches] = rank_batches(lens, 1, epoch=3)
    assert sorted(i for b in batches for i in b) == list(range(len(lens)))


def test_same_seed_and_epoch_give_the_same_batches_another_epoch_or_seed_others():
    lens = lengths()
    assert rank_batches(lens, 2, seed=7, epoch=1) == rank_batches(lens, 2, seed=7, epoch=1)
    assert rank_batches(lens, 2, seed=7, epoch=1) != rank_batches(lens, 2, seed=7, epoch=2)
    assert rank_batches(lens, 2, seed=7, epoch=1) != rank_batches(lens, 2, seed=8, epoch=1)


def test_start_at_resumes_with_the_remaining_batches_of_the_epoch():
    lens = lengths()
    s = BucketBatchSampler(lens, MAX_FRAMES, seed=1, rank=1, world_size=2)
    s.set_epoch(4)
    whole = list(s)
    s.start_at(5)
    assert list(s) == whole[5:] and len(s) == len(whole)
    s.set_epoch(5)  # a new epoch starts from its first batch again
    assert list(s) == rank_batches(lens, 2, seed=1, epoch=5)[1]


def test_an_utterance_longer_than_max_frames_is_refused_and_one_as_long_fits():
    from speechseq.errors import SpeechseqError

    with pytest.raises(
        SpeechseqError,
        match=r"^1 utterance\(s\) are longer than --max-frames 10 \(longest 11 frames\)",
    ):
        BucketBatchSampler([5, 11, 3], 10)
    assert sorted(map(sorted, BucketBatchSampler([10, 5, 5], 10, shuffle=False).batches())) == [
        [0],
        [1, 2],
    ]  # 10 frames exactly fill a batch, 2 x 5 too
