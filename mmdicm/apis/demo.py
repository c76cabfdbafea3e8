"""``make demo``: DICM Mask R-CNN trained on CPU on the embedded data, untrained vs trained.

The main job on a fresh machine, end to end and offline:

1. generate the embedded shapes dataset (:mod:`mmdicm.datasets.embedded`; skipped when it is
   already there with the same arguments);
2. evaluate the demo model *untrained* (freshly initialised, same seed) on the val split with
   real coding: bbox/segm mAP on features decoded from real bitstreams, and the measured bpp;
3. train it (:data:`DEMO_CONFIG`: R-18, slim heads, 256 px, a few CPU minutes);
4. evaluate the trained model the same way, keeping one container file per val image;
5. print both rows and where the checkpoint, logs and bitstreams went.

It is a smoke-and-learning check, not a benchmark: a few hundred iterations from scratch on a
toy dataset. :func:`run_demo` returns the numbers; ``tools/demo.py`` is its command line and
exits non-zero when the trained model is not better than the untrained one.
"""
import copy
import functools
import glob
import os
import os.path as osp
import time
from typing import Any, Callable, Dict, Optional

from mmengine.config import Config

from ..datasets import generate_embedded_dataset
from .launch import build_runner, prepare_config

__all__ = ['DEMO_CONFIG', 'DEMO_METRICS', 'format_summary', 'learned', 'run_demo']

#: The demo's config, relative to the repository root (``configs/`` ships with the package
#: as ``mmdicm/.mim/configs/dicm``, so this also works from a wheel).
DEMO_CONFIG = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), '.mim', 'configs',
                       'dicm', 'demo', 'mask-rcnn_dicm_r18_embedded.py')

#: (result key, column title) of the summary table
DEMO_METRICS = (('coco/bbox_mAP', 'bbox mAP'), ('coco/bbox_mAP_50', 'bbox mAP50'),
                ('coco/segm_mAP', 'segm mAP'), ('coco/segm_mAP_50', 'segm mAP50'),
                ('dicm/bpp', 'bpp (real bytes)'))

BITSTREAM_DIR = 'bitstreams'


def _data_options(data_root: str) -> Dict[str, Any]:
    """--cfg-options pointing the demo config at ``data_root``."""
    root = data_root.rstrip('/') + '/'
    ann = root + 'annotations/instances_val.json'
    opts: Dict[str, Any] = {f'{split}_dataloader.dataset.data_root': root
                            for split in ('train', 'val', 'test')}
    opts.update({'val_evaluator.0.ann_file': ann, 'test_evaluator.0.ann_file': ann})
    return opts


def _bitstream_hook(cfg: Config) -> dict:
    for hook in cfg.custom_hooks:
        if hook['type'] == 'BitstreamRecordHook':
            return hook
    raise ValueError(f'{cfg.filename}: the demo needs BitstreamRecordHook in custom_hooks')


def run_demo(work_dir: str = 'work_dirs/demo',
             data_root: str = 'data/embedded',
             config: str = DEMO_CONFIG,
             max_iters: Optional[int] = None,
             num_train: int = 400,
             num_val: int = 100,
             image_size: int = 256,
             cfg_options: Optional[Dict[str, Any]] = None,
             log: Optional[Callable[[str], None]] = None) -> Dict[str, Any]:
    """Generate data, evaluate untrained, train, evaluate trained (see the module docstring).

    Args:
        work_dir (str): Where checkpoints, logs and bitstreams go (``untrained/`` holds the
            untrained evaluation's logs).
        data_root (str): Where the embedded dataset is (generated if missing).
        config (str): The demo config. Defaults to :data:`DEMO_CONFIG`.
        max_iters (int, optional): Training iterations; default the config's.
        num_train (int): Training images generated. Defaults to 400.
        num_val (int): Validation images generated. Defaults to 100.
        image_size (int): Side of the generated images. Defaults to 256.
        cfg_options (dict, optional): More config overrides (``--cfg-options``).
        log (callable, optional): Progress messages. Defaults to ``print`` (flushed, so
            they interleave with mmengine's log lines when redirected).

    Returns:
        dict: ``untrained`` and ``trained`` metric dicts (mmdet/mmdicm keys), ``iters``,
        ``checkpoint``, ``log_dir``, ``bitstreams`` (folder), ``num_bitstreams``,
        ``seconds`` (per step).
    """
    if log is None:
        log = functools.partial(print, flush=True)
    seconds: Dict[str, float] = {}
    t0 = time.perf_counter()
    log(f'[demo] 1/4 embedded dataset in {data_root} '
        f'({num_train} train + {num_val} val images, {image_size} px)')
    generate_embedded_dataset(data_root, num_train=num_train, num_val=num_val,
                              image_size=image_size, seed=0)
    seconds['data'] = time.perf_counter() - t0

    options = _data_options(data_root)
    options['randomness'] = dict(seed=0)
    if max_iters is not None:
        options.update({'train_cfg.max_iters': max_iters,
                        'default_hooks.checkpoint.interval': max_iters})
    options.update(cfg_options or {})
    cfg = prepare_config(config, work_dir=work_dir, cfg_options=options)
    iters = cfg.train_cfg.max_iters
    # evaluation happens below, once, with the test loop: no val pass inside training
    cfg.train_cfg.val_interval = iters + 1
    _bitstream_hook(cfg)['out_dir'] = BITSTREAM_DIR

    t0 = time.perf_counter()
    log('[demo] 2/4 evaluating the untrained model (real bitstreams)')
    untrained_cfg = copy.deepcopy(cfg)
    untrained_cfg.work_dir = osp.join(cfg.work_dir, 'untrained')
    _bitstream_hook(untrained_cfg)['out_dir'] = None
    untrained_cfg.experiment_name = f'demo-untrained-{time.strftime("%Y%m%d_%H%M%S")}'
    runner = build_runner(untrained_cfg)
    runner.model.init_weights()  # what training starts from (same seed)
    untrained = dict(runner.test())
    seconds['untrained_eval'] = time.perf_counter() - t0

    t0 = time.perf_counter()
    log(f'[demo] 3/4 training for {iters} iterations (CPU)')
    cfg.experiment_name = f'demo-{time.strftime("%Y%m%d_%H%M%S")}'
    runner = build_runner(cfg)
    runner.train()
    seconds['train'] = time.perf_counter() - t0

    t0 = time.perf_counter()
    log('[demo] 4/4 evaluating the trained model (real bitstreams)')
    trained = dict(runner.test())
    seconds['trained_eval'] = time.perf_counter() - t0

    bitstreams = osp.join(cfg.work_dir, BITSTREAM_DIR)
    return dict(untrained=untrained, trained=trained, iters=iters,
                checkpoint=osp.join(cfg.work_dir, f'iter_{iters}.pth'),
                log_dir=runner.log_dir, bitstreams=bitstreams,
                num_bitstreams=len(glob.glob(osp.join(bitstreams, '*.dicm'))),
                seconds=seconds)


def learned(result: Dict[str, Any], key: str = 'coco/bbox_mAP') -> bool:
    """Whether the trained model beats the untrained one on ``key`` (missing counts as 0)."""
    return result['trained'].get(key, 0.) > result['untrained'].get(key, 0.)


def format_summary(result: Dict[str, Any]) -> str:
    """The table and paths ``make demo`` prints."""
    width = max(len(title) for _, title in DEMO_METRICS)
    head = f'{"":<20}' + ''.join(f'{title:>{width + 2}}' for _, title in DEMO_METRICS)
    rows = [head]
    for name, label in (('untrained', 'untrained'),
                        ('trained', f'trained ({result["iters"]} it)')):
        metrics = result[name]
        cells = []
        for key, _ in DEMO_METRICS:
            value = metrics.get(key)
            cells.append(f'{"n/a" if value is None else f"{value:.3f}":>{width + 2}}')
        rows.append(f'{label:<20}' + ''.join(cells))
    minutes = sum(result['seconds'].values()) / 60
    size = sum(os.path.getsize(p) for p in glob.glob(osp.join(result['bitstreams'], '*.dicm')))
    lines = [
        'DICM Mask R-CNN on CPU, embedded shapes data: a smoke-and-learning check, not a '
        'benchmark.',
        'mAP on features decoded from real bitstreams; bpp = container bits / input pixels.',
        '', *rows, '',
        f'checkpoint:  {result["checkpoint"]}',
        f'logs:        {result["log_dir"]}',
        f'bitstreams:  {result["bitstreams"]}/ ({result["num_bitstreams"]} files, '
        f'{size / 1024:.1f} KiB; read with mmdicm.codec.read)',
        f'time:        {minutes:.1f} min ('
        + ', '.join(f'{k} {v:.0f} s' for k, v in result['seconds'].items()) + ')',
    ]
    if any(k not in result['untrained'] for k, _ in DEMO_METRICS[:4]):
        lines.append('n/a: CocoMetric reports nothing when no box scores above the '
                     'threshold (usual for an untrained model): read it as 0.')
    verdict = ('learned: trained bbox mAP is above the untrained model\'s' if learned(result)
               else 'NOT LEARNED: trained bbox mAP is not above the untrained model\'s')
    lines.append(verdict)
    return '\n'.join(lines)
