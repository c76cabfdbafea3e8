"""Statistics of a split as a codec sees them (COCO size classes, crowding, classes,
occlusion), computed from its COCO json, and their printed table."""
import json
from typing import Any, Dict, Mapping, Optional

import numpy as np

from .coco_like import COCO_SIZE_SHARES, SIZE_CLASSES, size_class


def split_statistics(ann_file: str, occlusion: Optional[Mapping[str, float]] = None
                     ) -> Dict[str, Any]:
    """Statistics of one COCO json: ``images``, ``instances``, ``objects_per_image``
    (mean/min/max), ``size_shares`` (small/medium/large by COCO's thresholds relative to
    each image's area, :func:`~.coco_like.size_class`), ``per_category`` (counts, in
    category order) and ``occlusion`` (passed through: the json alone cannot tell)."""
    with open(ann_file, encoding='utf-8') as f:
        coco = json.load(f)
    image_area = {img['id']: img['width'] * img['height'] for img in coco['images']}
    names = {c['id']: c['name'] for c in coco['categories']}
    per_image = {i: 0 for i in image_area}
    per_category = {names[c['id']]: 0 for c in coco['categories']}
    sizes = {s: 0 for s in SIZE_CLASSES}
    for ann in coco['annotations']:
        per_image[ann['image_id']] += 1
        per_category[names[ann['category_id']]] += 1
        sizes[size_class(ann['area'], image_area[ann['image_id']])] += 1
    counts = np.array(list(per_image.values()))
    total = max(1, len(coco['annotations']))
    return dict(
        images=len(coco['images']),
        instances=len(coco['annotations']),
        objects_per_image=dict(mean=float(counts.mean()), min=int(counts.min()),
                               max=int(counts.max())),
        size_shares={s: n / total for s, n in sizes.items()},
        per_category=per_category,
        occlusion=dict(occlusion or dict(occluded_share=0.0, mean_occluded=0.0)),
    )


def occlusion_summary(occluded: np.ndarray) -> Dict[str, float]:
    """``occluded_share`` (instances partly hidden by a later object) and ``mean_occluded``
    (their mean hidden fraction of the outline) from per-instance hidden fractions."""
    occluded = np.asarray(occluded, dtype=float)
    hit = occluded[occluded > 0]
    return dict(occluded_share=float(hit.size / max(1, occluded.size)),
                mean_occluded=float(hit.mean()) if hit.size else 0.0)


def format_statistics(stats: Mapping[str, Mapping[str, Any]]) -> str:
    """The per-split statistics (``{split: split_statistics(...)}``) as a text table, with
    COCO 2017's size shares for reference."""
    splits = list(stats)
    rows = [('', *splits, 'COCO 2017')]
    rows.append(('images', *(str(stats[s]['images']) for s in splits), ''))
    rows.append(('instances', *(str(stats[s]['instances']) for s in splits), ''))
    rows.append(('objects / image (mean)',
                 *(f"{stats[s]['objects_per_image']['mean']:.2f}" for s in splits), '7.3'))
    rows.append(('objects / image (min-max)',
                 *(f"{stats[s]['objects_per_image']['min']}-"
                   f"{stats[s]['objects_per_image']['max']}" for s in splits), ''))
    for name, coco_share in zip(SIZE_CLASSES, COCO_SIZE_SHARES):
        rows.append((f'{name} (share of instances)',
                     *(f"{100 * stats[s]['size_shares'][name]:.1f} %" for s in splits),
                     f'{100 * coco_share:.0f} %'))
    rows.append(('occluded instances',
                 *(f"{100 * stats[s]['occlusion']['occluded_share']:.1f} %" for s in splits),
                 ''))
    rows.append(('hidden part of those (mean)',
                 *(f"{100 * stats[s]['occlusion']['mean_occluded']:.1f} %" for s in splits),
                 ''))
    for cat in stats[splits[0]]['per_category']:
        rows.append((f'class {cat}', *(str(stats[s]['per_category'][cat]) for s in splits), ''))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ['  '.join(c.ljust(w) if i == 0 else c.rjust(w)
                       for i, (c, w) in enumerate(zip(r, widths))).rstrip() for r in rows]
    return '\n'.join(lines)
