"""A task model on pixel codecs' decoded images, as the rate sweep's pixel-codec points
(``with_pixel_codec`` + ``runs.test``), without the sweep's other phases (issue 17).

What measured the region classifier's JPEG and VVC-intra points in this folder's README::

    .venv/bin/python docs/results/coco-like/1x/pixel_points.py \
        configs/sweep/fast-rcnn_r18_coco-like_region-cls.py <its iter_3000.pth> \
        work_dirs/cls_judge/region_points.json 100 jpeg vvc

Arguments: config, checkpoint, the points' json (cached per point: a rerun resumes), the
number of val images, codecs (default: all five). Its metric: ``region/top1`` for a region
config, else ``accuracy/top1``.
"""
import copy
import json
import os.path as osp
import sys
import time

from mmengine.config import Config

import mmdicm  # noqa: F401
from mmdicm.apis.rate_sweep import runs
from mmdicm.apis.rate_sweep.configs import with_pixel_codec
from mmdicm.apis.rate_sweep.tasks import DEFAULT_QUALITIES

cfg_path, ckpt, out, val_images = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
KEY = 'region/top1' if 'region' in cfg_path else 'accuracy/top1'
codecs = sys.argv[5:] or ['jpeg', 'webp', 'avif', 'hevc', 'vvc']
points = json.load(open(out)) if osp.isfile(out) else {}
base = Config.fromfile(cfg_path)
for codec in ['uncompressed'] + codecs:
    for q in ([None] if codec == 'uncompressed' else DEFAULT_QUALITIES[codec]):
        key = f'{codec}@{q}'
        if key in points:
            continue
        t0 = time.perf_counter()
        cfg = copy.deepcopy(base) if q is None else with_pixel_codec(base, codec, q)
        cfg.work_dir = osp.join(osp.dirname(out), 'pixel', key.replace('@', '_'))
        cfg.load_from = ckpt
        m = runs.test(cfg, val_images)
        points[key] = dict(top1=m[KEY], bpp=m.get('codec/bpp'),
                           seconds=time.perf_counter() - t0)
        print(f'[points] {key}: top-1 {points[key]["top1"]:.1f} at {points[key]["bpp"]} bpp '
              f'({points[key]["seconds"]:.0f} s)', flush=True)
        json.dump(points, open(out, 'w'), indent=1)
