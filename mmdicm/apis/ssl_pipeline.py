"""DICM's four training stages chained on CPU, then a detector fine-tuned from the result.

What ``tools/ssl_pipeline.py`` runs, end to end and offline::

    embedded data ─► stage 1  semantic-guided MoCo v2 (plain ResNet-18)          ─► ckpt 1
                     stage 2  RE alone, backbone frozen     (load_from ckpt 1)   ─► ckpt 2
                     stage 3  backbone + RE, MoCo v2 + rate (load_from ckpt 2)   ─► ckpt 3
                     stage 4  compression network alone     (load_from ckpt 3)   ─► ckpt 4
                     Mask R-CNN demo, backbone + codec from ckpt 4 (load_from); a short
                     fine-tune of the receiver side (tail, FPN, heads: the edge side --
                     head, RE, codec -- stays frozen, so the bitstream is stage 4's), then a
                     test on real bitstreams (mAP, measured bpp)

Each stage is the CPU demo config of ``configs/ssl/demo/`` run by :class:`DICMRunner` (the
same path as ``tools/train.py``); every checkpoint loads into the next stage with no key
surgery (mmengine's non-strict loading reports the parts a stage adds as missing). A smoke
test of the chain, not a benchmark: minutes of training on a toy dataset.
"""
import gc
import os.path as osp
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

from ..datasets import generate_embedded_dataset
from ..models.selfsup import moco  # noqa: F401  (registers DICMMoCoV2)
from ..engine import optim, pretrained  # noqa: F401  (register what the configs use)
from ..engine.hooks import rate_distortion_hook  # noqa: F401
from .launch import build_runner, check_config, prepare_config

__all__ = ['CONFIG_ROOT', 'DETECTOR_CONFIG', 'SSL_STAGES', 'format_pipeline_summary',
           'last_checkpoint', 'run_ssl_pipeline']

#: ``configs/`` as shipped in the package (a link in a checkout, copies in a wheel)
CONFIG_ROOT = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), '.mim', 'configs',
                       'dicm')
#: The CPU demo configs of the four stages, in order
SSL_STAGES = tuple(osp.join(CONFIG_ROOT, 'ssl', 'demo', name) for name in (
    'stage1_mocov2-ccrop_r18_embedded.py', 'stage2_re_r18_embedded.py',
    'stage3_re-ssl_r18_embedded.py', 'stage4_codec_r18_embedded.py'))
#: The detector initialised from stage 4
DETECTOR_CONFIG = osp.join(CONFIG_ROOT, 'demo', 'mask-rcnn_dicm_r18_embedded.py')


def last_checkpoint(work_dir: str) -> str:
    """The checkpoint mmengine's CheckpointHook wrote last in ``work_dir``."""
    marker = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(marker):
        raise FileNotFoundError(f'no checkpoint was saved in {work_dir}')
    with open(marker) as f:
        path = f.read().strip()
    return path if osp.isabs(path) else osp.join(work_dir, osp.basename(path))


def _detector_options(data_root: str, iters: int, val_images: int,
                      frozen_parts: Sequence[str]) -> Dict[str, Any]:
    root = data_root.rstrip('/') + '/'
    return {
        'train_dataloader.dataset.data_root': root,
        'test_dataloader.dataset.data_root': root,
        'test_evaluator.0.ann_file': root + 'annotations/instances_val.json',
        # the first val images only (CocoMetric scores the images it saw)
        'test_dataloader.dataset.indices': val_images,
        # evaluated once, by runner.test() after training (IterBasedTrainLoop would run the
        # val loop at its last iteration whatever val_interval says)
        'val_dataloader': None, 'val_cfg': None, 'val_evaluator': None,
        'train_cfg.val_interval': iters + 1,
        'train_cfg.max_iters': iters,
        'default_hooks.checkpoint.interval': iters,
        'default_hooks.logger.interval': max(1, min(10, iters // 4)),
        'model.backbone.frozen_parts': tuple(frozen_parts),
    }


def run_ssl_pipeline(work_dir: str = 'work_dirs/ssl_pipeline',
                     data_root: str = 'data/embedded',
                     stages: Sequence[str] = SSL_STAGES,
                     detector: Optional[str] = DETECTOR_CONFIG,
                     detector_iters: int = 20,
                     val_images: int = 20,
                     detector_frozen_parts: Sequence[str] = ('head', 're', 'net'),
                     seed: int = 0,
                     log: Callable[[str], None] = print) -> Dict[str, Any]:
    """Run the stages in order, each from the previous checkpoint, then the detector.

    Args:
        work_dir (str): One sub-folder per stage (``stage1`` ...) and ``mask-rcnn``.
        data_root (str): The embedded dataset (generated with the defaults if missing).
        stages (Sequence[str]): Stage configs, in order. Defaults to :data:`SSL_STAGES`.
        detector (str, optional): Detector config initialised from the last stage; None
            skips it. Defaults to :data:`DETECTOR_CONFIG`.
        detector_iters (int): Fine-tuning iterations of the detector. Defaults to 20.
        val_images (int): Val images the detector is evaluated on. Defaults to 20.
        detector_frozen_parts (Sequence[str]): Backbone parts frozen while the detector is
            fine-tuned. Defaults to the edge side, ``('head', 're', 'net')``.
        seed (int): Random seed of every run. Defaults to 0.
        log (callable): Progress messages. Defaults to ``print``.

    Returns:
        dict: ``checkpoints`` (one per stage, then the detector's), ``num_stages``,
        ``metrics`` (the detector's test metrics, with measured ``dicm/bpp``), ``seconds``
        per step.
    """
    seconds: Dict[str, float] = {}
    t0 = time.perf_counter()
    generate_embedded_dataset(data_root, num_train=400, num_val=100, image_size=256, seed=0)
    seconds['data'] = time.perf_counter() - t0
    classification = data_root.rstrip('/') + '/classification/'

    checkpoints: List[str] = []
    for k, config in enumerate(stages, 1):
        t0 = time.perf_counter()
        options: Dict[str, Any] = {'train_dataloader.dataset.data_root': classification,
                                   'randomness': dict(seed=seed)}
        if checkpoints:
            options['load_from'] = checkpoints[-1]
        log(f'[ssl] stage {k}/{len(stages)}: {osp.basename(config)}'
            + (f' <- {checkpoints[-1]}' if checkpoints else ''))
        cfg = prepare_config(config, work_dir=osp.join(work_dir, f'stage{k}'),
                             cfg_options=options)
        check_config(cfg, 'train')  # what tools/train.py checks: paths, hook arguments
        runner = build_runner(cfg)
        runner.train()
        checkpoints.append(last_checkpoint(cfg.work_dir))
        del runner
        gc.collect()  # let the persistent dataloader workers go
        seconds[f'stage{k}'] = time.perf_counter() - t0

    metrics: Dict[str, float] = {}
    if detector is not None:
        t0 = time.perf_counter()
        log(f'[ssl] detector: {osp.basename(detector)} <- {checkpoints[-1]}, '
            f'{detector_iters} iterations, then test on {val_images} val images')
        options = _detector_options(data_root, detector_iters, val_images,
                                    detector_frozen_parts)
        options.update({'load_from': checkpoints[-1], 'randomness': dict(seed=seed)})
        cfg = prepare_config(detector, work_dir=osp.join(work_dir, 'mask-rcnn'),
                             cfg_options=options)
        check_config(cfg, 'train')
        check_config(cfg, 'test')
        runner = build_runner(cfg)
        runner.train()
        metrics = dict(runner.test())
        checkpoints.append(last_checkpoint(cfg.work_dir))
        del runner
        gc.collect()
        seconds['detector'] = time.perf_counter() - t0
    return dict(checkpoints=checkpoints, num_stages=len(stages), metrics=metrics,
                seconds=seconds)


def format_pipeline_summary(result: Dict[str, Any]) -> str:
    """Checkpoints, detector metrics and times of :func:`run_ssl_pipeline`."""
    lines = ['DICM four-stage training on CPU (embedded data): a smoke test of the chain, not '
             'a benchmark.']
    names = [f'stage {k}' for k in range(1, result['num_stages'] + 1)] + ['detector']
    for name, path in zip(names, result['checkpoints']):
        lines.append(f'{name:<10} {path}')
    m = result['metrics']
    if m:
        keys = (('coco/bbox_mAP', 'bbox mAP'), ('coco/segm_mAP', 'segm mAP'),
                ('dicm/bpp', 'bpp (real bytes)'))
        lines.append('detector test (real bitstreams): ' + ', '.join(
            f'{title} {m[key]:.3f}' if key in m else f'{title} n/a' for key, title in keys))
        if 'coco/bbox_mAP' not in m:
            lines.append('n/a: CocoMetric reports nothing when no box scores above the test '
                         'threshold (usual after a few iterations): read it as 0.')
    total = sum(result['seconds'].values()) / 60
    lines.append(f'time: {total:.1f} min (' + ', '.join(
        f'{k} {v:.0f} s' for k, v in result['seconds'].items()) + ')')
    return '\n'.join(lines)

