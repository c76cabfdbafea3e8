"""SemanticGuidedCrop and its shared box store: geometry, the Beta law of the crop centres, the
RandomResizedCrop fallback, registration, and box updates reaching running dataloader workers
(fork and spawn, persistent workers)."""
import copy

import cv2
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from mmengine.registry import DefaultScope
from mmengine.registry import TRANSFORMS as ROOT_TRANSFORMS
from mmpretrain.datasets import CustomDataset
from mmpretrain.datasets.transforms import RandomResizedCrop
from mmpretrain.registry import TRANSFORMS as MMPRETRAIN_TRANSFORMS
from scipy import stats
from torch.utils.data import DataLoader

from mmdicm.datasets.transforms import SemanticBoxStore, SemanticGuidedCrop, get_box_store

NAN_BOX = [float('nan')] * 4


def _store(name, boxes=None, num=None, epoch=0):
    store = get_box_store(name)
    store.allocate(num or len(boxes))
    if boxes is not None:
        store.update(torch.tensor(boxes, dtype=torch.float32), epoch=epoch)
    return store


def _centre_range(b1, b2, size, length):
    """The centre extent the transform draws from: the box clipped to in-image centres."""
    half = size / 2.
    return (min(max(b1, half), length - half), min(max(b2, half), length - half))


# ---------------------------------------------------------------------- store
def test_store_lifecycle_and_validation():
    store = SemanticBoxStore('lifecycle')
    assert not store.allocated and store.lookup(0) is None and not store.ready
    with pytest.raises(RuntimeError, match='allocate'):
        store.update(torch.zeros(2, 4))
    store.allocate(3)
    assert store.num_samples == 3 and store.lookup(1) is None and store.epoch == -1
    boxes = torch.tensor([[0., 0., 1., 1.], NAN_BOX, [.2, .3, .4, .9]])
    store.update(boxes, epoch=40)
    assert store.ready and store.epoch == 40
    assert store.lookup(0) == (0., 0., 1., 1.) and store.lookup(1) is None
    assert store.lookup(2) == pytest.approx((.2, .3, .4, .9))
    with pytest.raises(IndexError):
        store.lookup(3)
    with pytest.raises(ValueError, match='shape'):
        store.update(torch.zeros(2, 4))
    for bad in ([.5, 0., .5, 1.], [0., 0., 1.1, 1.], [-.1, 0., .5, .5], [0., float('nan'), 1, 1]):
        with pytest.raises(ValueError, match='bad rows'):
            store.update(torch.tensor([[0., 0., 1., 1.], bad, [0., 0., 1., 1.]]))
    state = store.state_dict()
    store.reset()
    assert not store.ready and store.lookup(0) is None
    store.load_state_dict(state)
    assert store.ready and store.epoch == 40 and store.lookup(2) == pytest.approx((.2, .3, .4, .9))
    # a store is a handle: copies share it
    assert copy.deepcopy(store) is store and copy.copy(store) is store
    with pytest.raises(ValueError):
        SemanticBoxStore('')
    with pytest.raises(ValueError, match='num_samples'):
        store.allocate(0)


# ---------------------------------------------------------------------- transform
def test_arguments_are_validated():
    for alpha in (0, -1., float('nan'), float('inf'), True, '0.6'):
        with pytest.raises(ValueError, match='alpha'):
            SemanticGuidedCrop(scale=8, alpha=alpha, store='args')
    with pytest.raises(ValueError, match='crop_ratio_range'):
        SemanticGuidedCrop(scale=8, crop_ratio_range=(0., 1.), store='args')
    with pytest.raises(ValueError, match='aspect_ratio_range'):
        SemanticGuidedCrop(scale=8, aspect_ratio_range=(-1., 1.), store='args')


@pytest.mark.parametrize('state', ['unallocated', 'not_ready', 'nan_row'])
def test_without_a_box_it_is_random_resized_crop(state):
    name = f'fallback-{state}'
    if state == 'unallocated':
        get_box_store(name)._boxes = None
    elif state == 'not_ready':
        _store(name, num=4)
    else:
        _store(name, [[.1, .1, .2, .2], NAN_BOX, NAN_BOX, NAN_BOX])
    kwargs = dict(scale=(24, 32), crop_ratio_range=(0.2, 1.), backend='cv2')
    ours, ref = SemanticGuidedCrop(**kwargs, store=name), RandomResizedCrop(**kwargs)
    rng = np.random.default_rng(0)
    for i in range(20):
        img = rng.integers(0, 255, (int(rng.integers(20, 90)), int(rng.integers(20, 90)), 3),
                           dtype=np.uint8)
        np.random.seed(i)
        out = ours(dict(img=img.copy(), sample_idx=1 + i % 3))
        np.random.seed(i)
        expected = ref(dict(img=img.copy()))
        assert out['semantic_box'] is None
        np.testing.assert_array_equal(out['img'], expected['img'])
        assert out['img_shape'] == expected['img_shape'] == (24, 32, 3)


def test_guided_crop_uses_the_sample_box_and_reports_it():
    _store('report', [[0., 0., 1., 1.], [.5, .5, 1., 1.]])
    t = SemanticGuidedCrop(scale=8, crop_ratio_range=(0.01, 0.02), store='report')
    img = np.zeros((200, 100, 3), np.uint8)
    for _ in range(50):
        out = t(dict(img=img, sample_idx=1))
        assert out['semantic_box'] == (.5, .5, 1., 1.) and out['img'].shape == (8, 8, 3)
        x1, y1, x2, y2 = out['crop_bbox']
        assert (x1 + x2) / 2 >= 50 - 1 and (y1 + y2) / 2 >= 100 - 1
    with pytest.raises(KeyError, match='sample_idx'):
        t(dict(img=img))


def test_crop_pixels_are_the_reported_region():
    _store('pixels', [[.25, .25, .75, .75]])
    t = SemanticGuidedCrop(scale=(5, 7), crop_ratio_range=(0.1, 0.3), store='pixels',
                           interpolation='nearest')
    ys, xs = np.mgrid[0:60, 0:80]
    img = np.stack([ys, xs, np.zeros_like(ys)], axis=-1).astype(np.uint8)
    out = t(dict(img=img, sample_idx=0))
    x1, y1, x2, y2 = out['crop_bbox']
    assert out['img'][..., 0].min() >= y1 and out['img'][..., 0].max() < y2
    assert out['img'][..., 1].min() >= x1 and out['img'][..., 1].max() < x2


@settings(max_examples=30, deadline=None)
@given(h=st.integers(8, 300), w=st.integers(8, 300), alpha=st.floats(0.1, 5.),
       lo=st.floats(0.08, 1.), data=st.data())
def test_crops_stay_inside_the_image_and_centre_in_the_box(h, w, alpha, lo, data):
    x1, x2 = sorted(data.draw(st.lists(st.floats(0., 1.), min_size=2, max_size=2,
                                       unique=True)))
    y1, y2 = sorted(data.draw(st.lists(st.floats(0., 1.), min_size=2, max_size=2,
                                       unique=True)))
    box = (x1, y1, x2, y2)
    t = SemanticGuidedCrop(scale=4, crop_ratio_range=(lo, 1.), alpha=alpha, store='hyp')
    img = np.empty((h, w, 3), np.uint8)
    fallbacks = []
    central = t._central_crop
    t._central_crop = lambda *a: fallbacks.append(1) or central(*a)
    np.random.seed(data.draw(st.integers(0, 2**16)))
    for _ in range(20):
        del fallbacks[:]
        oh, ow, th, tw = t.guided_crop_params(img, box)
        assert 0 <= oh and oh + th <= h and 0 < th and 0 <= ow and ow + tw <= w and 0 < tw
        if fallbacks:   # no size fitted in max_attempts: RandomResizedCrop's central crop
            continue
        for b1, b2, off, size, length in ((x1 * w, x2 * w, ow, tw, w),
                                          (y1 * h, y2 * h, oh, th, h)):
            c_lo, c_hi = _centre_range(b1, b2, size, length)
            assert c_lo - 0.5 <= off + size / 2 <= c_hi + 0.5


@pytest.mark.parametrize('alpha', [0.6, 2.0])
def test_crop_centres_follow_beta_inside_the_box(alpha):
    """Box and crop sizes that never clip: the centre's relative position in the box is
    Beta(alpha, alpha) distributed (up to half-pixel rounding), and not uniform."""
    t = SemanticGuidedCrop(scale=4, crop_ratio_range=(0.01, 0.2), alpha=alpha, store='ks')
    img = np.empty((1000, 1000, 3), np.uint8)
    box = (0.3, 0.32, 0.7, 0.68)      # pixels 300..700, 320..680: crops <= 517 px fit
    np.random.seed(1)
    ux, uy = [], []
    for _ in range(3000):
        oh, ow, th, tw = t.guided_crop_params(img, box)
        assert tw / 2 <= 300 and th / 2 <= 320   # no clipping possible
        ux.append((ow + tw / 2 - 300) / 400)
        uy.append((oh + th / 2 - 320) / 360)
    for u in (ux, uy):
        assert stats.kstest(u, stats.beta(alpha, alpha).cdf).pvalue > 0.01
        assert stats.kstest(u, 'uniform').pvalue < 1e-3
    assert abs(stats.pearsonr(ux, uy)[0]) < 0.06   # x and y drawn independently


def test_registered_and_buildable_from_configs():
    cfg = dict(type='SemanticGuidedCrop', scale=16, alpha=0.6, store='registry')
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        assert isinstance(MMPRETRAIN_TRANSFORMS.build(cfg), SemanticGuidedCrop)
        assert isinstance(ROOT_TRANSFORMS.build(cfg), SemanticGuidedCrop)
        flip = dict(type='RandomFlip', prob=0.5)
        multi = MMPRETRAIN_TRANSFORMS.build(
            dict(type='MultiView', num_views=2, transforms=[[cfg, flip]]))
    with DefaultScope.overwrite_default_scope('mmdet'):
        assert isinstance(ROOT_TRANSFORMS.build(cfg), SemanticGuidedCrop)
    # the MultiView copies share one store; deep copies of the pipeline too
    store = get_box_store('registry')
    assert copy.deepcopy(multi).transforms[0].transforms[0].store is store
    store.allocate(1)
    store.update(torch.tensor([[.0, .0, .5, .5]]))
    out = multi(dict(img=np.zeros((40, 40, 3), np.uint8), sample_idx=0))
    assert [v.shape for v in out['img']] == [(16, 16, 3)] * 2


# ---------------------------------------------------------------------- dataloader workers
@pytest.fixture(scope='module')
def image_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp('guided_crop_images')
    rng = np.random.default_rng(0)
    for i in range(8):
        h, w = 40 + 7 * i, 90 - 5 * i
        cv2.imwrite(str(root / f'{i:03d}.png'), rng.integers(0, 255, (h, w, 3), np.uint8))
    return root


def _epoch(loader):
    items = [item for batch in loader for item in batch]
    assert sorted(it['sample_idx'] for it in items) == list(range(8))
    return items


def _check_guided(items, boxes):
    for it in items:
        box = boxes[it['sample_idx']]
        assert it['semantic_box'] == pytest.approx(tuple(box))
        assert it['img'].shape == (8, 8, 3)
        x1, y1, x2, y2 = it['crop_bbox'].tolist()
        h, w = it['ori_shape']
        assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
        for b1, b2, c1, c2, length in ((box[0] * w, box[2] * w, x1, x2, w),
                                       (box[1] * h, box[3] * h, y1, y2, h)):
            lo, hi = _centre_range(b1, b2, c2 - c1, length)
            assert lo - 0.5 <= (c1 + c2) / 2 <= hi + 0.5


@pytest.mark.parametrize('context', ['fork', 'spawn'])
def test_box_updates_reach_running_persistent_workers(image_dir, context):
    name = f'workers-{context}'
    dataset = CustomDataset(
        data_root=str(image_dir), with_label=False,
        pipeline=[dict(type='LoadImageFromFile'),
                  SemanticGuidedCrop(scale=8, crop_ratio_range=(0.05, 0.1), store=name)])
    store = get_box_store(name)
    store.allocate(len(dataset))          # before the workers start
    loader = DataLoader(dataset, batch_size=3, num_workers=2, persistent_workers=True,
                        multiprocessing_context=context, collate_fn=list)

    first = _epoch(loader)                # workers start here; no boxes yet
    assert all(it['semantic_box'] is None for it in first)
    workers = loader._iterator._workers
    pids = [w.pid for w in workers]

    rng = np.random.default_rng(1)
    for epoch in (1, 2):                  # update in the main process, workers keep running
        lo = rng.uniform(0., 0.5, (8, 2))
        boxes = np.concatenate([lo, lo + rng.uniform(0.1, 0.5, (8, 2))], axis=1)  # x1 y1 x2 y2
        store.update(torch.tensor(boxes, dtype=torch.float32), epoch=epoch)
        items = _epoch(loader)
        _check_guided(items, boxes.astype(np.float32).tolist())
        # the same, still running workers
        assert [w.pid for w in loader._iterator._workers] == pids
        assert all(w.is_alive() for w in workers)
    store.reset()
    assert all(it['semantic_box'] is None for it in _epoch(loader))
    del loader
