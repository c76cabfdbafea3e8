"""The edge's inputs: images of a folder or of a COCO json, and the check that each one is a
complete, decodable image big enough to code."""
from __future__ import annotations

import json
import math
import os
import os.path as osp
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from .manifest import CONTAINER_SUFFIX
from .model import DeployError

__all__ = ['IMAGE_EXTENSIONS', 'ImageFileError', 'ImageRecord', 'ImageSet', 'check_image_file',
           'find_images']


#: Image files :func:`find_images` picks up in a folder (case-insensitive).
IMAGE_EXTENSIONS = ('.bmp', '.jpeg', '.jpg', '.png', '.tif', '.tiff', '.webp')


@dataclass(frozen=True)
class ImageRecord:
    """One input image: its file, its id (COCO id, or position in the folder) and the stem
    of its outputs (``<name>.dicm``)."""

    path: str
    img_id: int
    name: str
    #: its ground-truth ``[x, y, w, h]`` boxes (a COCO json input), for the bit map's
    #: in-box share; None for a folder input
    boxes: Optional[Tuple[Tuple[float, ...], ...]] = None
    #: each box's COCO ``area`` (original pixels; the box's w * h where the annotation has
    #: none), for the bit map's density by COCO's object-size classes
    areas: Optional[Tuple[float, ...]] = None


@dataclass
class ImageSet:
    """What :func:`find_images` found."""

    records: List[ImageRecord]
    source: Dict[str, Any]
    categories: Optional[List[Dict[str, Any]]] = None


def _area(area: Any, box: Any) -> float:
    """A COCO annotation's ``area`` if it is a positive finite number, else its box's."""
    try:
        value = float(area)
    except (TypeError, ValueError):
        value = math.nan
    return value if math.isfinite(value) and value > 0 else float(box[2]) * float(box[3])


def _valid_box(box: Any) -> bool:
    """A COCO ``[x, y, w, h]`` of finite numbers with w, h > 0."""
    if not isinstance(box, (list, tuple)) or len(box) != 4:
        return False
    try:
        x, y, w, h = (float(v) for v in box)
    except (TypeError, ValueError):
        return False
    return all(math.isfinite(v) for v in (x, y, w, h)) and w > 0 and h > 0


def find_images(input_path: str, img_prefix: Optional[str] = None) -> ImageSet:
    """The images of a folder (sorted by name, ids 0, 1, ...) or of a COCO json.

    Args:
        input_path (str): A folder of images (not recursive; :data:`IMAGE_EXTENSIONS`) or a
            COCO annotation file (its ``images[].file_name`` and ``id``).
        img_prefix (str, optional): Folder the COCO ``file_name`` entries are relative to.
            Defaults to the json's folder. Not allowed with a folder input.

    Raises:
        DeployError: Nothing found, unreadable json, missing image files, two images with the
            same output name.
    """
    if osp.isdir(input_path):
        if img_prefix is not None:
            raise DeployError('--img-prefix only applies to a COCO json INPUT, not a folder')
        names = sorted(n for n in os.listdir(input_path)
                       if n.lower().endswith(IMAGE_EXTENSIONS)
                       and osp.isfile(osp.join(input_path, n)))
        if not names:
            raise DeployError(f'no image files ({", ".join(IMAGE_EXTENSIONS)}) in {input_path}')
        records = [ImageRecord(osp.join(input_path, n), i, osp.splitext(n)[0])
                   for i, n in enumerate(names)]
        image_set = ImageSet(records, dict(type='folder', path=input_path, img_prefix=None))
    elif osp.isfile(input_path):
        try:
            with open(input_path, encoding='utf-8') as f:
                coco = json.load(f)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise DeployError(f'cannot read {input_path} as a COCO json: {e}') from e
        images = coco.get('images') if isinstance(coco, dict) else None
        if not isinstance(images, list) or not images:
            raise DeployError(f'{input_path} is neither a folder nor a COCO json with an '
                              "'images' list")
        prefix = osp.dirname(input_path) if img_prefix is None else img_prefix
        if not osp.isdir(prefix):
            raise DeployError(f'image prefix is not a folder: {prefix}')
        boxes: Dict[int, List[Tuple[float, ...]]] = {}
        areas: Dict[int, List[float]] = {}
        for ann in coco.get('annotations') or []:  # for the bit map's in-box share only:
            box = ann.get('bbox') if isinstance(ann, dict) else None  # a bad box is skipped,
            if _valid_box(box) and 'image_id' in ann:  # it must not stop the coding
                boxes.setdefault(ann['image_id'], []).append(tuple(float(v) for v in box))
                areas.setdefault(ann['image_id'], []).append(_area(ann.get('area'), box))
        records = []
        for i, img in enumerate(images):
            if not isinstance(img, dict) or 'file_name' not in img or 'id' not in img:
                raise DeployError(f'{input_path}: images[{i}] lacks file_name or id')
            path = osp.join(prefix, img['file_name'])
            records.append(ImageRecord(path, int(img['id']),
                                       osp.splitext(osp.basename(img['file_name']))[0],
                                       tuple(boxes.get(img['id'], ())),
                                       tuple(areas.get(img['id'], ()))))
        records.sort(key=lambda r: (r.img_id, r.path))
        missing = [r.path for r in records if not osp.isfile(r.path)]
        if missing:
            raise DeployError(f'{len(missing)} image files of {input_path} not found '
                              f'(e.g. {missing[0]}); set --img-prefix')
        categories = [dict(id=c['id'], name=c['name']) for c in coco.get('categories', [])
                      if isinstance(c, dict) and 'id' in c and 'name' in c]
        image_set = ImageSet(records, dict(type='coco', path=input_path, img_prefix=prefix),
                             categories or None)
    else:
        raise DeployError(f'input not found: {input_path}')
    seen: Dict[str, str] = {}
    for r in image_set.records:
        if r.name in seen:
            raise DeployError(f'{seen[r.name]} and {r.path} would both be written as '
                              f'{r.name}{CONTAINER_SUFFIX}')
        seen[r.name] = r.path
    return image_set


class ImageFileError(ValueError):
    """An input image that cannot be coded: what is wrong with it, in one line."""


#: leading bytes of the formats in :data:`IMAGE_EXTENSIONS` (named when Pillow cannot open
#: the file at all, e.g. a JPEG cut inside its header)
_MAGIC = ((b'\xff\xd8\xff', 'JPEG'), (b'\x89PNG\r\n\x1a\n', 'PNG'), (b'BM', 'BMP'),
          (b'II*\x00', 'TIFF'), (b'MM\x00*', 'TIFF'), (b'RIFF', 'WEBP'))


def _magic_format(path: str) -> Optional[str]:
    with open(path, 'rb') as f:
        head = f.read(12)
    for magic, name in _MAGIC:
        if head.startswith(magic) and (name != 'WEBP' or head[8:12] == b'WEBP'):
            return name
    return None


def check_image_file(path: str, min_side: int = 1) -> Tuple[int, int]:
    """``(height, width)`` of a complete, decodable image file with both sides ``>= min_side``.

    The whole image is decoded once with Pillow, so a truncated file is caught here (OpenCV,
    which the pipeline reads with, decodes a JPEG cut in its scan data into a grey bottom
    without an error, and one cut in its header into ``None``: mmcv then fails with
    ``failed to load image``; an empty file trips OpenCV's ``!buf.empty()`` assertion).

    Raises:
        ImageFileError: ``empty file (0 bytes)``, ``not an image ...``, ``truncated or
            corrupt JPEG ...``, or ``image is 1x1 px ...`` (below ``min_side``).
    """
    from PIL import Image, UnidentifiedImageError
    try:
        size = osp.getsize(path)
    except OSError as e:
        raise ImageFileError(f'cannot read the file: {e.strerror or e}') from None
    if size == 0:
        raise ImageFileError('empty file (0 bytes)')
    fmt = None
    try:
        with Image.open(path) as image:
            fmt, (width, height) = image.format, image.size
            image.load()  # decodes everything: truncation shows here
    except UnidentifiedImageError:
        raise ImageFileError(f'not an image: no image format recognised in its {size} '
                             'bytes') from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        detail = (str(e).strip().splitlines() or [type(e).__name__])[0]
        fmt = fmt or _magic_format(path) or 'image'
        raise ImageFileError(f'truncated or corrupt {fmt} file ({size} bytes): '
                             f'{detail}') from None
    if min(height, width) < min_side:
        raise ImageFileError(
            f'image is {width}x{height} px (width x height), below the minimum side of '
            f'{min_side} px (the codec\'s stride): not coded, the test pipeline would '
            'upscale it (--min-side 0 codes it anyway)')
    return height, width
