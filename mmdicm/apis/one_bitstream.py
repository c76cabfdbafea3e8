"""One bitstream, many tasks, at CPU scale: task stages on one frozen edge, one compress, one
analysis per task model, all on the same container files.

What ``tools/ssl_pipeline.py`` runs after the four stages::

    stage-4 checkpoint ─► detector task stage   (edge frozen; g_s, tail, FPN, heads train)
                       └► classifier task stage (edge frozen; g_s, tail, head train)
    val images ─► tools/compress.py (once, the detector's checkpoint) ─► *.dicm
                  *.dicm ─► tools/analyze.py, detector   ─► bbox / segm mAP
                  *.dicm ─► tools/analyze.py, classifier ─► top-1 accuracy

Both task models carry the stage-4 edge's digest: analyze would refuse a model of another
edge. The classifier's labels are image-level (the category of the largest object,
``annotations/image_labels_*.txt``), its input the detector's (the 256-px image).
"""
import json
import os
import os.path as osp
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .launch import CONFIG_ROOT, prepare_config, train_to_checkpoint

__all__ = ['TASK_CONFIGS', 'TaskModel', 'run_task_stage', 'compress_and_analyze']

#: The CPU task stages on the demo stage 4's edge, by task: the first one's model compresses
TASK_CONFIGS: Tuple[Tuple[str, str], ...] = tuple(
    (name, osp.join(CONFIG_ROOT, 'demo', f'{stem}_from-stage4.py')) for name, stem in (
        ('detector', 'mask-rcnn_dicm_r18_embedded'),
        ('classifier', 'resnet18_dicm_embedded_image-cls')))

#: A trained task model: ``(name, config, checkpoint)``
TaskModel = Tuple[str, str, str]


def _task_options(data_root: str, stage4: str, iters: Optional[int],
                  seed: int) -> Dict[str, Any]:
    """What the chain changes in a task config: the edge checkpoint, the data root, the
    schedule's length (None: the config's), no validation while training (the chain tests
    on the compressed files instead)."""
    root = data_root.rstrip('/') + '/'
    options: Dict[str, Any] = {
        'model.backbone.init_cfg.checkpoint': stage4,
        'train_dataloader.dataset.data_root': root,
        'val_dataloader': None, 'val_cfg': None, 'val_evaluator': None,
        'test_dataloader': None, 'test_cfg': None, 'test_evaluator': None,
        'randomness': dict(seed=seed),
    }
    if iters is not None:
        options.update({'train_cfg.max_iters': iters, 'train_cfg.val_interval': iters + 1,
                        'default_hooks.checkpoint.interval': iters,
                        'default_hooks.logger.interval': max(1, min(10, iters // 4))})
    return options


def run_task_stage(config: str, stage4: str, work_dir: str, data_root: str = 'data/embedded',
                   iters: Optional[int] = None, seed: int = 0,
                   cfg_options: Optional[Dict[str, Any]] = None) -> str:
    """Train one task model on the frozen edge of ``stage4``; its checkpoint's path.

    Args:
        config (str): A task-stage config (``frozen_parts`` with ``'edge'``, its backbone's
            ``init_cfg`` a ``DICMPretrained``).
        stage4 (str): The stage-4 checkpoint (the edge).
        work_dir (str): Where the run writes.
        data_root (str): The embedded dataset. Defaults to ``data/embedded``.
        iters (int, optional): Training iterations; None keeps the config's schedule.
        seed (int): Random seed. Defaults to 0.
        cfg_options (dict, optional): More config changes (e.g. the widths of a test's
            tiny edge), applied last.
    """
    options = _task_options(data_root, stage4, iters, seed)
    options.update(cfg_options or {})
    cfg = prepare_config(config, work_dir=work_dir, cfg_options=options)
    if 'edge' not in tuple(cfg.model.backbone.get('frozen_parts', ())):
        raise ValueError(f'{config}: not a task stage (model.backbone.frozen_parts has no '
                         "'edge': its bits would change with training)")
    return train_to_checkpoint(cfg)


def _val_subset(data_root: str, out_dir: str, num_images: Optional[int]) -> Tuple[str, str]:
    """The COCO json and the image-label list of the first ``num_images`` val images (all if
    None), written to ``out_dir``: analyze counts an annotated image without a file as a
    miss, so the annotations hold exactly the compressed images."""
    with open(osp.join(data_root, 'annotations', 'instances_val.json'), encoding='utf-8') as f:
        coco = json.load(f)
    images = coco['images'][:num_images] if num_images else coco['images']
    ids = {img['id'] for img in images}
    coco = dict(coco, images=images,
                annotations=[a for a in coco['annotations'] if a['image_id'] in ids])
    names = {img['file_name'] for img in images}
    with open(osp.join(data_root, 'annotations', 'image_labels_val.txt'),
              encoding='utf-8') as f:
        labels = [line for line in f if line.split() and line.split()[0] in names]
    os.makedirs(out_dir, exist_ok=True)
    coco_file = osp.join(out_dir, 'instances_val.json')
    labels_file = osp.join(out_dir, 'image_labels_val.txt')
    with open(coco_file, 'w', encoding='utf-8') as f:
        json.dump(coco, f)
    with open(labels_file, 'w', encoding='utf-8') as f:
        f.writelines(labels)
    return coco_file, labels_file


def compress_and_analyze(models: Sequence[TaskModel], data_root: str, work_dir: str,
                         num_images: Optional[int] = None,
                         log: Callable[[str], None] = print,
                         cfg_options: Optional[Dict[str, Dict[str, Any]]] = None
                         ) -> Dict[str, Any]:
    """Compress the val images once with the first model, analyse the files with each.

    The files are written by ``models[0]``'s edge and read by every model: the mechanism of
    ``tools/compress.py`` and ``tools/analyze.py`` (a model of another edge is refused).
    ``cfg_options[name]`` changes model ``name``'s config (as ``--cfg-options`` of both
    tools).

    Returns:
        dict: ``files`` (folder of the containers), ``num_files``, ``bytes`` (all the
        files'), ``bpp`` (measured over the original pixels, the one rate of every task),
        ``bpp_input`` (over the pixels the edge coded, after its test pipeline's resize:
        ``DICMBppMetric``'s), ``metrics`` by task name, ``failures`` by step (must be
        empty), ``seconds`` by step.
    """
    from .deploy import analyze_bitstreams, compress_images, find_images, load_deploy_model
    coco_file, labels_file = _val_subset(data_root, osp.join(work_dir, 'annotations'),
                                         num_images)
    files = osp.join(work_dir, 'bitstreams')
    seconds: Dict[str, float] = {}
    t0 = time.perf_counter()
    name, config, checkpoint = models[0]
    log(f'[one bitstream] compress {coco_file} with the {name}\'s edge -> {files}')
    edge = load_deploy_model(config, checkpoint, (cfg_options or {}).get(name))
    loaded = {name: edge}  # the compressing model analyses too: loaded once
    images = find_images(coco_file, img_prefix=osp.join(data_root, 'val'))
    compressed = compress_images(edge, images, files, overwrite=True, progress=False)
    seconds['compress'] = time.perf_counter() - t0
    failures: Dict[str, List[Tuple[str, str]]] = {'compress': list(compressed.failures)}
    metrics: Dict[str, Dict[str, Any]] = {}
    for name, config, checkpoint in models:
        t0 = time.perf_counter()
        log(f'[one bitstream] analyze {files} with the {name}')
        deploy = loaded.get(name) or load_deploy_model(config, checkpoint,
                                                       (cfg_options or {}).get(name))
        ann = coco_file if deploy.task == 'detection' else labels_file
        result = analyze_bitstreams(deploy, files, osp.join(work_dir, f'{name}.json'),
                                    ann_file=ann, progress=False)
        metrics[name] = dict(result.metrics)
        failures[name] = list(result.failures)
        seconds[name] = time.perf_counter() - t0
    return dict(files=files, num_files=len(compressed.manifest['images']),
                bytes=compressed.manifest['totals']['bytes'],
                bpp=compressed.manifest['totals']['bpp_original'],
                bpp_input=compressed.manifest['totals']['bpp_input'], metrics=metrics,
                failures=failures, seconds=seconds)
