import numpy as np
import torch

from speechseq.core.batching import ArrayReader, FeatDataset, make_loader
from speechseq.core.encoder import EncoderConfig
from speechseq.core.trainer import TrainConfig, Trainer
from speechseq.data.kaldi_dir import CtmEntry
from speechseq.embed.model import EmbedConfig, EmbedOptions, EmbedTask, SegmentAutoencoder
from speechseq.embed.segments import (
    SegmentReader,
    SegmentSpec,
    ctm_segments,
    frames_of,
    segment_cmvn,
    window_segments,
)

ENC = EncoderConfig(subsample="none", rnn="gru", hidden=16, layers=1, dropout=0.0)
OPTS = EmbedOptions(dim=12, decoder_hidden=16)


def test_equal_input_gives_equal_vectors_and_fixed_size_for_any_length():
    torch.manual_seed(0)
    model = SegmentAutoencoder(8, ENC, OPTS).eval()
    x = torch.randn(1, 30, 8)
    a = model.embed(x, torch.tensor([30]))
    b = model.embed(x.clone(), torch.tensor([30]))
    torch.testing.assert_close(a, b)
    for t in (5, 17, 120):
        z = model.embed(torch.randn(2, t, 8), torch.tensor([t, max(t - 3, 1)]))
        assert z.shape == (2, 12)
        torch.testing.assert_close(z.norm(dim=-1), torch.ones(2))


def test_padding_does_not_change_a_vector():
    torch.manual_seed(0)
    model = SegmentAutoencoder(8, ENC, OPTS).eval()
    x = torch.randn(1, 20, 8)
    padded = torch.cat([x, torch.zeros(1, 15, 8)], dim=1)
    torch.testing.assert_close(
        model.embed(x, torch.tensor([20])), model.embed(padded, torch.tensor([20]))
    )


def test_autoencoder_reconstruction_loss_falls(tmp_path):
    rng = np.random.default_rng(0)
    feats = {}
    for i in range(16):  # smooth, structured sequences: something to learn
        t = np.arange(int(rng.integers(20, 50)))[:, None]
        feats[f"s{i:02d}"] = (
            np.sin(0.2 * t * rng.uniform(0.5, 2, 8) + rng.uniform(0, 3, 8)).astype(np.float32) * 2
        )
    reader = ArrayReader(feats)
    for variant in ("sa", "dsa"):
        cfg = EmbedConfig(
            encoder=ENC,
            train=TrainConfig(
                max_epochs=15,
                max_frames=400,
                lr=2e-2,
                warmup_steps=2,
                device="cpu",
                checkpoint_every=0,
            ),
            embed=EmbedOptions(dim=12, decoder_hidden=16, variant=variant),
        )
        trainer = Trainer(EmbedTask(cfg, 8), cfg.train, tmp_path / variant, quiet=True)
        loader = make_loader(FeatDataset(reader), 400, shuffle=True)
        state = trainer.fit(loader, make_loader(FeatDataset(reader), 400, shuffle=False))
        losses = [r["dev_loss"] for r in state.history]
        assert losses[-1] < 0.9 * losses[0], (variant, losses)


def test_window_segments_cover_the_recording():
    segs = window_segments("a.wav", 1.0, [0.3, 0.5], 0.1)
    assert {round(s.end_s - s.start_s, 2) for s in segs} == {0.3, 0.5}
    assert max(s.end_s for s in segs) <= 1.0
    assert len([s for s in segs if abs(s.end_s - s.start_s - 0.3) < 1e-6]) == 8  # 0.0 .. 0.7
    short = window_segments("b.wav", 0.2, [0.5], 0.1)
    assert [(s.start_s, s.end_s) for s in short] == [(0.0, 0.2)]


def test_ctm_segments_keep_words_and_count_what_they_leave_out():
    ctm = [
        CtmEntry("u1", "1", 0.1, 0.4, "fear"),
        CtmEntry("u1", "1", 0.6, 0.05, "a"),
        CtmEntry("u2", "1", 0.2, 3.0, "long"),
    ]
    segs, dropped = ctm_segments(ctm, min_dur_s=0.1, max_dur_s=1.5)
    assert [s.label for s in segs] == ["fear"] and dropped == 2
    assert frames_of(segs[0], 100) == (10, 50)


def test_ctm_segment_ids_count_the_words_of_their_own_utterance():
    ctm = [
        CtmEntry("u1", "1", 0.1, 0.4, "fear"),
        CtmEntry("u1", "1", 0.6, 0.05, "a"),
        CtmEntry("u1", "1", 0.7, 0.3, "car"),
        CtmEntry("u2", "1", 0.2, 0.3, "long"),
    ]
    segs, _ = ctm_segments(ctm, min_dur_s=0.1)
    assert [s.segment_id for s in segs] == ["u1_w00000", "u1_w00002", "u2_w00000"]
    # a part of the data dir holding u2 alone (speechseq data split) names its word the same
    assert [s.segment_id for s in ctm_segments(ctm[3:])[0]] == ["u2_w00000"]


def test_segment_reader_normalises_each_segment():
    feats = {"u": np.arange(200, dtype=np.float32).reshape(100, 2) * 3 + 7}
    segs = [SegmentSpec("s1", "u", 0.1, 0.5)]
    r = SegmentReader(feats.__getitem__, segs, {"u": 100})
    x = r["s1"]
    assert x.shape == (40, 2) and r.num_frames("s1") == 40
    np.testing.assert_allclose(x.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(segment_cmvn(x), x, atol=1e-4)


def test_jittered_segment_reads_move_the_edges_within_bounds():
    feats = {"u": np.random.default_rng(0).normal(size=(100, 2)).astype(np.float32)}
    segs = [SegmentSpec("s1", "u", 0.1, 0.5), SegmentSpec("s2", "u", 0.0, 0.04)]
    still = SegmentReader(feats.__getitem__, segs, {"u": 100})
    r = SegmentReader(feats.__getitem__, segs, {"u": 100}, jitter_frames=5)
    assert r.num_frames("s1") == 50 and r.num_frames("s2") == 9  # the longest a read can be
    np.random.seed(0)
    lengths = {r["s1"].shape[0] for _ in range(60)}
    assert len(lengths) > 5 and min(lengths) >= 36 and max(lengths) <= 50  # in 2, out 5 a side
    assert max(lengths) >= 46  # outwards more than inwards
    assert all(3 <= r["s2"].shape[0] <= 9 for _ in range(30))  # the recording's start holds it
    assert still["s1"].shape[0] == 40 and still.num_frames("s1") == 40
