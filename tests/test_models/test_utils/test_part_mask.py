# Copyright (c) ifam_mm contributors. All rights reserved.
import torch

from ifam_mm.models.utils import foreground_token_mask, resample_token_mask

K = 3


def test_eval_mask_is_argmax_foreground():
    logits = torch.randn(2, K + 1, 5, 5)
    mask = foreground_token_mask(logits)
    assert torch.equal(mask.bool(), logits.argmax(1) < K)


def test_training_mask_is_hard_in_value_with_straight_through_gradient():
    logits = torch.randn(2, K + 1, 5, 5, requires_grad=True)
    maps = logits.softmax(dim=1)
    mask = foreground_token_mask(logits, part_maps=maps)
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(mask.bool(), maps[:, :-1].amax(1) > maps[:, -1])
    # d mask / d logits is that of S = 1 - p_background.
    mask.sum().backward()
    expected = torch.autograd.grad((1 - logits.softmax(1)[:, -1]).sum(),
                                   logits)[0]
    torch.testing.assert_close(logits.grad, expected)


def test_stage2_part_dropout_drops_parts_without_rescaling():
    torch.manual_seed(0)
    # Every token is part 0 with probability 0.6, background 0.4.
    maps = torch.zeros(64, K + 1, 2, 2)
    maps[:, 0], maps[:, -1] = 0.6, 0.4
    mask = foreground_token_mask(
        torch.zeros_like(maps), part_maps=maps, part_dropout=0.5)
    kept_images = mask.flatten(1).all(1)
    dropped_images = (mask.flatten(1) == 0).all(1)
    # Whole parts go: an image keeps all its tokens or none.
    assert torch.equal(kept_images | dropped_images, torch.ones(64).bool())
    assert kept_images.any() and dropped_images.any()


def test_resample_keeps_the_mask_binary():
    mask = torch.zeros(1, 4, 4)
    mask[0, :2, :2] = 1
    resampled = resample_token_mask(mask, (8, 8))
    assert resampled.shape == (1, 8, 8)
    assert resampled.sum() == 16 and set(resampled.unique().tolist()) == {
        0.0, 1.0
    }


def test_a_foreground_background_tie_keeps_the_token():
    """As the reference's argmax over [foreground, background]."""
    logits = torch.tensor([[1.0, 3.0, 3.0], [3.0, 0.0, 3.0]])  # K = 2
    logits = logits.T.reshape(1, 3, 1, 2)
    assert foreground_token_mask(logits).tolist() == [[[1.0, 1.0]]]
    # Training: max foreground probability equal to the background's.
    maps = torch.tensor([0.2, 0.4, 0.4]).reshape(1, 3, 1, 1)
    assert foreground_token_mask(logits[..., :1],
                                 part_maps=maps).item() == 1.0
    # A token whose every part was dropped ties at 0 with an underflowed
    # background: foreground too, as the reference.
    zeros = torch.zeros(1, 3, 1, 1)
    assert foreground_token_mask(logits[..., :1],
                                 part_maps=zeros).item() == 1.0
    assert foreground_token_mask(
        logits[..., :1],
        part_maps=torch.tensor([0.2, 0.3, 0.5]).reshape(1, 3, 1, 1)).item(
        ) == 0.0
