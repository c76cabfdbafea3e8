"""Tests of the embedded dataset generator (``mmdicm.datasets.embedded``) and its CLI:
COCO validity, exact masks, determinism, idempotence, the classification view, and that
mmdet's ``CocoDataset`` and mmpretrain's ``CustomDataset`` load what it writes."""
import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from mmdicm.datasets import (DEFAULT_CATEGORIES, OBJECT_GAP, SUPPORTED_SHAPES,
                             generate_embedded_dataset, rasterize_polygon, render_sample,
                             shape_polygon)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CLI = osp.join(REPO, 'tools', 'make_embedded_data.py')
SMALL = dict(num_train=6, num_val=3, image_size=96, seed=0)


@pytest.fixture(scope='module')
def small(tmp_path_factory):
    """One small dataset shared by the read-only tests."""
    out = tmp_path_factory.mktemp('embedded') / 'data'
    return generate_embedded_dataset(out, **SMALL)


def load_image(path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert('RGB'))


def decode(segmentation, h, w) -> np.ndarray:
    """Rasterise a COCO polygon annotation the way mmdet's LoadAnnotations does."""
    rles = mask_utils.frPyObjects(segmentation, h, w)
    return mask_utils.decode(mask_utils.merge(rles)).astype(bool)


def tree_snapshot(root) -> dict:
    """{relative path: (mtime_ns, bytes)} of every file under ``root``."""
    snap = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = osp.join(dirpath, name)
            with open(path, 'rb') as f:
                snap[osp.relpath(path, root)] = (os.stat(path).st_mtime_ns, f.read())
    return snap


# ----------------------------------------------------------------------------- shapes


@pytest.mark.parametrize('shape', SUPPORTED_SHAPES)
def test_shape_polygon_is_inscribed_and_rasterises(shape):
    poly = shape_polygon(shape, (50.0, 40.0), 20.0, angle=0.7, aspect=0.6)
    assert poly.ndim == 2 and poly.shape[1] == 2 and len(poly) >= 3
    dist = np.hypot(poly[:, 0] - 50, poly[:, 1] - 40)
    assert dist.max() == pytest.approx(20.0)  # every shape touches its circumscribed circle
    x, y = poly[:, 0], poly[:, 1]
    area = 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))  # shoelace
    mask = rasterize_polygon(poly.ravel().tolist(), 100, 100)
    assert mask.sum() == pytest.approx(area, rel=0.1)


def test_shape_polygon_validates():
    with pytest.raises(ValueError, match='shape'):
        shape_polygon('blob', (0, 0), 1)
    with pytest.raises(ValueError, match='radius'):
        shape_polygon('circle', (0, 0), 0)
    with pytest.raises(ValueError, match='aspect'):
        shape_polygon('rectangle', (0, 0), 1, aspect=1.5)


# ------------------------------------------------------------------------------- COCO


@pytest.mark.parametrize('split', ['train', 'val'])
def test_coco_files_are_valid(small, split):
    coco = COCO(small[f'{split}_ann'])
    assert [c['name'] for c in coco.loadCats(coco.getCatIds())] == list(DEFAULT_CATEGORIES)
    assert coco.getCatIds() == [1, 2, 3, 4]
    assert len(coco.getImgIds()) == SMALL[f'num_{split}'] == small['num_images'][split]
    assert len(coco.getAnnIds()) == small['num_instances'][split]
    ann_ids = [a['id'] for a in coco.dataset['annotations']]
    assert len(set(ann_ids)) == len(ann_ids)
    for img in coco.dataset['images']:
        assert {'id', 'file_name', 'width', 'height'} <= set(img)
        assert img['width'] == img['height'] == SMALL['image_size']
        assert osp.isfile(osp.join(small[f'{split}_dir'], img['file_name']))
        ann_ids = coco.getAnnIds(imgIds=img['id'])
        assert 1 <= len(ann_ids) <= 4  # min_objects=1, max_objects=4
    for ann in coco.dataset['annotations']:
        assert ann['iscrowd'] == 0
        assert ann['category_id'] in coco.cats
        assert isinstance(ann['segmentation'], list) and len(ann['segmentation']) == 1
        assert len(ann['segmentation'][0]) >= 6 and len(ann['segmentation'][0]) % 2 == 0


@pytest.mark.parametrize('split', ['train', 'val'])
def test_masks_bbox_area_and_disjointness(small, split):
    coco = COCO(small[f'{split}_ann'])
    for img in coco.dataset['images']:
        h, w = img['height'], img['width']
        masks = []
        for ann in coco.loadAnns(coco.getAnnIds(imgIds=img['id'])):
            mask = decode(ann['segmentation'], h, w)
            ys, xs = np.nonzero(mask)
            box = [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
            np.testing.assert_allclose(ann['bbox'], box, atol=1)
            assert ann['bbox'] == [float(v) for v in box]  # in fact exact
            assert ann['area'] == mask.sum()
            assert 0 <= box[0] and box[0] + box[2] <= w and box[1] + box[3] <= h
            masks.append(mask)
        stack = np.stack(masks).astype(int)
        assert stack.sum(0).max() == 1, 'object masks of one image overlap'
        # Disjoint with a margin: no two objects come within OBJECT_GAP px (Chebyshev).
        for i in range(len(masks)):
            for j in range(i + 1, len(masks)):
                pi, pj = np.argwhere(masks[i]), np.argwhere(masks[j])
                cheb = np.abs(pi[:, None] - pj[None]).max(axis=2).min()
                assert cheb > OBJECT_GAP


@pytest.mark.parametrize('split', ['train', 'val'])
def test_polygons_are_exactly_the_painted_pixels(small, split):
    """Annotation polygon -> pycocotools mask == the pixels render_sample painted, and the
    stored JPEG is that rendering up to compression noise."""
    coco = COCO(small[f'{split}_ann'])
    size = SMALL['image_size']
    for index, img in enumerate(coco.dataset['images']):
        sample = render_sample(index, split, size, SMALL['seed'])
        anns = coco.loadAnns(coco.getAnnIds(imgIds=img['id']))
        assert len(anns) == len(sample.objects)
        union = np.zeros((size, size), bool)
        for ann, obj in zip(anns, sample.objects):
            assert ann['category_id'] == obj.label + 1
            assert ann['segmentation'] == [obj.polygon]
            np.testing.assert_array_equal(decode(ann['segmentation'], size, size), obj.mask)
            union |= obj.mask
        # Nothing is painted outside the masks.
        np.testing.assert_array_equal(sample.image[~union], sample.background[~union])
        stored = load_image(osp.join(small[f'{split}_dir'], img['file_name']))
        assert stored.shape == (size, size, 3)
        diff = np.abs(stored.astype(int) - sample.image.astype(int))
        assert diff.mean() < 4


def test_objects_differ_from_background():
    """Painted objects are actually visible (not a silently skipped fill)."""
    for index in range(4):
        s = render_sample(index, 'train', 64, 1)
        for obj in s.objects:
            changed = np.any(s.image[obj.mask] != s.background[obj.mask], axis=1)
            assert changed.mean() > 0.5


# ----------------------------------------------------------------------- classification


@pytest.mark.parametrize('split', ['train', 'val'])
def test_classification_view(small, split):
    with open(small['classes_file'], encoding='utf-8') as f:
        assert f.read().splitlines() == list(DEFAULT_CATEGORIES)
    with open(small[f'cls_{split}'], encoding='utf-8') as f:
        lines = f.read().splitlines()
    assert len(lines) == small['num_cls_samples'][split] == small['num_instances'][split]
    coco = COCO(small[f'{split}_ann'])
    crop_size = max(32, SMALL['image_size'] // 2)
    # One crop per annotation, in annotation order, labelled with its category.
    for line, ann in zip(lines, coco.dataset['annotations']):
        rel, label = line.rsplit(' ', 1)
        assert rel.startswith(f'{split}/') and rel.endswith('.jpg')
        assert 0 <= int(label) < len(DEFAULT_CATEGORIES)
        assert int(label) == ann['category_id'] - 1
        assert rel.split('/')[1].startswith(f"{ann['image_id']:06d}_")
        assert load_image(osp.join(small['cls_dir'], rel)).shape == (crop_size, crop_size, 3)


@pytest.mark.parametrize('split', ['train', 'val'])
def test_image_level_view_is_the_largest_object(small, split):
    """One line per detection image, '<file_name> <label>', the label being the category of
    its largest object (by area); mmpretrain's CustomDataset reads it with the images."""
    from mmpretrain.datasets import CustomDataset
    coco = COCO(small[f'{split}_ann'])
    with open(small[f'image_labels_{split}'], encoding='utf-8') as f:
        lines = [line.split() for line in f.read().splitlines()]
    assert [name for name, _ in lines] == [img['file_name'] for img in coco.dataset['images']]
    for (name, label), img in zip(lines, coco.dataset['images']):
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[img['id']]))
        areas = [a['area'] for a in anns]
        assert int(label) == anns[int(np.argmax(areas))]['category_id'] - 1
    dataset = CustomDataset(data_root=small['out_dir'], data_prefix=f'{split}/',
                            ann_file=f'annotations/image_labels_{split}.txt',
                            metainfo=dict(classes=DEFAULT_CATEGORIES), pipeline=[])
    assert len(dataset) == SMALL[f'num_{split}']
    assert all(osp.isfile(dataset.get_data_info(i)['img_path']) for i in range(len(dataset)))


def test_image_level_view_is_added_to_an_older_dataset(tmp_path):
    """A dataset written before the image-level lists existed gets them, and nothing else
    changes; an image without objects has no image-level label: one-line error."""
    from mmdicm.datasets.embedded import image_labels
    out = tmp_path / 'd'
    info = generate_embedded_dataset(out, **SMALL)
    first = open(info['image_labels_val'], encoding='utf-8').read()
    for split in ('train', 'val'):
        os.remove(info[f'image_labels_{split}'])
    before = tree_snapshot(out)
    again = generate_embedded_dataset(out, **SMALL)
    assert not again['generated']
    assert open(info['image_labels_val'], encoding='utf-8').read() == first
    after = tree_snapshot(out)
    assert {k: v for k, v in after.items() if 'image_labels' not in k} == before
    coco = json.load(open(info['val_ann']))
    coco['annotations'] = [a for a in coco['annotations'] if a['image_id'] != 2]
    bad = tmp_path / 'bad.json'
    bad.write_text(json.dumps(coco))
    with pytest.raises(ValueError, match=r'without objects, e.g. 000002.jpg'):
        image_labels(str(bad))


# ---------------------------------------------------------------- determinism, idempotence


def test_deterministic(tmp_path, small):
    a = generate_embedded_dataset(tmp_path / 'a', **SMALL)
    other = generate_embedded_dataset(tmp_path / 'b', **dict(SMALL, seed=1))
    for split in ('train', 'val'):
        with open(a[f'{split}_ann'], 'rb') as f1, open(small[f'{split}_ann'], 'rb') as f2:
            assert f1.read() == f2.read()
        with open(a[f'{split}_ann'], 'rb') as f1, open(other[f'{split}_ann'], 'rb') as f2:
            assert f1.read() != f2.read()
        for name in sorted(os.listdir(a[f'{split}_dir'])):
            np.testing.assert_array_equal(load_image(osp.join(a[f'{split}_dir'], name)),
                                          load_image(osp.join(small[f'{split}_dir'], name)))
    first = '000001.jpg'
    assert not np.array_equal(load_image(osp.join(a['train_dir'], first)),
                              load_image(osp.join(other['train_dir'], first)))
    with open(a['meta'], 'rb') as f1, open(small['meta'], 'rb') as f2:
        assert f1.read() == f2.read()


def test_prefix_stable(tmp_path, small):
    """A larger split extends a smaller one: image i does not depend on the split size."""
    more = generate_embedded_dataset(tmp_path / 'more', **dict(SMALL, num_train=7, num_val=1))
    assert more['num_images'] == {'train': 7, 'val': 1}
    for name in sorted(os.listdir(small['train_dir'])):
        with open(osp.join(more['train_dir'], name), 'rb') as f1, \
                open(osp.join(small['train_dir'], name), 'rb') as f2:
            assert f1.read() == f2.read()


def test_idempotent_and_refuses_other_args(tmp_path):
    out = tmp_path / 'data'
    first = generate_embedded_dataset(out, **SMALL)
    assert first['generated']
    before = tree_snapshot(out)
    again = generate_embedded_dataset(out, **SMALL)
    assert not again['generated']
    assert tree_snapshot(out) == before  # same files, same bytes, same mtimes
    assert {k: v for k, v in again.items() if k not in ('generated', 'seconds')} == \
        {k: v for k, v in first.items() if k not in ('generated', 'seconds')}

    with pytest.raises(FileExistsError, match='seed: 0 there, 5 asked'):
        generate_embedded_dataset(out, **dict(SMALL, seed=5))
    with pytest.raises(FileExistsError, match='categories'):
        generate_embedded_dataset(out, **dict(SMALL, categories=('circle', 'star')))
    assert tree_snapshot(out) == before

    # overwrite=True regenerates with the new arguments, leaving foreign files alone.
    (out / 'notes.txt').write_text('mine')
    new = generate_embedded_dataset(out, **dict(SMALL, seed=5), overwrite=True)
    assert new['generated']
    assert (out / 'notes.txt').read_text() == 'mine'
    assert json.loads((out / 'meta.json').read_text())['args']['seed'] == 5
    assert sorted(os.listdir(out)) == sorted(
        ['annotations', 'classification', 'meta.json', 'notes.txt', 'train', 'val'])
    assert not [p for p in os.listdir(tmp_path) if '.tmp-' in p]  # temp dir cleaned up


def test_refuses_foreign_and_incomplete_dirs(tmp_path):
    foreign = tmp_path / 'foreign'
    foreign.mkdir()
    (foreign / 'x.txt').write_text('x')
    with pytest.raises(FileExistsError, match='no embedded dataset'):
        generate_embedded_dataset(foreign, **SMALL)
    assert os.listdir(foreign) == ['x.txt']

    out = tmp_path / 'data'
    info = generate_embedded_dataset(out, **SMALL)
    os.remove(osp.join(info['train_dir'], '000002.jpg'))
    with pytest.raises(FileExistsError, match='incomplete'):
        generate_embedded_dataset(out, **SMALL)
    assert generate_embedded_dataset(out, **SMALL, overwrite=True)['generated']
    assert not generate_embedded_dataset(out, **SMALL)['generated']

    empty = tmp_path / 'empty'
    empty.mkdir()
    assert generate_embedded_dataset(empty, **SMALL)['generated']  # empty dir is fine

    a_file = tmp_path / 'file'
    a_file.write_text('')
    with pytest.raises(NotADirectoryError):
        generate_embedded_dataset(a_file, **SMALL)


@pytest.mark.parametrize('kwargs, name', [
    (dict(num_train=0), 'num_train'),
    (dict(num_val=-1), 'num_val'),
    (dict(image_size=16), 'image_size'),
    (dict(seed=-1), 'seed'),
    (dict(categories=()), 'categories'),
    (dict(categories=('circle', 'blob')), 'categories'),
    (dict(categories=('star', 'star')), 'categories'),
    (dict(min_objects=0), 'min_objects'),
    (dict(max_objects=11), 'max_objects'),
    (dict(min_objects=3, max_objects=2), 'min_objects'),
])
def test_value_errors_name_the_argument(tmp_path, kwargs, name):
    with pytest.raises(ValueError, match=name):
        generate_embedded_dataset(tmp_path / 'x', **dict(SMALL, **kwargs))
    assert not (tmp_path / 'x').exists()  # validated before anything is written


@pytest.mark.parametrize('kwargs, name', [
    (dict(num_train=2.0), 'num_train'),
    (dict(image_size=True), 'image_size'),
    (dict(categories='circle'), 'categories'),
    (dict(overwrite=1), 'overwrite'),
])
def test_type_errors_name_the_argument(tmp_path, kwargs, name):
    with pytest.raises(TypeError, match=name):
        generate_embedded_dataset(tmp_path / 'x', **dict(SMALL, **kwargs))


def test_custom_categories_and_object_counts(tmp_path):
    cats = ('hexagon', 'cross', 'circle')
    info = generate_embedded_dataset(tmp_path / 'c', num_train=3, num_val=1, image_size=64,
                                     categories=cats, min_objects=2, max_objects=3)
    coco = COCO(info['train_ann'])
    assert [c['name'] for c in coco.dataset['categories']] == list(cats)
    for img_id in coco.getImgIds():
        assert 2 <= len(coco.getAnnIds(imgIds=img_id)) <= 3


def test_crowded_small_images_still_place_min_objects():
    for index in range(3):
        sample = render_sample(index, 'val', 32, 0, min_objects=4, max_objects=4)
        assert len(sample.objects) == 4


# -------------------------------------------------------------------------------- CLI


def test_cli_writes_and_refuses(tmp_path):
    args = ['--num-train', '3', '--num-val', '2', '--size', '64']
    existing = tmp_path / 'existing'
    generate_embedded_dataset(existing, num_train=3, num_val=2, image_size=64)
    before = tree_snapshot(existing)
    # Two fresh interpreters in parallel: a new dataset, and a refused overwrite.
    procs = [
        subprocess.Popen([sys.executable, CLI, '--out', str(out), *args, *extra],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
        for out, extra in ((tmp_path / 'new', []), (existing, ['--seed', '1']))
    ]
    (out_new, err_new), (out_ref, err_ref) = [p.communicate(timeout=120) for p in procs]
    assert procs[0].returncode == 0, err_new
    assert 'wrote' in out_new and 'train: 3 images' in out_new
    assert COCO(str(tmp_path / 'new' / 'annotations' / 'instances_train.json'))
    assert procs[1].returncode == 1
    assert 'seed' in err_ref and '--force' in err_ref
    assert tree_snapshot(existing) == before

    # In-process for the rest (same main(), no extra interpreter start-up).
    spec = importlib.util.spec_from_file_location('make_embedded_data', CLI)
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    assert cli.main(['--out', str(existing), *args]) == 0  # up to date: no rewrite
    assert tree_snapshot(existing) == before
    assert cli.main(['--out', str(existing), *args, '--size', '8']) == 2
    assert cli.main(['--out', str(existing), *args, '--seed', '1', '--force']) == 0
    assert json.loads((existing / 'meta.json').read_text())['args']['seed'] == 1


# ---------------------------------------------------------------------- OpenMMLab hosts


def test_mmdet_coco_dataset_loads(small):
    pytest.importorskip('mmdet')
    from mmdet.datasets import CocoDataset
    from mmdet.utils import register_all_modules
    from mmengine.registry import DefaultScope

    register_all_modules(init_default_scope=False)
    coco = COCO(small['train_ann'])
    with DefaultScope.overwrite_default_scope('mmdet'):  # no global scope left behind
        dataset = CocoDataset(
            data_root=small['out_dir'],
            ann_file='annotations/instances_train.json',
            data_prefix=dict(img='train/'),
            metainfo=dict(classes=DEFAULT_CATEGORIES),
            filter_cfg=dict(filter_empty_gt=True, min_size=1),
            pipeline=[
                dict(type='LoadImageFromFile'),
                dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
                dict(type='PackDetInputs'),
            ])
        assert len(dataset) == SMALL['num_train']
        for idx in (0, len(dataset) - 1):
            out = dataset[idx]
            sample = out['data_samples']
            img_id = sample.img_id
            anns = coco.loadAnns(coco.getAnnIds(imgIds=img_id))
            inst = sample.gt_instances
            assert len(inst) == len(anns) > 0
            assert out['inputs'].shape == (3, SMALL['image_size'], SMALL['image_size'])
            assert inst.labels.tolist() == [a['category_id'] - 1 for a in anns]
            boxes = [[x, y, x + w, y + h] for x, y, w, h in (a['bbox'] for a in anns)]
            np.testing.assert_allclose(inst.bboxes.tensor.numpy(), boxes)
            masks = inst.masks.to_ndarray().astype(bool)
            for m, a in zip(masks, anns):
                np.testing.assert_array_equal(
                    m, decode(a['segmentation'], SMALL['image_size'], SMALL['image_size']))


def test_mmpretrain_custom_dataset_loads(small):
    pytest.importorskip('mmpretrain')
    from mmpretrain.datasets import CustomDataset

    dataset = CustomDataset(
        data_root=small['cls_dir'],
        ann_file='train.txt',
        metainfo=dict(classes=small['classes_file']),
        pipeline=[])
    assert tuple(dataset.CLASSES) == DEFAULT_CATEGORIES
    assert len(dataset) == small['num_cls_samples']['train']
    labels = [dataset.get_data_info(i)['gt_label'] for i in range(len(dataset))]
    assert set(labels) <= set(range(len(DEFAULT_CATEGORIES)))
    assert osp.isfile(dataset.get_data_info(0)['img_path'])


# ------------------------------------------------------------------------------ speed


@pytest.mark.slow
def test_default_size_is_fast(tmp_path):
    """The default 400 + 100 images at 256 px: well under a minute on a 2-core CPU."""
    start = time.perf_counter()
    info = generate_embedded_dataset(tmp_path / 'full')
    assert time.perf_counter() - start < 30
    assert info['num_images'] == {'train': 400, 'val': 100}


def test_meta_names_the_generator_as_datasets_written_before_the_package_split(tmp_path):
    """Datasets on disk record generator 'mmdicm.datasets.embedded' (the module's name
    before it became a package); a later call must still recognise them, not refuse the
    folder as foreign."""
    out = tmp_path / 'd'
    generate_embedded_dataset(out, num_train=1, num_val=1, image_size=32)
    meta = json.load(open(out / 'meta.json'))
    assert meta['generator'] == 'mmdicm.datasets.embedded'
    again = generate_embedded_dataset(out, num_train=1, num_val=1, image_size=32)
    assert again['generated'] is False
