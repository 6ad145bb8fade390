"""core/batching.py in process: FeatDataset items, pad_collate field by field, make_loader's
choice of sampler, Loader and unwrap_worker_error on hand-made errors, grouped runs.
(BucketBatchSampler's budget and DDP split: test_bucket_sampler.py; errors raised in real
worker processes: test_worker_errors.py.)"""

from __future__ import annotations

import errno

import numpy as np
import pytest
import torch

from speechseq.core.batching import (
    ArrayReader,
    BucketBatchSampler,
    FeatDataset,
    GroupBatchSampler,
    Groups,
    Loader,
    _one_thread,
    batch_audio_seconds,
    collate,
    lengths_key,
    make_loader,
    pad_collate,
    unwrap_worker_error,
)
from speechseq.errors import SpeechseqError

FEATS = {
    "a": np.arange(6, dtype=np.float64).reshape(3, 2),
    "b": np.ones((5, 2), dtype=np.float32),
    "c": np.zeros((2, 2), dtype=np.float32),
}


def test_items_carry_features_as_float32_and_every_field():
    ds = FeatDataset(
        ArrayReader(FEATS),
        ["b", "a"],
        targets={"a": [1, 2], "b": [3]},
        fields={"w": {"a": "x", "b": "y"}},
    )
    assert len(ds) == 2 and ds.utt_ids == ["b", "a"] and ds.lengths == [5, 3]
    item = ds[1]
    assert item["utt_id"] == "a" and item["feats"].dtype == np.float32
    np.testing.assert_array_equal(item["feats"], FEATS["a"])
    assert item["targets"] == [1, 2] and item["w"] == "x"
    assert list(item) == ["utt_id", "feats", "w", "targets"]
    everyone = FeatDataset(ArrayReader(FEATS))
    assert everyone.utt_ids == sorted(FEATS) and everyone.groups is None and everyone.fields == {}
    assert FeatDataset(ArrayReader(FEATS), []).utt_ids == []


def test_pad_collate_pads_each_field_with_its_value_and_keeps_its_lengths():
    items = [
        {"utt_id": "a", "feats": FEATS["a"], "targets": [1, 2], "frame_labels": np.array([4, 5, 6]),
         "weight": 0.5, "n": 3, "word": "cat", "ok": True},
        {"utt_id": "b", "feats": FEATS["b"], "targets": [3], "frame_labels": np.array([7]),
         "weight": 1.5, "n": 1, "word": "dog", "ok": False},
    ]  # fmt: skip
    b = pad_collate(items, pad_values={"frame_labels": -100})
    assert b["utt_ids"] == ["a", "b"]
    assert b["feats"].shape == (2, 5, 2) and b["feats"].dtype == torch.float32
    assert b["feats"][0, 3:].abs().sum() == 0 and b["feats"][0, :3].tolist() == FEATS["a"].tolist()
    assert b["lengths"].tolist() == [3, 5] and b["lengths"].dtype == torch.long
    assert b["targets"].tolist() == [[1, 2], [3, -1]] and b["targets"].dtype == torch.long
    assert b["target_lengths"].tolist() == [2, 1]
    assert b["frame_labels"].tolist() == [[4, 5, 6], [7, -100, -100]]
    assert b["frame_labels_lengths"].tolist() == [3, 1]
    assert b["weight"].tolist() == [0.5, 1.5] and b["n"].tolist() == [3, 1]
    assert b["ok"].tolist() == [True, False]
    assert b["word"] == ["cat", "dog"]
    assert sorted(b) == sorted(["utt_ids", "feats", "lengths", "targets", "target_lengths",
        "frame_labels", "frame_labels_lengths", "weight", "n", "ok", "word"])  # fmt: skip
    # the defaults: features 0, targets -1, any other field 0
    d = collate(
        [{"utt_id": "x", "targets": [5], "other": [1]}, {"utt_id": "y", "targets": [], "other": []}]
    )
    assert d["targets"].tolist() == [[5], [-1]] and d["other"].tolist() == [[1], [0]]
    assert lengths_key("feats") == "lengths" and lengths_key("targets") == "target_lengths"
    assert lengths_key("phones") == "phones_lengths"


def test_pad_collate_of_empty_sequences_keeps_one_padded_step_and_the_inner_shape():
    items = [
        {"utt_id": "x", "feats": np.zeros((0, 3), np.float32)},
        {"utt_id": "y", "feats": np.ones((2, 3), np.float32)},
    ]
    b = pad_collate(items)
    assert b["feats"].shape == (2, 2, 3) and b["lengths"].tolist() == [0, 2]
    b = pad_collate(items[:1])
    assert b["feats"].shape == (1, 1, 3) and b["lengths"].tolist() == [0]
    ints = pad_collate([{"utt_id": "x", "t": torch.tensor([1, 2])}, {"utt_id": "y", "t": (3,)}])
    assert ints["t"].dtype == torch.long and ints["t"].tolist() == [[1, 2], [3, 0]]
    mixed = pad_collate([{"utt_id": "x", "v": [1, 2]}, {"utt_id": "y", "v": [0.5]}])
    assert mixed["v"].dtype == torch.float32 and mixed["v"].tolist() == [[1.0, 2.0], [0.5, 0.0]]


def test_batch_audio_seconds_counts_frames_not_padding():
    b = pad_collate([{"utt_id": u, "feats": FEATS[u]} for u in ("a", "b")])
    assert batch_audio_seconds(b) == pytest.approx(0.08)
    assert batch_audio_seconds(b, frame_shift_s=0.04) == pytest.approx(0.32)


def test_make_loader_buckets_or_groups_and_passes_its_options():
    ds = FeatDataset(ArrayReader(FEATS))
    loader = make_loader(ds, 6, shuffle=False)
    assert type(loader) is Loader and type(loader.batch_sampler) is BucketBatchSampler
    assert [b["utt_ids"] for b in loader] == [
        list(ix) for ix in ([ds.utt_ids[i] for i in s] for s in loader.batch_sampler)
    ]
    assert all(b["feats"].shape[0] * b["feats"].shape[1] <= 6 for b in loader)
    assert loader.num_workers == 0 and loader.worker_init_fn is None
    workers = make_loader(ds, 6, shuffle=False, num_workers=2)  # not iterated: no processes
    assert workers.num_workers == 2 and workers.worker_init_fn is _one_thread
    assert not workers.persistent_workers
    s = make_loader(ds, 100, shuffle=True, seed=7, rank=1, world_size=2).batch_sampler
    assert (s.seed, s.rank, s.world_size, s.shuffle, s.max_frames) == (7, 1, 2, True, 100)
    labels = {"a": "w", "b": "w", "c": "v"}
    grouped = FeatDataset(ArrayReader(FEATS), groups=Groups(labels, 2))
    s = make_loader(grouped, 100, shuffle=True, seed=3).batch_sampler
    assert type(s) is GroupBatchSampler and s.seed == 3 and s.left_out == 1
    # a dev set is never grouped: every item, in a plain bucketed order
    assert type(make_loader(grouped, 100, shuffle=False).batch_sampler) is BucketBatchSampler
    seen = []
    list(
        make_loader(ds, 100, shuffle=False, collate_fn=lambda items: seen.append(len(items)) or {})
    )
    assert seen == [3]


def test_a_loader_without_workers_raises_errors_as_they_are():
    class Broken(ArrayReader):
        def __getitem__(self, utt):
            raise SpeechseqError(f"{utt}: broken")

    with pytest.raises(SpeechseqError, match="^c: broken$"):  # the shortest comes first
        list(make_loader(FeatDataset(Broken(FEATS)), 100, shuffle=False))


def _torch_copy(cls, original: str):
    """The text torch gives the copy it re-raises for an error in a worker."""
    name = (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )
    return (
        f"Caught {cls.__name__} in DataLoader worker process 0.\nOriginal Traceback (most recent "
        f'call last):\n  File "x.py", line 1, in f\n{name}: not this one\n  File "y.py", line 2\n'
        f"{name}: {original}\n"
    )


def test_worker_error_copies_are_rebuilt_from_their_last_message():
    e = unwrap_worker_error(
        SpeechseqError(_torch_copy(SpeechseqError, "feats.scp:3: bad — fix it"))
    )
    assert type(e) is SpeechseqError and str(e) == "feats.scp:3: bad — fix it"
    e = unwrap_worker_error(ValueError(_torch_copy(ValueError, "bad value")))
    assert type(e) is ValueError and str(e) == "bad value"
    os_copy = OSError(_torch_copy(OSError, "[Errno 28] No space left on device: 'out/x.ark'"))
    e = unwrap_worker_error(os_copy)
    assert (type(e), e.errno, e.strerror, e.filename) == (
        OSError,
        errno.ENOSPC,
        "No space left on device",
        "out/x.ark",
    )
    e = unwrap_worker_error(OSError(_torch_copy(OSError, "[Errno 2] No such file or directory")))
    assert (e.errno, e.filename) == (errno.ENOENT, None)


def test_errors_that_are_not_worker_copies_are_left_as_they_are():
    plain = SpeechseqError("Caught nothing")
    assert unwrap_worker_error(plain) is plain
    no_line = SpeechseqError("Caught X in DataLoader worker process 0.\nOriginal Traceback\nfoo")
    assert unwrap_worker_error(no_line) is no_line
    odd_os = OSError(_torch_copy(OSError, "not an errno text"))
    assert unwrap_worker_error(odd_os) is odd_os

    class NeedsTwo(Exception):
        def __init__(self, a, b):
            super().__init__(a, b)

    two = NeedsTwo(_torch_copy(NeedsTwo, "m"), 1)
    two_text = str(two)
    assert unwrap_worker_error(two) is two and str(two) == two_text


def test_grouped_runs_cut_by_size_and_a_last_run_of_one_joins_the_run_before():
    ids = [f"u{i}" for i in range(7)]
    label = {u: "w" for u in ids}  # one word, 7 examples, runs of 3: 3 + 4
    s = GroupBatchSampler(ids, [10] * 7, Groups(label, 3), max_frames=1000, seed=0)
    s.set_epoch(0)
    [batch] = s.batches()
    assert sorted(batch) == list(range(7))
    import random

    runs = s._runs(random.Random(0))
    assert sorted(len(r) for r in runs) == [3, 4]
    with pytest.raises(SpeechseqError, match="1 items per group: a grouped batch needs at least 2"):
        GroupBatchSampler(ids, [10] * 7, Groups(label, 1), max_frames=1000)


def test_a_run_over_the_frame_budget_is_refused_with_its_size():
    ids = ["a", "b", "c"]
    s = GroupBatchSampler(ids, [10, 40, 20], Groups(dict.fromkeys(ids, "w"), 3), max_frames=100)
    with pytest.raises(SpeechseqError) as e:
        s.batches()
    assert str(e.value) == (
        "a run of 3 items of one label needs 120 padded frames, over --max-frames 100 — raise "
        "--max-frames or take fewer items per label"
    )


def _grouped(n_words=12, per_word=5, speakers=3, seed=0):
    """Word segments: ``per_word`` examples of each word, spoken round-robin by ``speakers``."""
    import random as _random

    rng = _random.Random(seed)
    ids, lengths, label, spk = [], [], {}, {}
    for w in range(n_words):
        for k in range(per_word):
            u = f"w{w}-{k}"
            ids.append(u)
            lengths.append(rng.randint(20, 60))
            label[u], spk[u] = f"word{w}", f"s{k % speakers}"
    return ids, lengths, label, spk


@pytest.mark.parametrize("world", [1, 2, 3])
def test_grouped_batches_fit_the_budget_pair_labels_and_split_among_ranks(world):
    ids, lengths, label, spk = _grouped()
    shares = []
    for rank in range(world):
        s = GroupBatchSampler(
            ids, lengths, Groups(label, 2, spk), 300, seed=4, rank=rank, world_size=world
        )
        s.set_epoch(2)
        batches = s.batches()
        for b in batches:
            assert max(lengths[i] for i in b) * len(b) <= 300
            counts = {}
            for i in b:
                counts[label[ids[i]]] = counts.get(label[ids[i]], 0) + 1
            assert min(counts.values()) >= 2  # every word in a batch has a partner
        shares.append(batches)
    assert len({len(b) for b in shares}) == 1  # equal counts for every rank
    flat = [i for b in shares for batch in b for i in batch]
    assert len(flat) == len(set(flat))  # ranks disjoint
    one = GroupBatchSampler(ids, lengths, Groups(label, 2, spk), 300, seed=4)
    one.set_epoch(2)
    everything = sorted(i for b in one.batches() for i in b)
    assert everything == list(range(len(ids)))  # one process sees every segment once
    if world > 1:
        n_all = len(one.batches())
        assert len(shares[0]) == n_all // world


def test_grouped_batches_depend_on_seed_and_epoch_only():
    ids, lengths, label, spk = _grouped()

    def batches(seed, epoch):
        s = GroupBatchSampler(ids, lengths, Groups(label, 2, spk), 300, seed=seed)
        s.set_epoch(epoch)
        return s.batches()

    assert batches(1, 0) == batches(1, 0)
    assert batches(1, 0) != batches(1, 1) and batches(1, 0) != batches(2, 0)
    s = GroupBatchSampler(ids, lengths, Groups(label, 2, spk), 300)
    assert (s.seed, s.rank, s.world_size, s.epoch, s.shuffle) == (0, 0, 1, 0, True)


def test_runs_mix_speakers_before_repeating_one():
    import random as _random

    ids, lengths, label, spk = _grouped(n_words=1, per_word=6, speakers=3)
    s = GroupBatchSampler(ids, lengths, Groups(label, 3, spk), 1000)
    for seed in range(5):
        for run in s._runs(_random.Random(seed)):
            assert len({spk[ids[i]] for i in run}) == 3  # three voices in each run of three
    # without speakers every item is its own voice
    s = GroupBatchSampler(ids, lengths, Groups(label, 2), 1000)
    assert s.speaker == list(range(6))


def test_a_run_exactly_at_the_budget_fits_and_words_said_once_are_left_out():
    ids = ["a1", "a2", "b1"]
    label = {"a1": "a", "a2": "a", "b1": "b"}
    s = GroupBatchSampler(ids, [50, 50, 10], Groups(label, 2), max_frames=100)
    assert [sorted(b) for b in s.batches()] == [[0, 1]] and s.left_out == 1
    with pytest.raises(SpeechseqError) as e:
        GroupBatchSampler(["a", "b"], [5, 5], Groups({"a": 1, "b": 2}, 2), 100)
    assert str(e.value) == (
        "no label has two items among 2 — grouped batches need repeated labels "
        "(e.g. words spoken more than once)"
    )


def test_iterating_a_loader_leaves_torchs_global_random_state_alone():
    from speechseq.core.batching import ArrayReader, FeatDataset, make_loader

    feats = {f"u{i}": np.zeros((5 + i, 2), np.float32) for i in range(6)}
    loader = make_loader(FeatDataset(ArrayReader(feats)), 20, shuffle=True, seed=3)
    before = torch.get_rng_state()
    assert len(list(loader)) == len(loader.batch_sampler)
    assert torch.equal(torch.get_rng_state(), before)  # dropout after a resume is not shifted
    # the workers' base seed depends on (seed, epoch) only
    seeds = []
    for epoch in (0, 1, 0):
        loader.batch_sampler.set_epoch(epoch)
        next(iter(loader))
        seeds.append(loader.generator.initial_seed())
    assert seeds[0] == seeds[2] != seeds[1]


def test_defaults_are_seed_0_rank_0_of_a_world_of_one():
    ds = FeatDataset(ArrayReader(FEATS))
    s = make_loader(ds, 100, shuffle=True).batch_sampler
    assert (s.seed, s.rank, s.world_size) == (0, 0, 1)
    s = BucketBatchSampler([3, 5, 2], 100)
    assert (s.seed, s.rank, s.world_size, s.shuffle) == (0, 0, 1, True)
    grouped = FeatDataset(ArrayReader(FEATS), groups=Groups({"a": "w", "b": "w", "c": "w"}, 2))
    s = make_loader(grouped, 100, shuffle=True, seed=3, rank=1, world_size=2).batch_sampler
    assert type(s) is GroupBatchSampler and (s.seed, s.rank, s.world_size) == (3, 1, 2)


def test_the_last_run_joins_the_run_cut_just_before_it_and_a_run_of_two_stays():
    import random

    for n, sizes in ((10, [3, 3, 4]), (8, [3, 3, 2]), (4, [4])):
        ids = [f"u{i}" for i in range(n)]
        s = GroupBatchSampler(ids, [10] * n, Groups(dict.fromkeys(ids, "w"), 3), max_frames=1000)
        assert [len(r) for r in s._runs(random.Random(0))] == sizes, n


def test_runs_fill_a_batch_up_to_exactly_the_frame_budget():
    ids = ["a", "b", "c", "d"]
    s = GroupBatchSampler(ids, [10] * 4, Groups(dict.fromkeys(ids, "w"), 2), max_frames=40)
    assert [sorted(b) for b in s.batches()] == [[0, 1, 2, 3]]  # 4 x 10 padded frames = 40
    s = GroupBatchSampler(ids, [10] * 4, Groups(dict.fromkeys(ids, "w"), 2), max_frames=39)
    assert sorted(len(b) for b in s.batches()) == [2, 2]


def test_grouped_batches_hold_runs_of_similar_length():
    # labels alternate short (10 frames) and long (500) words in id order: sorting the runs by
    # length, not by position, keeps them apart
    ids = [f"u{i:02d}" for i in range(24)]
    label = {u: f"w{i // 2}" for i, u in enumerate(ids)}  # 12 words, 2 examples each
    lengths = [10 if (i // 2) % 2 == 0 else 500 for i in range(24)]
    s = GroupBatchSampler(ids, lengths, Groups(label, 2), max_frames=2000, seed=1)
    for epoch in range(3):
        s.set_epoch(epoch)
        for b in s.batches():
            assert len({lengths[i] for i in b}) == 1, (epoch, b)


def test_the_loaders_worker_seed_follows_the_samplers_seed_and_epoch():
    ds = FeatDataset(ArrayReader(FEATS))
    seeds = []
    for seed, epoch in ((1, 0), (2, 0), (1, 1), (1, 0)):
        loader = make_loader(ds, 100, shuffle=True, seed=seed)
        loader.batch_sampler.set_epoch(epoch)
        next(iter(loader))  # the seed is set when the iteration starts
        seeds.append(loader.generator.initial_seed())
    assert seeds[0] == seeds[3] and len(set(seeds[:3])) == 3


def test_a_worker_message_ending_in_x_keeps_it():
    e = unwrap_worker_error(SpeechseqError(_torch_copy(SpeechseqError, "feats.scp: no XX")))
    assert str(e) == "feats.scp: no XX"
    # the worker's text without torch's "Caught ..." head is not a copy of a worker's error
    text = _torch_copy(SpeechseqError, "x")
    headless = SpeechseqError(text[text.index("\n") :])
    assert unwrap_worker_error(headless) is headless
