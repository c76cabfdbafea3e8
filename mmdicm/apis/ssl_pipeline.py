"""DICM's four training stages chained on CPU, then one bitstream for two task models.

What ``tools/ssl_pipeline.py`` runs, end to end and offline::

    embedded data ─► stage 1  semantic-guided MoCo v2 (plain ResNet-18)          ─► ckpt 1
                     stage 2  RE alone, backbone frozen     (load_from ckpt 1)   ─► ckpt 2
                     stage 3  backbone + RE, MoCo v2 + rate (load_from ckpt 2)   ─► ckpt 3
                     stage 4  compression network alone     (load_from ckpt 3)   ─► ckpt 4
                     task stages on ckpt 4's frozen edge: a Mask R-CNN and a whole-image
                     classifier (g_s, tail, heads train; the bits stay stage 4's)
                     one compress of the val images, then both task models analyse the
                     same files (mAP, top-1, the one measured bpp): mmdicm.apis.one_bitstream

Each stage is the CPU demo config of ``configs/ssl/demo/`` run by :class:`DICMRunner` (the
same path as ``tools/train.py``); every checkpoint loads into the next stage with no key
surgery (mmengine's non-strict loading reports the parts a stage adds as missing). A smoke
test of the chain, not a benchmark: minutes of training on a toy dataset.
"""
import os.path as osp
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ..codec.feature_codec import check_preset
from ..datasets import generate_embedded_dataset
from ..models.selfsup import moco  # noqa: F401  (registers DICMMoCoV2)
from ..engine import optim, pretrained  # noqa: F401  (register what the configs use)
from ..engine.hooks import rate_distortion_hook  # noqa: F401
from .launch import CONFIG_ROOT, last_checkpoint, prepare_config, train_to_checkpoint
from .one_bitstream import TASK_CONFIGS, compress_and_analyze, run_task_stage

__all__ = ['CONFIG_ROOT', 'SSL_STAGES', 'TASK_CONFIGS', 'format_pipeline_summary',
           'last_checkpoint', 'run_ssl_pipeline']

#: The CPU demo configs of the four stages, in order
SSL_STAGES = tuple(osp.join(CONFIG_ROOT, 'ssl', 'demo', name) for name in (
    'stage1_mocov2-ccrop_r18_embedded.py', 'stage2_re_r18_embedded.py',
    'stage3_re-ssl_r18_embedded.py', 'stage4_codec_r18_embedded.py'))


def run_ssl_pipeline(work_dir: str = 'work_dirs/ssl_pipeline',
                     data_root: str = 'data/embedded',
                     stages: Sequence[str] = SSL_STAGES,
                     tasks: Sequence[Tuple[str, str]] = TASK_CONFIGS,
                     task_iters: Optional[int] = None,
                     val_images: Optional[int] = None,
                     seed: int = 0,
                     codec_preset: Optional[str] = None,
                     log: Callable[[str], None] = print) -> Dict[str, Any]:
    """Run the stages in order, each from the previous checkpoint, then the task stages on
    the last one's edge, one compress and one analysis per task model.

    Args:
        work_dir (str): One sub-folder per stage (``stage1`` ...), per task (its name) and
            ``one_bitstream`` (containers, predictions, the val annotations used).
        data_root (str): The embedded dataset (generated with the defaults if missing).
        stages (Sequence[str]): Stage configs, in order. Defaults to :data:`SSL_STAGES`.
        tasks (Sequence[tuple]): ``(name, config)`` of the task stages; the first one's model
            compresses. Empty: stop after the stages. Defaults to :data:`TASK_CONFIGS`.
        task_iters (int, optional): Training iterations of each task stage; None keeps each
            config's schedule.
        val_images (int, optional): The first val images compressed and analysed; None: all.
        seed (int): Random seed of every run. Defaults to 0.
        codec_preset (str, optional): A :data:`~mmdicm.codec.CODEC_PRESETS` key (``'s'``:
            DICM-S) for every stage that has a codec (2-4; stage 1 trains the plain backbone)
            and every task stage, so each checkpoint loads into the next. None keeps the
            configs' codec.
        log (callable): Progress messages. Defaults to ``print``.

    Returns:
        dict: ``checkpoints`` (one per stage), ``num_stages``, ``task_checkpoints`` by task,
        ``one_bitstream`` (:func:`compress_and_analyze`'s result, None without tasks),
        ``seconds`` per step.
    """
    if codec_preset is not None:
        try:
            check_preset(codec_preset)
        except ValueError as e:
            raise ValueError(f'codec_preset: {e}') from None
    preset = {} if codec_preset is None else {'model.backbone.codec.preset': codec_preset}
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
        if preset and cfg.model.backbone.get('codec') is not None:
            cfg.merge_from_dict(preset)  # not into stage 1's codec=None: it would add one
        checkpoints.append(train_to_checkpoint(cfg))
        seconds[f'stage{k}'] = time.perf_counter() - t0

    task_checkpoints: Dict[str, str] = {}
    for name, config in tasks:
        t0 = time.perf_counter()
        log(f'[task] {name}: {osp.basename(config)} on the edge of {checkpoints[-1]}'
            + (f', {task_iters} iterations' if task_iters else ''))
        task_checkpoints[name] = run_task_stage(config, checkpoints[-1],
                                                osp.join(work_dir, name), data_root,
                                                task_iters, seed, cfg_options=preset)
        seconds[name] = time.perf_counter() - t0
    shared = None
    if tasks:
        models = [(name, config, task_checkpoints[name]) for name, config in tasks]
        shared = compress_and_analyze(models, data_root, osp.join(work_dir, 'one_bitstream'),
                                      val_images, log)
        seconds.update({f'{k} (files)': v for k, v in shared['seconds'].items()})
    return dict(checkpoints=checkpoints, num_stages=len(stages),
                task_checkpoints=task_checkpoints, one_bitstream=shared, seconds=seconds)


#: (metric key, title) printed per task
_SUMMARY_METRICS = (('coco/bbox_mAP', 'bbox mAP'), ('coco/segm_mAP', 'segm mAP'),
                    ('accuracy/top1', 'top-1 %'))


def format_pipeline_summary(result: Dict[str, Any]) -> str:
    """Checkpoints, the task models' metrics on the one set of files, its bpp, times."""
    lines = ['DICM four-stage training on CPU (embedded data), then two task models on one '
             'bitstream: a smoke test of the chain, not a benchmark.']
    for k, path in enumerate(result['checkpoints'], 1):
        lines.append(f'stage {k:<4} {path}')
    for name, path in result.get('task_checkpoints', {}).items():
        lines.append(f'{name:<10} {path}')
    shared = result.get('one_bitstream')
    if shared:
        lines.append(f'one bitstream: {shared["num_files"]} files in {shared["files"]}, '
                     f'{shared["bpp"]:.3f} bpp (real bytes over original pixels), read by '
                     'every task model:')
        for name, metrics in shared['metrics'].items():
            found = [f'{title} {metrics[key]:.3f}' for key, title in _SUMMARY_METRICS
                     if key in metrics]
            lines.append(f'  {name:<10} ' + (', '.join(found) or 'no metric (no prediction '
                                               'scored above the test threshold: read as 0)'))
        failed = {k: len(v) for k, v in shared['failures'].items() if v}
        if failed:
            lines.append('  FAILED files: ' + ', '.join(f'{k} {v}' for k, v in failed.items()))
    total = sum(result['seconds'].values()) / 60
    lines.append(f'time: {total:.1f} min (' + ', '.join(
        f'{k} {v:.0f} s' for k, v in result['seconds'].items()) + ')')
    return '\n'.join(lines)
