"""The hybrid task: prior-scaled scores by hand, frame-rate outputs, the frame loss."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from speechseq.core.encoder import EncoderConfig
from speechseq.decode.graph import GraphDecodeOptions, GraphDecoder
from speechseq.errors import SpeechseqError
from speechseq.hybrid.task import (
    HybridConfig,
    HybridModel,
    HybridOptions,
    HybridTask,
    frame_stats,
    log_priors,
)


def _graph_dir(tmp_path, num_pdfs: int, digest: str):
    import kaldifst

    fst = kaldifst.StdVectorFst()
    s = fst.add_state()
    fst.start = s
    fst.set_final(s, 0.0)
    for p in range(num_pdfs):
        fst.add_arc(s, kaldifst.StdArc(p + 1, 0, 0.0, s))
    g = tmp_path / "graph"
    g.mkdir()
    fst.write(str(g / "HCLG.fst"))
    (g / "words.txt").write_text("<eps> 0\n")
    (g / "graph.json").write_text(json.dumps({"lang_digest": digest, "num_pdfs": num_pdfs}))
    return g


def test_priors_and_scaled_scores_match_a_hand_computation(tmp_path):
    lp = log_priors(np.array([6, 3, 1, 0]), floor=0.05)
    # 0.6, 0.3, 0.1, 0.05 renormalised by 1.05
    assert np.exp(lp) == pytest.approx(np.array([0.6, 0.3, 0.1, 0.05]) / 1.05)
    dec = GraphDecoder(
        GraphDecodeOptions(graph=str(_graph_dir(tmp_path, 4, "abc")), acoustic_scale=0.5), lp, "abc"
    )
    post = np.log(np.array([[0.7, 0.1, 0.1, 0.1]], dtype=np.float32))
    want = [0.5 * (math.log(0.7) - math.log(0.6 / 1.05)), 0.5 * (math.log(0.1) - math.log(0.3 / 1.05)),
            0.5 * (math.log(0.1) - math.log(0.1 / 1.05)), 0.5 * (math.log(0.1) - math.log(0.05 / 1.05))]  # fmt: skip
    assert dec.scores(post)[0] == pytest.approx(want, abs=1e-5)
    # the best state per frame is the one with the highest posterior-to-prior ratio
    assert dec.decode(post).words == []


def test_graph_of_another_lang_or_size_is_refused(tmp_path):
    g = _graph_dir(tmp_path, 4, "abc")
    with pytest.raises(SpeechseqError, match="built from another lang"):
        GraphDecoder(GraphDecodeOptions(graph=str(g)), np.zeros(4), "xyz")
    with pytest.raises(SpeechseqError, match="the graph has 4 pdfs, the model 5"):
        GraphDecoder(GraphDecodeOptions(graph=str(g)), np.zeros(5), "abc")


@pytest.mark.parametrize("subsample", ["none", "stack3"])
def test_outputs_are_at_the_input_frame_rate(subsample):
    torch.manual_seed(0)
    enc = EncoderConfig(subsample=subsample, hidden=8, layers=1, dropout=0.0)
    model = HybridModel(5, 7, enc).eval()
    x = torch.randn(2, 10, 5)
    lp, lengths = model(x, torch.tensor([10, 7]))
    assert lp.shape == (2, 10, 7) and lengths.tolist() == [10, 7]
    assert torch.allclose(lp.exp().sum(-1), torch.ones(2, 10))
    if subsample == "stack3":
        assert torch.equal(lp[0, 0], lp[0, 2]) and not torch.equal(lp[0, 2], lp[0, 3])


def test_pyramidal_or_conv_subsampling_is_refused():
    with pytest.raises(SpeechseqError, match="frame-level outputs"):
        HybridTask(HybridConfig(encoder=EncoderConfig(subsample="conv2d4")), 5, 7)


def test_frame_loss_ignores_padding():
    lp = torch.log(torch.tensor([[[0.5, 0.5], [0.9, 0.1], [0.2, 0.8]]]))
    ce, frames, correct = frame_stats(lp, torch.tensor([[1, 0, -1]]))
    assert frames == 2 and correct == 1
    assert float(ce) == pytest.approx(-math.log(0.5) - math.log(0.9))


class _Seen(torch.nn.Module):
    """A model that keeps the features it was given and outputs uniform posteriors."""

    def forward(self, feats, lengths):
        self.feats = feats.clone()
        n, t, _ = feats.shape
        return torch.full((n, t, 3), -math.log(3)), lengths


@pytest.mark.parametrize("on", [True, False])
def test_spec_augment_masks_training_batches_only_when_asked(on):
    opts = HybridOptions(spec_augment=on, freq_masks=0, time_masks=2, time_width=4)
    task = HybridTask(HybridConfig(hybrid=opts), 5, 3)
    feats = torch.ones(2, 20, 5)
    batch = {
        "feats": feats,
        "lengths": torch.tensor([20, 15]),
        "targets": torch.zeros(2, 20).long(),
    }
    model = _Seen().train()
    torch.manual_seed(1)
    masked = set()
    for _ in range(5):
        task.loss(model, batch)
        masked |= {int(t) for t in torch.nonzero((model.feats == 0).all(-1))[:, 1]}
        # whole frames are masked, only inside each utterance, at most 2 x 4 of them
        assert ((model.feats == 0).any(-1) == (model.feats == 0).all(-1)).all()
        assert int((model.feats[1, 15:] == 0).sum()) == 0
        assert int((model.feats == 0).all(-1).sum(1).max()) <= 8
    assert bool(masked) == on
    assert torch.equal(feats, torch.ones(2, 20, 5))  # the batch itself untouched
    model.eval()
    task.loss(model, batch)
    assert torch.equal(model.feats, feats)  # no masks outside training
    task.evaluate(model, [batch])
    assert torch.equal(model.feats, feats)


def test_vtlp_warps_training_batches_only_and_needs_the_feature_settings():
    from speechseq.errors import UsageError
    from speechseq.features.config import FeatureConfig

    cfg = HybridConfig(hybrid=HybridOptions(vtlp=0.2))
    task = HybridTask(cfg, 80, 3, features=FeatureConfig(type="fbank"))
    # a spectral slope, so that a warp of the mel axis changes every frame
    feats = torch.linspace(0, 1, 80).repeat(2, 20, 1)
    batch = {
        "feats": feats,
        "lengths": torch.tensor([20, 15]),
        "targets": torch.zeros(2, 20).long(),
    }
    model = _Seen().train()
    task.loss(model, batch)
    assert model.feats.shape == feats.shape and not torch.allclose(model.feats, feats)
    assert torch.equal(feats, torch.linspace(0, 1, 80).repeat(2, 20, 1))  # the batch untouched
    model.eval()
    task.loss(model, batch)
    assert torch.equal(model.feats, feats)
    with pytest.raises(UsageError, match="feats.yaml"):
        HybridTask(cfg, 80, 3)
