"""The contrastive acoustic word embedding: its losses by hand, grouped batches, a training that
learns, and train-embedder --objective contrastive -> embed -> index -> search through the CLI."""

import csv
import json
import math
import random

import numpy as np
import pytest
import torch

from speechseq.cli.main import app
from speechseq.core.batching import ArrayReader, FeatDataset, GroupBatchSampler, Groups
from speechseq.core.encoder import EncoderConfig
from speechseq.core.loading import load_experiment
from speechseq.core.trainer import TrainConfig, Trainer
from speechseq.embed.model import (
    NEGATIVE,
    EmbedConfig,
    EmbedOptions,
    EmbedTask,
    SegmentAutoencoder,
    SegmentEncoder,
    WordTextEncoder,
    same_word_loss,
    text_view_loss,
    triplet_loss,
)
from speechseq.errors import SpeechseqError, UsageError
from tests.embed.helpers import run_ok, runner, tiny_config

# Three vectors by hand: cos(z0, z1) = 0.6, cos(z0, z2) = 0, cos(z1, z2) = 0.8; z0, z1 one word.
Z = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
LABELS = torch.tensor([0, 0, 1])


def test_nce_loss_by_hand_on_three_vectors():
    # anchor 0: its partner z1 (0.6) against all others (0.6, 0); anchor 1: z0 (0.6) against
    # (0.6, 0.8); z2 has no partner and is not an anchor. Temperature 1.
    a0 = 0.6 - math.log(math.exp(0.6) + math.exp(0.0))
    a1 = 0.6 - math.log(math.exp(0.6) + math.exp(0.8))
    assert float(same_word_loss(Z, LABELS, 1.0)) == pytest.approx(-(a0 + a1) / 2, abs=1e-6)
    assert float(same_word_loss(Z, LABELS, 1.0)) == pytest.approx(0.617822, abs=1e-5)
    # temperature 0.5 doubles every similarity
    b0 = 1.2 - math.log(math.exp(1.2) + math.exp(0.0))
    b1 = 1.2 - math.log(math.exp(1.2) + math.exp(1.6))
    assert float(same_word_loss(Z, LABELS, 0.5)) == pytest.approx(-(b0 + b1) / 2, abs=1e-6)


def test_triplet_loss_by_hand_on_three_vectors():
    # cosine distances (1 - cos) / 2: d01 = 0.2, d02 = 0.5, d12 = 0.1; margin 0.4.
    # pair (0, 1): hardest negative of 0 is z2: 0.4 + 0.2 - 0.5 = 0.1
    # pair (1, 0): hardest negative of 1 is z2: 0.4 + 0.2 - 0.1 = 0.5      mean 0.3
    assert float(triplet_loss(Z, LABELS, 0.4)) == pytest.approx(0.3, abs=1e-6)
    # a margin small enough that z0's triplet is satisfied: only (1, 0) remains, 0.15 + 0.1
    assert float(triplet_loss(Z, LABELS, 0.05)) == pytest.approx((0.0 + 0.15) / 2, abs=1e-6)


def test_triplet_loss_takes_the_hardest_negative_by_hand():
    # a fourth vector z3 = (-1, 0) of word 1: each anchor now has two negatives.
    # d: 01 0.2, 02 0.5, 03 1.0, 12 0.1, 13 0.8, 23 0.5; margin 0.4
    # (0,1): min(0.5, 1.0) -> 0.1   (1,0): min(0.1, 0.8) -> 0.5
    # (2,3): min(0.5, 0.1) -> 0.8   (3,2): min(1.0, 0.8) -> 0.1     mean 0.375
    z = torch.cat([Z, torch.tensor([[-1.0, 0.0]])])
    assert float(triplet_loss(z, torch.tensor([0, 0, 1, 1]), 0.4)) == pytest.approx(0.375, abs=1e-6)


@pytest.mark.parametrize("loss", ["nce", "triplet"])
def test_same_word_vectors_together_lower_the_loss(loss):
    labels = torch.tensor([0, 0, 1, 1])
    together = torch.tensor([[1.0, 0], [0.9, 0.1], [0, 1.0], [0.1, 0.9]])
    mixed = torch.tensor([[1.0, 0], [0, 1.0], [0.9, 0.1], [0.1, 0.9]])
    task = EmbedTask(
        EmbedConfig(embed=EmbedOptions(objective="contrastive", contrastive_loss=loss)), 8
    )
    assert float(task.word_loss(together, labels)) < float(task.word_loss(mixed, labels))
    # nothing to pull together (every word once): no loss
    assert float(task.word_loss(together, torch.tensor([0, 1, 2, 3]))) == 0.0


def _grouped(n_words=9, per_word=(1, 7), speakers=3, seed=0):
    rng = random.Random(seed)
    ids, label, spk, lengths = [], {}, {}, []
    for w in range(n_words):
        for k in range(rng.randint(*per_word)):
            u = f"w{w}_{k}"
            ids.append(u)
            label[u], spk[u] = f"word{w}", f"s{k % speakers}"
            lengths.append(rng.randint(10, 60))
    ids.append("lonely")  # a word spoken once: no partner for it
    label["lonely"], spk["lonely"] = "lonely", "s0"
    lengths.append(20)
    return ids, label, spk, lengths


def test_grouped_batches_hold_at_least_two_examples_of_each_word_by_different_speakers():
    ids, label, spk, lengths = _grouped()
    s = GroupBatchSampler(ids, lengths, Groups(label, 3, spk), max_frames=400, seed=1)
    once = [u for u in ids if sum(label[v] == label[u] for v in ids) == 1]
    assert once and s.left_out == len(once)  # words spoken once are counted, not batched
    for epoch in range(3):
        s.set_epoch(epoch)
        batches = list(s)
        seen = [i for b in batches for i in b]
        assert len(seen) == len(set(seen)) == len(ids) - len(once)  # each item once per epoch
        for b in batches:
            assert len(b) * max(lengths[i] for i in b) <= 400
            words = [label[ids[i]] for i in b]
            assert all(words.count(w) >= 2 for w in words), words
            for w in set(words):  # a word's examples in a batch: different speakers first
                voices = [spk[ids[i]] for i in b if label[ids[i]] == w]
                assert len(set(voices)) == min(len(voices), 3), voices
    s.set_epoch(1)
    again = GroupBatchSampler(ids, lengths, Groups(label, 3, spk), max_frames=400, seed=1)
    again.set_epoch(1)
    assert list(again) == list(s)  # a function of (seed, epoch): resume sees the same batches


def test_grouped_batches_refuse_labels_that_never_repeat():
    with pytest.raises(SpeechseqError, match="no label has two items"):
        GroupBatchSampler(["a", "b"], [5, 5], Groups({"a": 1, "b": 2}, 2), 100)


def _toy_words(rng, patterns, per_word=12):
    """Word ``w`` is ``patterns[w]`` (6 steps of 8 bins) stretched to 18-29 frames; each example
    is spoken by another 'voice' (a scale and an offset per bin) with noise on every frame."""
    feats, label, spk = {}, {}, {}
    for w in range(len(patterns)):
        for k in range(per_word):
            t = int(rng.integers(18, 30))
            idx = np.minimum((np.arange(t) * 6) // t, 5)
            x = patterns[w][idx] * rng.uniform(0.5, 1.5) + rng.normal(size=8) * 1.0
            feats[f"w{w}_{k:02d}"] = (x + rng.normal(size=(t, 8)) * 0.8).astype(np.float32)
            label[f"w{w}_{k:02d}"], spk[f"w{w}_{k:02d}"] = w, f"v{k % 4}"
    return feats, label, spk


def test_contrastive_training_raises_dev_same_different_ap(tmp_path):
    rng = np.random.default_rng(0)
    patterns = rng.normal(size=(4, 6, 8))
    feats, label, spk = _toy_words(rng, patterns)
    dev_feats, dev_label, _ = _toy_words(rng, patterns, per_word=6)
    cfg = EmbedConfig(
        encoder=EncoderConfig(subsample="none", rnn="gru", hidden=16, layers=1, dropout=0.0),
        train=TrainConfig(
            max_epochs=8, max_frames=600, lr=1e-2, warmup_steps=2, device="cpu", checkpoint_every=0
        ),
        embed=EmbedOptions(objective="contrastive", dim=8, examples_per_word=3),
    )
    task = EmbedTask(cfg, 8)
    assert (task.metric_name, task.metric_mode) == ("sd_ap", "max")
    trainer = Trainer(task, cfg.train, tmp_path, quiet=True)
    train, dev = trainer.loaders(
        FeatDataset(
            ArrayReader(feats), fields={"word": label}, groups=Groups(label, 3, speaker=spk)
        ),
        FeatDataset(ArrayReader(dev_feats), fields={"word": dev_label}),
    )
    assert isinstance(train.batch_sampler, GroupBatchSampler)
    state = trainer.fit(train, dev)
    ap = [r["dev_sd_ap"] for r in state.history]
    assert max(ap[-3:]) > ap[0] + 0.1 and max(ap) > 0.7, ap
    assert "train_nce" in state.history[0]


def test_train_embedder_contrastive_through_the_cli_embeds_and_searches(
    contrastive_setup, words_corpus
):
    root, res = contrastive_setup
    assert "contrastive batches" in res.output and "best dev same-different AP" in res.output
    rows = list(csv.DictReader((root / "emb" / "metrics.csv").open()))
    assert len(rows) == 2 and all(0 < float(r["dev_sd_ap"]) <= 1 for r in rows)
    ex = load_experiment(root / "emb", "cpu", task="embed", quiet=True)
    assert type(ex.model) is SegmentEncoder and not isinstance(ex.model, SegmentAutoencoder)
    assert ex.task.cfg.embed.objective == "contrastive"
    run_ok(
        ["embed", str(root / "emb"), str(words_corpus / "archive"), "--out", str(root / "vecs")]
        + ["--device", "cpu", "--widths", "0.3,0.6", "--hop", "0.1"]
    )
    vecs = np.load(root / "vecs" / "vectors.npy")
    assert vecs.shape[1] == 16
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    run_ok(["index", "build", str(root / "vecs"), "--out", str(root / "idx")])
    wav = (words_corpus / "queries" / "wav.scp").read_text().split()[1]
    out = run_ok(
        ["search", wav, "--index", str(root / "idx"), "--top-k", "3", "--json", "--device", "cpu"]
    )
    hits = json.loads(out.stdout)["hits"]
    assert 1 <= len(hits) <= 3 and hits[0]["score"] >= hits[-1]["score"]


def test_contrastive_embedder_starts_from_a_ctc_encoder(words_corpus, words_ctc, tmp_path):
    from speechseq.core import checkpoint as ckpt

    tiny_config(
        tmp_path / "c.yaml",
        "embed: {objective: contrastive, contrastive_loss: triplet, dim: 8}\n",
        epochs=1,
    )
    res = run_ok(
        ["train-embedder", str(words_corpus / "train"), "--out", str(tmp_path / "emb")]
        + ["--config", str(tmp_path / "c.yaml"), "--init-from", str(words_ctc)]
        + ["--init-part", "encoder", "--freeze", "encoder"]
    )
    assert "under 'encoder'" in res.output and "contrastive-triplet" in res.output
    # its default dev set (every 20th segment) repeats no word: said, and the last epoch kept
    assert "no word occurs twice" in res.output and "last epoch" in res.output
    ctc = ckpt.load(words_ctc / "final.pt")["model"]
    emb = ckpt.load(tmp_path / "emb" / "final.pt")["model"]
    keys = [k for k in ctc if k.startswith("encoder.")]
    assert keys and all(torch.equal(ctc[k], emb[k]) for k in keys)
    assert not any(k.startswith("decoder.") for k in emb)  # no autoencoder decoder was built


def test_contrastive_objective_without_word_labels_is_one_usage_error(words_corpus, tmp_path):
    res = runner.invoke(
        app,
        ["train-embedder", str(words_corpus / "train"), "--out", str(tmp_path / "e")]
        + ["--objective", "contrastive", "--segments", "window"],
    )
    assert res.exit_code == 2, res.output
    assert "needs word labels" in res.output and "segments ctm" in res.output
    assert not (tmp_path / "e").exists()


def test_negatives_are_no_ones_partners_by_hand():
    # z2 and a fourth vector z3 are negatives: neither an anchor nor the other's partner, so
    # the losses equal those where they are two different words spoken once
    z = torch.cat([Z, torch.tensor([[-0.6, 0.8]])])
    alone = torch.tensor([0, 0, 1, 2])
    negs = torch.tensor([0, 0, NEGATIVE, NEGATIVE])
    assert float(same_word_loss(z, negs, 1.0)) == pytest.approx(
        float(same_word_loss(z, alone, 1.0)), abs=1e-7
    )
    assert float(triplet_loss(z, negs, 0.4)) == pytest.approx(
        float(triplet_loss(z, alone, 0.4)), abs=1e-7
    )
    # anchors 0 and 1 each have z0/z1 as partner; the negatives only add denominator mass:
    # anchor 0 sees cos 0.6 (z1), 0 (z2), -0.6 (z3); anchor 1 sees 0.6, 0.8, 0.28
    a0 = 0.6 - math.log(math.exp(0.6) + math.exp(0.0) + math.exp(-0.6))
    a1 = 0.6 - math.log(math.exp(0.6) + math.exp(0.8) + math.exp(0.28))
    assert float(same_word_loss(z, negs, 1.0)) == pytest.approx(-(a0 + a1) / 2, abs=1e-6)
    # two negatives alone: nothing to pull together
    assert float(same_word_loss(z[2:], negs[2:], 1.0)) == 0.0
    assert float(triplet_loss(z[2:], negs[2:], 0.4)) == 0.0


def test_window_negatives_join_the_training_batches(words_corpus, tmp_path):
    from speechseq.data.kaldi_dir import read_ctm
    from speechseq.embed.segments import word_cover

    tiny_config(
        tmp_path / "c.yaml",
        "embed: {objective: contrastive, dim: 8, examples_per_word: 2, window_negatives: 0.5, "
        "window_s: '0.2,0.4', hop_s: 0.1}\n",
        epochs=1,
    )
    res = run_ok(
        ["train-embedder", str(words_corpus / "train"), "--out", str(tmp_path / "emb")]
        + ["--config", str(tmp_path / "c.yaml"), "--dev", str(words_corpus / "train")]
    )
    table = [
        line.split() for line in (tmp_path / "emb" / "train_segments").read_text().splitlines()
    ]
    words = [r for r in table if r[-1] != "<negative>"]
    negs = [r for r in table if r[-1] == "<negative>"]
    assert len(negs) == round(0.5 * len(words)) and f"{len(negs)} window negatives" in res.output
    ctm = read_ctm(words_corpus / "train" / "ctm")
    for _, utt, a, b, _ in negs:  # not one of them is a hit on a word
        assert word_cover(float(a), float(b), [e for e in ctm if e.utt == utt]) < 0.5
    assert {r[1] for r in negs} <= {r[1] for r in words}  # from the training utterances
    # the negatives are not counted as a word of the batches, and they are in them
    labels = [r[-1] for r in words]
    repeated = len({w for w in labels if labels.count(w) >= 2})
    assert f"contrastive batches: {repeated} words with >= 2 examples" in res.output


def test_window_negatives_need_the_contrastive_objective():
    with pytest.raises(UsageError, match="window_negatives"):
        EmbedOptions(window_negatives=0.5)


def test_extras_are_spread_over_the_batches_under_the_budget():
    ids, label, spk, lengths = _grouped(n_words=12, per_word=(2, 7))
    rng = random.Random(5)
    extras = [f"neg{k}" for k in range(40)]
    ids, lengths = ids + extras, lengths + [rng.choice([30, 50, 70]) for _ in extras]
    labelled = len(ids) - len(extras) - 1  # "lonely" is left out
    s = GroupBatchSampler(ids, lengths, Groups(label, 2, spk, extras), max_frames=600, seed=2)
    assert s.ratio == pytest.approx(40 / labelled)
    used = set()
    for epoch in range(3):
        s.set_epoch(epoch)
        batches = list(s)
        words = [i for b in batches for i in b if not ids[i].startswith("neg")]
        assert sorted(words) == sorted(i for i, u in enumerate(ids[:-41]) if u in label)
        for b in batches:
            negs = [i for i in b if ids[i].startswith("neg")]
            assert len(b) * max(lengths[i] for i in b) <= 600
            assert len(negs) < len(b)  # never a batch of negatives alone
            assert len(negs) <= round(s.ratio * (len(b) - len(negs)))
            used |= {ids[i] for i in negs}
        n_negs = sum(ids[i].startswith("neg") for b in batches for i in b)
        assert n_negs >= 20 and n_negs == len({i for b in batches for i in b if ids[i] in extras})
    assert len(used) > 35  # the queue turns over from epoch to epoch
    again = GroupBatchSampler(ids, lengths, Groups(label, 2, spk, extras), max_frames=600, seed=2)
    again.set_epoch(2)
    assert list(again) == list(s)


def test_window_negatives_with_no_window_to_draw_are_one_error(words_corpus, tmp_path):
    # windows longer than every utterance are each the whole utterance: they hold whole words
    tiny_config(
        tmp_path / "c.yaml",
        "embed: {objective: contrastive, dim: 8, window_negatives: 0.5, window_s: '60'}\n",
        epochs=1,
    )
    args = ["train-embedder", str(words_corpus / "train"), "--out", str(tmp_path / "emb")]
    res = runner.invoke(app, [*args, "--config", str(tmp_path / "c.yaml")])
    assert res.exit_code == 1, res.output
    assert "no window of 60 s" in res.output and "window_negatives 0" in res.output
    assert not (tmp_path / "emb").exists()


# ---- the written view (embed.text_weight) ----------------------------------------------------


def test_text_view_loss_by_hand():
    # spoken: Z (z0, z1 word 0; z2 word 1); written: word 0 at [1, 0], word 1 at [0, 1]
    written = torch.tensor([[1.0, 0.0], [0.0, 1.0]])

    def text(ids):
        return written[ids]

    def lse(*v):
        return math.log(sum(math.exp(x) for x in v))

    spoken = -((1 - lse(1, 0)) + (0.6 - lse(0.6, 0.8)) + (1 - lse(0, 1))) / 3
    w0 = -((1 - lse(1, 0.6, 0)) + (0.6 - lse(1, 0.6, 0))) / 2  # word 0 against z0 z1 z2
    w1 = -(1 - lse(0, 0.8, 1))
    want = (spoken + (w0 + w1) / 2) / 2
    assert float(text_view_loss(Z, LABELS, text, 1.0)) == pytest.approx(want, abs=1e-6)
    # a negative is no word's example, but in every written word's denominator
    z = torch.cat([Z, torch.tensor([[0.8, 0.6]])])
    labels = torch.tensor([0, 0, 1, NEGATIVE])
    w0 = -((1 - lse(1, 0.6, 0, 0.8)) + (0.6 - lse(1, 0.6, 0, 0.8))) / 2
    w1 = -(1 - lse(0, 0.8, 1, 0.6))
    want = (spoken + (w0 + w1) / 2) / 2
    assert float(text_view_loss(z, labels, text, 1.0)) == pytest.approx(want, abs=1e-6)
    assert float(text_view_loss(z[3:], labels[3:], text, 1.0)) == 0.0  # no word: nothing


def test_word_text_encoder_spells_each_word():
    enc = WordTextEncoder(["ab", "b", "abc"], dim=4, hidden=8)
    assert enc.spellings.tolist() == [[1, 2, 0], [2, 0, 0], [1, 2, 3]]
    v = enc(torch.tensor([2, 0, 0]))
    assert v.shape == (3, 4) and torch.allclose(v[1], v[2])
    assert torch.allclose(v.norm(dim=1), torch.ones(3))
    assert not any(k.startswith("spelling") for k in enc.state_dict())  # rebuilt from the words


def test_text_view_trains_with_the_embedder_and_loads_back(words_corpus, tmp_path):
    from speechseq.core import checkpoint as ckpt

    tiny_config(
        tmp_path / "c.yaml",
        "embed: {objective: contrastive, dim: 8, examples_per_word: 2, text_weight: 1.0}\n",
        epochs=1,
    )
    run_ok(
        ["train-embedder", str(words_corpus / "train"), "--out", str(tmp_path / "emb")]
        + ["--config", str(tmp_path / "c.yaml"), "--dev", str(words_corpus / "train")]
    )
    final = ckpt.load(tmp_path / "emb" / "final.pt")
    labels = {
        ln.split()[-1] for ln in (tmp_path / "emb" / "train_segments").read_text().splitlines()
    }
    assert final["meta"]["words"] == sorted(labels)
    assert any(k.startswith("text.rnn.") for k in final["model"])  # the written view was trained
    rows = list(csv.DictReader((tmp_path / "emb" / "metrics.csv").open()))
    assert float(rows[0]["train_text"]) > 0
    ex = load_experiment(tmp_path / "emb", "cpu", task="embed", quiet=True)
    assert ex.model.text is not None and ex.task.words == final["meta"]["words"]


def test_text_view_needs_the_contrastive_objective():
    with pytest.raises(UsageError, match="text_weight"):
        EmbedOptions(text_weight=1.0)


def test_text_view_with_the_autoencoder_is_one_usage_error(words_corpus, tmp_path):
    tiny_config(
        tmp_path / "c.yaml", "embed: {objective: autoencoder, text_weight: 1.0}\n", epochs=1
    )
    res = runner.invoke(
        app,
        ["train-embedder", str(words_corpus / "train"), "--out", str(tmp_path / "e")]
        + ["--config", str(tmp_path / "c.yaml")],
    )
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    assert [ln for ln in res.output.splitlines() if ln.startswith(("error", "Error"))] == [
        ln for ln in res.output.splitlines() if "text_weight 1.0" in ln
    ]
    assert "set embed.objective contrastive, or text_weight 0" in res.output
    assert not (tmp_path / "e").exists()
