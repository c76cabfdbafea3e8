"""Writing the embedded dataset: COCO detection splits, the classification view, meta.json."""
import json
import os
import os.path as osp
import shutil
import tempfile
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from PIL import Image

from .render import resize_image, render_sample
from .spec import (CROP_CONTEXT, DEFAULT_CATEGORIES, GENERATOR, GENERATOR_VERSION, JPEG_QUALITY,
                   OUTPUTS, PHOTOS, SPLITS, check_args)


def _crop_box(bbox: Sequence[float], image_size: int) -> Tuple[int, int, int]:
    """``(x0, y0, side)`` of an object box's classification crop (docs/embedded_data.md)."""
    x, y, w, h = bbox
    side = int(min(image_size, max(8, round(CROP_CONTEXT * max(w, h)))))
    cx, cy = x + w / 2, y + h / 2
    x0 = int(min(max(round(cx - side / 2), 0), image_size - side))
    y0 = int(min(max(round(cy - side / 2), 0), image_size - side))
    return x0, y0, side


def _save_jpeg(img: np.ndarray, path: str) -> None:
    Image.fromarray(img).save(path, format='JPEG', quality=JPEG_QUALITY, subsampling=0)


# ----------------------------------------------------------------------------- generation


def _paths(out_dir: str) -> Dict[str, str]:
    cls_dir = osp.join(out_dir, 'classification')
    return dict(
        out_dir=out_dir,
        train_dir=osp.join(out_dir, 'train'),
        val_dir=osp.join(out_dir, 'val'),
        train_ann=osp.join(out_dir, 'annotations', 'instances_train.json'),
        val_ann=osp.join(out_dir, 'annotations', 'instances_val.json'),
        cls_dir=cls_dir,
        cls_train=osp.join(cls_dir, 'train.txt'),
        cls_val=osp.join(cls_dir, 'val.txt'),
        classes_file=osp.join(cls_dir, 'classes.txt'),
        image_labels_train=osp.join(out_dir, 'annotations', 'image_labels_train.txt'),
        image_labels_val=osp.join(out_dir, 'annotations', 'image_labels_val.txt'),
        meta=osp.join(out_dir, 'meta.json'),
    )


def _result(out_dir: str, meta: Dict[str, Any], generated: bool,
            seconds: float) -> Dict[str, Any]:
    stats = meta['stats']
    return dict(
        _paths(out_dir),
        classes=tuple(meta['classes']),
        num_images={s: stats[s]['images'] for s in SPLITS},
        num_instances={s: stats[s]['instances'] for s in SPLITS},
        num_cls_samples={s: stats[s]['cls_samples'] for s in SPLITS},
        instances_per_category={s: dict(stats[s]['per_category']) for s in SPLITS},
        generated=generated,
        seconds=seconds,
    )


def _write_split(root: str, split: str, args: Dict[str, Any]) -> Dict[str, Any]:
    """Render, save and annotate one split under ``root``; returns its statistics."""
    size, categories = args['image_size'], args['categories']
    num = args[f'num_{split}']
    crop_size = max(32, size // 2)
    img_dir = osp.join(root, split)
    crop_dir = osp.join(root, 'classification', split)
    os.makedirs(img_dir)
    os.makedirs(crop_dir)
    images, annotations, cls_lines = [], [], []
    per_category = {c: 0 for c in categories}
    for index in range(num):
        sample = render_sample(index, split, size, args['seed'], categories,
                               args['min_objects'], args['max_objects'])
        image_id = index + 1
        file_name = f'{image_id:06d}.jpg'
        _save_jpeg(sample.image, osp.join(img_dir, file_name))
        images.append(dict(id=image_id, file_name=file_name, width=size, height=size,
                           background=sample.photo))
        for k, obj in enumerate(sample.objects):
            annotations.append(dict(id=len(annotations) + 1, image_id=image_id,
                                    category_id=obj.label + 1, bbox=obj.bbox,
                                    area=float(obj.area), segmentation=[obj.polygon],
                                    iscrowd=0))
            per_category[obj.category] += 1
            x0, y0, side = _crop_box(obj.bbox, size)
            crop = resize_image(sample.image[y0:y0 + side, x0:x0 + side], crop_size, crop_size)
            crop_name = f'{image_id:06d}_{k}.jpg'
            _save_jpeg(crop, osp.join(crop_dir, crop_name))
            cls_lines.append(f'{split}/{crop_name} {obj.label}\n')
    coco = dict(
        info=dict(description=f'mmdicm embedded shapes dataset, {split} split (a toy set '
                  'for demos and tests, not a benchmark)',
                  version=str(GENERATOR_VERSION), contributor='mmdicm'),
        licenses=[],
        images=images,
        annotations=annotations,
        categories=[dict(id=i + 1, name=c, supercategory='shape')
                    for i, c in enumerate(categories)],
    )
    with open(osp.join(root, 'annotations', f'instances_{split}.json'), 'w',
              encoding='utf-8') as f:
        json.dump(coco, f, separators=(',', ':'))
    with open(osp.join(root, 'classification', f'{split}.txt'), 'w', encoding='utf-8') as f:
        f.writelines(cls_lines)
    write_image_labels(osp.join(root, 'annotations', f'instances_{split}.json'),
                       osp.join(root, 'annotations', f'image_labels_{split}.txt'))
    return dict(images=num, instances=len(annotations), cls_samples=len(cls_lines),
                per_category=per_category)


def image_labels(ann_file: str) -> List[Tuple[str, int]]:
    """``(file_name, label)`` of every image of a COCO json: the category of its largest
    object (by mask area; the first in annotation order on a tie), label = category id - 1.

    The image-level view of the detection images (docs/embedded_data.md): what a classifier
    that reads the same files as the detector is trained and scored on."""
    with open(ann_file, encoding='utf-8') as f:
        coco = json.load(f)
    largest: Dict[int, Tuple[float, int]] = {}
    for ann in coco['annotations']:
        best = largest.get(ann['image_id'])
        if best is None or ann['area'] > best[0]:
            largest[ann['image_id']] = (ann['area'], ann['category_id'] - 1)
    missing = [img['file_name'] for img in coco['images'] if img['id'] not in largest]
    if missing:
        raise ValueError(f'{ann_file}: {len(missing)} image(s) without objects, e.g. '
                         f'{missing[0]}: no image-level label')
    return [(img['file_name'], largest[img['id']][1]) for img in coco['images']]


def write_image_labels(ann_file: str, out_file: str) -> str:
    """Write :func:`image_labels` as mmpretrain's text list (``<file_name> <label>`` per
    line, file names relative to the split's image folder); returns ``out_file``."""
    lines = [f'{name} {label}\n' for name, label in image_labels(ann_file)]
    tmp = out_file + '.tmp'
    with open(tmp, 'w', encoding='utf-8') as f:
        f.writelines(lines)
    os.replace(tmp, out_file)
    return out_file


def _read_meta(path: str) -> Optional[Dict[str, Any]]:
    try:
        with open(path, encoding='utf-8') as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def _is_complete(out_dir: str, meta: Dict[str, Any]) -> bool:
    """Whether every file ``meta`` describes is present (cheap: counts, no reading)."""
    paths = _paths(out_dir)
    if not all(osp.isfile(paths[k])
               for k in ('train_ann', 'val_ann', 'cls_train', 'cls_val', 'classes_file')):
        return False
    try:
        for split in SPLITS:
            stats = meta['stats'][split]
            if len(os.listdir(osp.join(out_dir, split))) != stats['images']:
                return False
            if len(os.listdir(osp.join(out_dir, 'classification', split))) != \
                    stats['cls_samples']:
                return False
    except (OSError, KeyError, TypeError):
        return False
    return True


def generate_embedded_dataset(out_dir: Union[str, 'os.PathLike[str]'],
                              num_train: int = 400,
                              num_val: int = 100,
                              image_size: int = 256,
                              seed: int = 0,
                              categories: Sequence[str] = DEFAULT_CATEGORIES,
                              min_objects: int = 1,
                              max_objects: int = 4,
                              overwrite: bool = False) -> Dict[str, Any]:
    """Write the embedded dataset (what and where: docs/embedded_data.md).

    Idempotent: if ``out_dir/meta.json`` records the same generator version and arguments
    and the files are all there, nothing is written and the call returns at once
    (``generated=False``) -- except the image-level label lists, derived from the COCO
    jsons, which are added to a dataset written before they existed. The dataset is built
    in a temporary sibling directory and moved into place at the end, ``meta.json`` last,
    so an interrupted run leaves no half-written dataset behind.

    Args:
        out_dir (str | os.PathLike): Output directory (created if missing).
        num_train (int): Number of training images. Defaults to 400.
        num_val (int): Number of validation images. Defaults to 100.
        image_size (int): Side of the square images, 32..4096. Defaults to 256.
        seed (int): Non-negative seed; the output is a pure function of the arguments.
            Defaults to 0.
        categories (Sequence[str]): Shape names from :data:`SUPPORTED_SHAPES`, in label
            order. Defaults to :data:`DEFAULT_CATEGORIES`.
        min_objects (int): Fewest objects per image (1..10). Defaults to 1.
        max_objects (int): Most objects per image (min_objects..10). Defaults to 4.
        overwrite (bool): Regenerate even if ``out_dir`` already holds a dataset (with any
            arguments). Only the entries this function writes (``train/``, ``val/``,
            ``annotations/``, ``classification/``, ``meta.json``) are replaced; other files
            in ``out_dir`` are left alone. Defaults to False.

    Returns:
        dict: Paths (``out_dir``, ``train_dir``, ``val_dir``, ``train_ann``, ``val_ann``,
        ``cls_dir``, ``cls_train``, ``cls_val``, ``classes_file``, ``image_labels_train``,
        ``image_labels_val``, ``meta``), ``classes``
        (tuple), per-split counts (``num_images``, ``num_instances``, ``num_cls_samples``,
        ``instances_per_category``), ``generated`` (False if an identical dataset was
        already there) and ``seconds`` (wall time of this call).

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If an argument is out of range (the message names it).
        FileExistsError: If ``out_dir`` is not empty and does not hold this very dataset
            (other arguments, another generator version, foreign or incomplete content)
            and ``overwrite`` is False.
        NotADirectoryError: If ``out_dir`` exists and is not a directory.
    """
    start = time.perf_counter()
    if not isinstance(out_dir, (str, os.PathLike)):
        raise TypeError(f'out_dir must be a str or os.PathLike, got {type(out_dir).__name__}')
    out_dir = osp.abspath(os.fspath(out_dir))
    if not isinstance(overwrite, bool):
        raise TypeError(f'overwrite must be a bool, got {type(overwrite).__name__}')
    args = check_args(num_train, num_val, image_size, seed, categories, min_objects,
                      max_objects)
    if osp.exists(out_dir) and not osp.isdir(out_dir):
        raise NotADirectoryError(f'out_dir {out_dir} exists and is not a directory')
    if osp.isdir(out_dir) and os.listdir(out_dir) and not overwrite:
        meta = _existing_dataset(out_dir, args)
        _add_image_labels(out_dir)
        return _result(out_dir, meta, generated=False, seconds=time.perf_counter() - start)
    meta = _write_dataset(out_dir, args)
    return _result(out_dir, meta, generated=True, seconds=time.perf_counter() - start)


def _add_image_labels(out_dir: str) -> None:
    """The image-level label lists of a dataset written before they existed (derived from
    its COCO jsons alone: the images and ``meta.json`` stay as they are)."""
    paths = _paths(out_dir)
    for split in SPLITS:
        if not osp.isfile(paths[f'image_labels_{split}']):
            write_image_labels(paths[f'{split}_ann'], paths[f'image_labels_{split}'])


def _existing_dataset(out_dir: str, args: Dict[str, Any]) -> Dict[str, Any]:
    """The ``meta.json`` of the complete dataset with ``args`` in ``out_dir``, else a
    ``FileExistsError`` saying what is there instead."""
    meta = _read_meta(osp.join(out_dir, 'meta.json'))
    if meta is None or meta.get('generator') != GENERATOR:
        raise FileExistsError(
            f'out_dir {out_dir} is not empty and holds no embedded dataset (no valid '
            'meta.json); choose another directory or pass overwrite=True (CLI: --force)')
    old_args = dict(meta.get('args') or {}, generator_version=meta.get('generator_version'))
    new_args = dict(args, generator_version=GENERATOR_VERSION)
    diff = [f'{k}: {old_args.get(k)!r} there, {v!r} asked' for k, v in new_args.items()
            if old_args.get(k) != v]
    if diff:
        raise FileExistsError(
            f'out_dir {out_dir} already holds an embedded dataset made with other '
            f'arguments ({"; ".join(diff)}); pass overwrite=True (CLI: --force) to '
            'regenerate it, or choose another directory')
    if not _is_complete(out_dir, meta):
        raise FileExistsError(
            f'out_dir {out_dir} holds an incomplete embedded dataset (files missing); '
            'pass overwrite=True (CLI: --force) to regenerate it')
    return meta


def _write_dataset(out_dir: str, args: Dict[str, Any]) -> Dict[str, Any]:
    """Build the dataset in a temporary sibling folder, then move it into ``out_dir``
    (``meta.json`` last: it marks a complete dataset); its ``meta.json``."""
    parent = osp.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f'.{osp.basename(out_dir)}.tmp-', dir=parent)
    try:
        os.makedirs(osp.join(tmp, 'annotations'))
        stats = {split: _write_split(tmp, split, args) for split in SPLITS}
        with open(osp.join(tmp, 'classification', 'classes.txt'), 'w',
                  encoding='utf-8') as f:
            f.writelines(f'{c}\n' for c in args['categories'])
        meta = dict(
            generator=GENERATOR,
            generator_version=GENERATOR_VERSION,
            args=args,
            classes=args['categories'],
            classification_crop_size=max(32, args['image_size'] // 2),
            stats=stats,
            photos=PHOTOS,
            note='Synthetic shapes on skimage.data photos for demos and tests; not a '
            'benchmark.',
        )
        with open(osp.join(tmp, 'meta.json'), 'w', encoding='utf-8') as f:
            json.dump(meta, f, indent=1)
            f.write('\n')
        os.makedirs(out_dir, exist_ok=True)
        old_meta = osp.join(out_dir, 'meta.json')
        if osp.lexists(old_meta):  # first: a half-replaced dataset must not look complete
            os.remove(old_meta)
        for name in OUTPUTS:  # meta.json last: it marks a complete dataset
            dst = osp.join(out_dir, name)
            if osp.isdir(dst) and not osp.islink(dst):
                shutil.rmtree(dst)
            elif osp.lexists(dst):
                os.remove(dst)
            os.replace(osp.join(tmp, name), dst)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return meta
