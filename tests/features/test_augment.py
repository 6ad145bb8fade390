import torch

from speechseq.features import spec_augment


def test_spec_augment_masks_whole_bins_and_frames_within_limits():
    feats = torch.ones(300, 80)
    out = spec_augment(feats, rng=torch.Generator().manual_seed(0))
    assert out.shape == feats.shape
    assert torch.equal(feats, torch.ones(300, 80))  # the input is not modified
    masked_bins = (out == 0).all(0).sum().item()
    masked_frames = (out == 0).all(1).sum().item()
    assert 0 < masked_bins <= 2 * 27
    assert 0 < masked_frames <= 2 * 40
    # every zero lies in a fully masked bin or a fully masked frame
    zero = out == 0
    assert torch.equal(zero, (out == 0).all(0)[None, :] | (out == 0).all(1)[:, None])


def test_spec_augment_is_reproducible_with_a_generator():
    feats = torch.randn(200, 80)
    a = spec_augment(feats, rng=torch.Generator().manual_seed(3))
    b = spec_augment(feats, rng=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_spec_augment_caps_time_masks_for_short_utterances():
    feats = torch.ones(20, 80)
    for seed in range(20):
        out = spec_augment(feats, num_freq_masks=0, rng=torch.Generator().manual_seed(seed))
        assert (out == 0).all(1).sum().item() <= 2 * 4  # 20% of 20 frames per mask


def test_spec_augment_on_a_batch_keeps_masks_inside_each_length():
    feats = torch.ones(3, 100, 80)
    lengths = torch.tensor([100, 50, 10])
    out = spec_augment(
        feats, num_freq_masks=0, lengths=lengths, rng=torch.Generator().manual_seed(1)
    )
    assert out.shape == feats.shape
    for k, n in enumerate(lengths.tolist()):
        assert (out[k, n:] == 1).all()
