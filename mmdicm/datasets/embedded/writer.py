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
from pycocotools import mask as mask_utils

from .coco_like import COCO_LIKE_VERSION, check_coco_like_args, render_coco_like_sample
from .render import resize_image, render_sample
from .spec import (CROP_CONTEXT, DEFAULT_PRESET, GENERATOR, GENERATOR_VERSION, JPEG_QUALITY,
                   OUTPUTS, PHOTOS, PRESETS, SPLITS, EmbeddedObject, EmbeddedSample,
                   check_args)
from .statistics import occlusion_summary, split_statistics


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
    paths = _paths(out_dir)
    return dict(
        paths,
        preset=meta['args'].get('preset', 'default'),
        statistics={s: split_statistics(paths[f'{s}_ann'], stats[s].get('occlusion'))
                    for s in SPLITS},
        classes=tuple(meta['classes']),
        num_images={s: stats[s]['images'] for s in SPLITS},
        num_instances={s: stats[s]['instances'] for s in SPLITS},
        num_cls_samples={s: stats[s]['cls_samples'] for s in SPLITS},
        instances_per_category={s: dict(stats[s]['per_category']) for s in SPLITS},
        generated=generated,
        seconds=seconds,
    )


def _render(index: int, split: str, args: Dict[str, Any]) -> EmbeddedSample:
    render = render_coco_like_sample if args.get('preset') == 'coco-like' else render_sample
    return render(index, split, args['image_size'], args['seed'], args['categories'],
                  args['min_objects'], args['max_objects'])


def _segmentation(obj: EmbeddedObject, coco_like: bool) -> Any:
    """The default preset's polygon (the whole object is visible), or the coco-like preset's
    compressed RLE of the visible region (occlusion leaves holes no polygon list can draw)."""
    if not coco_like:
        return [obj.polygon]
    rle = mask_utils.encode(np.asfortranarray(obj.mask.astype(np.uint8)))
    return dict(size=[int(v) for v in rle['size']], counts=rle['counts'].decode('ascii'))


def _write_split(root: str, split: str, args: Dict[str, Any]) -> Dict[str, Any]:
    """Render, save and annotate one split under ``root``; returns its statistics."""
    size, categories = args['image_size'], args['categories']
    coco_like = args.get('preset') == 'coco-like'
    occluded, clutter = [], 0
    num = args[f'num_{split}']
    crop_size = max(32, size // 2)
    img_dir = osp.join(root, split)
    crop_dir = osp.join(root, 'classification', split)
    os.makedirs(img_dir)
    os.makedirs(crop_dir)
    images, annotations, cls_lines = [], [], []
    per_category = {c: 0 for c in categories}
    for index in range(num):
        sample = _render(index, split, args)
        clutter += sample.clutter
        image_id = index + 1
        file_name = f'{image_id:06d}.jpg'
        _save_jpeg(sample.image, osp.join(img_dir, file_name))
        images.append(dict(id=image_id, file_name=file_name, width=size, height=size,
                           background=sample.photo))
        for k, obj in enumerate(sample.objects):
            annotations.append(dict(id=len(annotations) + 1, image_id=image_id,
                                    category_id=obj.label + 1, bbox=obj.bbox,
                                    area=float(obj.area),
                                    segmentation=_segmentation(obj, coco_like), iscrowd=0))
            per_category[obj.category] += 1
            occluded.append(obj.occluded)
            x0, y0, side = _crop_box(obj.bbox, size)
            crop = resize_image(sample.image[y0:y0 + side, x0:x0 + side], crop_size, crop_size)
            crop_name = f'{image_id:06d}_{k}.jpg'
            _save_jpeg(crop, osp.join(crop_dir, crop_name))
            cls_lines.append(f'{split}/{crop_name} {obj.label}\n')
    description = (f'mmdicm embedded shapes dataset, {split} split (a toy set for demos and '
                   'tests, not a benchmark)')
    if coco_like:
        description = (f'mmdicm embedded shapes dataset, coco-like preset, {split} split '
                       '(COCO 2017 size spread, crowding and occlusion on synthetic shapes)')
    coco = dict(
        info=dict(description=description, version=str(GENERATOR_VERSION),
                  contributor='mmdicm'),
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
    stats = dict(images=num, instances=len(annotations), cls_samples=len(cls_lines),
                 per_category=per_category)
    if coco_like:  # the default preset's meta.json stays as it was
        stats.update(occlusion=occlusion_summary(np.asarray(occluded)),
                     clutter_per_image=clutter / num)
    return stats


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


def _check_args(preset: Any, num_train: Any, num_val: Any, image_size: Any, seed: Any,
                categories: Any, min_objects: Any, max_objects: Any) -> Dict[str, Any]:
    """The validated ``args`` of ``meta.json`` for ``preset`` (None: the preset's default).
    The default preset's carry no ``preset`` key: its ``meta.json`` is as it always was."""
    if not isinstance(preset, str) or preset not in PRESETS:
        raise ValueError(f'preset must be one of {list(PRESETS)}, got {preset!r}')
    if preset == 'coco-like':
        return check_coco_like_args(num_train, num_val, image_size, seed, categories,
                                    min_objects, max_objects)
    given = dict(num_train=num_train, num_val=num_val, image_size=image_size,
                 categories=categories, min_objects=min_objects, max_objects=max_objects)
    a = {k: DEFAULT_PRESET[k] if v is None else v for k, v in given.items()}
    return check_args(a['num_train'], a['num_val'], a['image_size'], seed, a['categories'],
                      a['min_objects'], a['max_objects'])


def generate_embedded_dataset(out_dir: Union[str, 'os.PathLike[str]'],
                              num_train: Optional[int] = None,
                              num_val: Optional[int] = None,
                              image_size: Optional[int] = None,
                              seed: int = 0,
                              categories: Optional[Sequence[str]] = None,
                              min_objects: Optional[int] = None,
                              max_objects: Optional[int] = None,
                              overwrite: bool = False,
                              preset: str = 'default') -> Dict[str, Any]:
    """Write the embedded dataset (what and where: docs/embedded_data.md).

    Idempotent: if ``out_dir/meta.json`` records the same generator version and arguments
    and the files are all there, nothing is written and the call returns at once
    (``generated=False``) -- except the image-level label lists, derived from the COCO
    jsons, which are added to a dataset written before they existed. The dataset is built
    in a temporary sibling directory and moved into place at the end, ``meta.json`` last,
    so an interrupted run leaves no half-written dataset behind.

    Args (None: the preset's default, ``'default'`` / ``'coco-like'``):
        out_dir (str | os.PathLike): Output directory (created if missing).
        num_train (int, optional): Number of training images. 400 / 1000.
        num_val (int, optional): Number of validation images. 100 / 200.
        image_size (int, optional): Side of the square images, 32..4096 / 160..4096. 256.
        seed (int): Non-negative seed; the output is a pure function of the arguments.
            Defaults to 0.
        categories (Sequence[str], optional): Class names in label order, from
            :data:`SUPPORTED_SHAPES` / :data:`~.coco_like.COCO_LIKE_CATEGORIES`. All of
            :data:`DEFAULT_CATEGORIES` / :data:`~.coco_like.COCO_LIKE_CATEGORIES`.
        min_objects (int, optional): Fewest objects per image (1..10 / 1..30). 1 / 3.
        max_objects (int, optional): Most objects per image (min_objects..10 / ..30). 4 / 12.
        overwrite (bool): Regenerate even if ``out_dir`` already holds a dataset (with any
            arguments). Only the entries this function writes (``train/``, ``val/``,
            ``annotations/``, ``classification/``, ``meta.json``) are replaced; other files
            in ``out_dir`` are left alone. Defaults to False.
        preset (str): ``'default'`` (today's toy split: few large, fully visible shapes) or
            ``'coco-like'`` (COCO 2017's size spread, crowding and occlusion at low contrast,
            visible-region RLE masks; docs/embedded_data.md). Defaults to ``'default'``.

    Returns:
        dict: Paths (``out_dir``, ``train_dir``, ``val_dir``, ``train_ann``, ``val_ann``,
        ``cls_dir``, ``cls_train``, ``cls_val``, ``classes_file``, ``image_labels_train``,
        ``image_labels_val``, ``meta``), ``classes``
        (tuple), per-split counts (``num_images``, ``num_instances``, ``num_cls_samples``,
        ``instances_per_category``), ``preset``, ``statistics`` (per split:
        :func:`~.statistics.split_statistics`; print with
        :func:`~.statistics.format_statistics`), ``generated`` (False if an identical
        dataset was already there) and ``seconds`` (wall time of this call).

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
    args = _check_args(preset, num_train, num_val, image_size, seed, categories,
                       min_objects, max_objects)
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
    old_args = dict(meta.get('args') or {}, generator_version=meta.get('generator_version'),
                    coco_like_version=meta.get('coco_like_version'))
    old_args.setdefault('preset', 'default')
    new_args = dict(args, generator_version=GENERATOR_VERSION,
                    coco_like_version=_preset_version(args))
    new_args.setdefault('preset', 'default')
    diff = [f'{k}: {old_args.get(k)!r} there, {new_args.get(k)!r} asked'
            for k in sorted(set(old_args) | set(new_args)) if old_args.get(k) != new_args.get(k)]
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


def _preset_version(args: Dict[str, Any]) -> Optional[int]:
    return COCO_LIKE_VERSION if args.get('preset') == 'coco-like' else None


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
        if args.get('preset') == 'coco-like':
            meta.update(coco_like_version=COCO_LIKE_VERSION,
                        note='COCO-like split: COCO 2017 size spread, crowding and occlusion '
                        'on synthetic low-contrast shapes over skimage.data photos '
                        '(docs/embedded_data.md).')
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
