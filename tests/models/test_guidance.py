"""Semantic-aware localisation: activations -> heatmaps -> boxes, on maps with known answers."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mmdicm.models.selfsup.guidance import (boxes_from_heatmaps, denormalize_boxes,
                                            heatmaps_from_features, normalize_boxes,
                                            semantic_boxes)


# ---------------------------------------------------------------------- heatmaps
def test_heatmap_sums_channels_and_min_max_normalises():
    feats = torch.zeros(2, 3, 4, 4)
    feats[0, 0, 1, 2] = 2.
    feats[0, 1, 1, 2] = 2.   # channel sum 4 at (1, 2)
    feats[0, 2, 3, 3] = 1.   # channel sum 1 at (3, 3)
    feats[1] = 5.            # offset and scale do not matter
    feats[1, :, 0, 0] = 7.
    hm = heatmaps_from_features(feats, 4)  # same size: no interpolation
    assert hm.shape == (2, 4, 4) and hm.dtype == torch.float32
    assert hm[0, 1, 2] == 1. and hm[0, 3, 3] == pytest.approx(0.25) and hm[0].min() == 0.
    assert hm[1, 0, 0] == 1. and hm[1].sum() == 1.


def test_heatmap_upsamples_bilinearly_and_stays_in_unit_range():
    feats = torch.randn(3, 5, 7, 6)
    hm = heatmaps_from_features(feats, (56, 48))
    assert hm.shape == (3, 56, 48)
    assert hm.min() >= 0. and hm.max() <= 1.
    ref = torch.nn.functional.interpolate(
        heatmaps_from_features(feats, (7, 6))[:, None], size=(56, 48), mode='bilinear',
        align_corners=False)[:, 0]
    torch.testing.assert_close(hm, ref)


def test_flat_map_is_safe():
    feats = torch.full((2, 4, 3, 3), 3.)
    hm = heatmaps_from_features(feats, 12)
    assert torch.isfinite(hm).all() and (hm == 0).all()
    assert boxes_from_heatmaps(hm).tolist() == [[0, 0, 12, 12]] * 2


def test_non_finite_features_give_the_whole_image():
    feats = torch.rand(2, 4, 3, 3)
    feats[0, 1, 1, 1] = float('nan')
    boxes = boxes_from_heatmaps(heatmaps_from_features(feats, 9))
    assert boxes[0].tolist() == [0, 0, 9, 9]


def test_heatmap_rejects_bad_input():
    with pytest.raises(ValueError, match='N, C, h, w'):
        heatmaps_from_features(torch.rand(4, 3, 3), 8)
    with pytest.raises(ValueError, match='image_size'):
        heatmaps_from_features(torch.rand(1, 4, 3, 3), (8, 0))


# ---------------------------------------------------------------------- boxes
def test_box_of_a_block_of_ones():
    hm = torch.zeros(2, 10, 20)
    hm[0, 2:5, 3:9] = 1.
    hm[1, 9, 19] = 0.5       # one pixel in the corner
    assert boxes_from_heatmaps(hm).tolist() == [[3, 2, 9, 5], [19, 9, 20, 10]]


def test_box_from_features_with_known_location():
    """A block of activations in a 4x4 feature map of a 64x64 input, worked out by hand.

    Feature cells are 16 px; bilinear (align_corners=False) puts cell values at pixel
    centres 8, 24, 40, 56. The block covers rows 1-2 and columns 2-3 (value 1, else 0), so
    between centres 24 (0) and 40 (1) the value at pixel p is (p + 0.5 - 24) / 16, and
    beyond the last centre it is clamped (columns 56..63 stay 1).
    """
    feats = torch.zeros(1, 16, 4, 4)
    feats[0, :, 1:3, 2:4] = 1.
    hm = heatmaps_from_features(feats, 64)
    # > 0.1: x from (p + .5 - 24) / 16 > .1 -> p >= 26; y from (p + .5 - 8) / 16 > .1 ->
    # p >= 10 and (56 - p - .5) / 16 > .1 -> p <= 53
    assert boxes_from_heatmaps(hm, 0.1).tolist() == [[26, 10, 64, 54]]
    # > 0.9: p >= 38 in x; 22 <= p <= 41 in y
    assert boxes_from_heatmaps(hm, 0.9).tolist() == [[38, 22, 64, 42]]


def test_threshold_is_strict_and_validated():
    hm = torch.full((1, 4, 4), 0.1)
    hm[0, 1, 1] = 0.2
    assert boxes_from_heatmaps(hm, 0.1).tolist() == [[1, 1, 2, 2]]
    assert boxes_from_heatmaps(hm, 0.).tolist() == [[0, 0, 4, 4]]  # all above
    for bad in (1., -0.1, 1.5):
        with pytest.raises(ValueError, match=r'\[0, 1\)'):
            boxes_from_heatmaps(hm, bad)
    with pytest.raises(TypeError):
        boxes_from_heatmaps(hm, True)
    with pytest.raises(ValueError, match='N, H, W'):
        boxes_from_heatmaps(hm[0], 0.1)


def test_all_above_threshold_is_the_whole_image():
    hm = torch.rand(3, 7, 5) * 0.5 + 0.5
    assert boxes_from_heatmaps(hm, 0.1).tolist() == [[0, 0, 5, 7]] * 3


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 3), c=st.integers(1, 4), h=st.integers(1, 9), w=st.integers(1, 9),
       out_h=st.integers(1, 70), out_w=st.integers(1, 70),
       threshold=st.floats(0., 0.999), seed=st.integers(0, 2**16))
def test_boxes_always_inside_the_image(n, c, h, w, out_h, out_w, threshold, seed):
    g = torch.Generator().manual_seed(seed)
    feats = torch.randn(n, c, h, w, generator=g).relu()
    boxes = boxes_from_heatmaps(heatmaps_from_features(feats, (out_h, out_w)), threshold)
    assert boxes.shape == (n, 4) and boxes.dtype == torch.int64
    x1, y1, x2, y2 = boxes.unbind(1)
    assert ((0 <= x1) & (x1 < x2) & (x2 <= out_w)).all()
    assert ((0 <= y1) & (y1 < y2) & (y2 <= out_h)).all()
    norm = semantic_boxes(feats, (out_h, out_w), threshold)
    assert ((norm >= 0) & (norm <= 1)).all()
    assert ((norm[:, 0] < norm[:, 2]) & (norm[:, 1] < norm[:, 3])).all()


# ---------------------------------------------------------------------- normalised boxes
def test_normalise_and_map_to_original_image_sizes():
    boxes = torch.tensor([[0, 0, 224, 224], [56, 112, 168, 224]])
    norm = normalize_boxes(boxes, 224)
    assert norm.tolist() == [[0., 0., 1., 1.], [0.25, 0.5, 0.75, 1.]]
    # the same regions of originals of different sizes (the plain view is a full resize)
    orig = denormalize_boxes(norm, torch.tensor([[480, 640], [300, 200]]))
    assert orig.tolist() == [[0., 0., 640., 480.], [50., 150., 150., 300.]]
    assert denormalize_boxes(norm, (10, 20)).tolist() == [[0., 0., 20., 10.],
                                                          [5., 5., 15., 10.]]
    with pytest.raises(ValueError, match='sizes'):
        normalize_boxes(boxes, torch.ones(3, 2))
    with pytest.raises(ValueError, match=r'\(N, 4\)'):
        normalize_boxes(boxes[:, :3], 224)


def test_semantic_boxes_clip_to_valid_unpadded_size():
    feats = torch.zeros(2, 4, 4, 4)
    feats[0, :, 0, 0] = 1.       # top-left: inside the valid region
    feats[1, :, 3, 3] = 1.       # bottom-right: only in the padding
    valid = torch.tensor([[16, 16], [16, 16]])  # images of 16x16 padded to 32x32
    norm = semantic_boxes(feats, 32, 0.5, valid_sizes=valid)
    assert norm[0, 0] == 0 and norm[0, 1] == 0 and 0 < norm[0, 2] < 1
    assert norm[1].tolist() == [0., 0., 1., 1.]
