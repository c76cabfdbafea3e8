"""Shared by the training tests: the CPU demo configs shrunk to seconds (not a test module).

Each demo config in ``configs/demo`` is run as shipped, through
:func:`mmdicm.apis.launch.prepare_config` / ``build_runner``, with ``--cfg-options``-style
overrides that shrink only the data (a tiny generated embedded set), the batch (2, no
workers), the codec widths and the schedule. Nothing about the model classes or hooks changes.
"""
import os.path as osp
from typing import Any, Dict, Optional

import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO_DIR = osp.join(ROOT, 'configs', 'demo')

#: demo config of each model the training tests run
DEMO_CONFIGS = {
    'mask-rcnn': osp.join(DEMO_DIR, 'mask-rcnn_dicm_r18_embedded.py'),
    'faster-rcnn': osp.join(DEMO_DIR, 'faster-rcnn_dicm_r18_embedded.py'),
    'retinanet': osp.join(DEMO_DIR, 'retinanet_dicm_r18_embedded.py'),
    'classifier': osp.join(DEMO_DIR, 'resnet18_dicm_embedded_cls.py'),
}

#: the tiny codec of tests/engine/test_hooks.py (seconds per iteration, same structure)
TINY_CODEC = dict(
    re=dict(hidden_channels=16, latent_channels=16, depths=(1, 1, 1)),
    net=dict(mid_channels=16, latent_channels=32, hyper_channels=16, hyper_dim=32,
             hyper_heads=2, gl_size=(8, 5)))

#: quantile parameters of the tiny codec (RE's and the hyperprior's entropy bottlenecks)
QUANTILE_KEYS = ('backbone.codec.re.entropy_bottleneck.quantiles',
                 'backbone.codec.net.entropy_bottleneck.quantiles')

#: entropy-table buffers (CompressAI's) that real coding depends on
TABLE_SUFFIXES = ('_quantized_cdf', '_offset', '_cdf_length')




def make_data(root: str, num_train: int = 4, num_val: int = 2, image_size: int = 64) -> str:
    """Generate a tiny embedded dataset under ``root`` (idempotent); returns ``root/``."""
    from mmdicm.datasets import generate_embedded_dataset
    generate_embedded_dataset(root, num_train=num_train, num_val=num_val,
                              image_size=image_size, seed=0)
    return root.rstrip('/') + '/'


def tiny_options(model: str, data_root: str, max_iters: int = 2, *, validate: bool = False,
                 checkpoint_interval: Optional[int] = None, lambda_rate: Optional[float] = None,
                 aux_weight: Optional[float] = None, image_size: int = 64,
                 name: str = 'tiny') -> Dict[str, Any]:
    """``--cfg-options`` that make ``DEMO_CONFIGS[model]`` run ``max_iters`` tiny iterations.

    Args:
        model (str): A key of :data:`DEMO_CONFIGS`.
        data_root (str): A tiny embedded dataset (:func:`make_data`), ending in '/'.
        max_iters (int): Training iterations.
        validate (bool): Validate (real coding) after the last iteration. Defaults to False.
        checkpoint_interval (int, optional): Save every this many iterations; default
            ``max_iters`` (one checkpoint at the end).
        lambda_rate (float, optional): RateLossHook's λ; default the config's.
        aux_weight (float, optional): RateLossHook's aux weight; default the config's.
        image_size (int): Resize scale of the pipelines (the data's side is a good choice).
        name (str): ``experiment_name`` (mmengine keeps one logger per name in a process).
    """
    opts: Dict[str, Any] = {}
    for split in ('train', 'val', 'test'):
        opts.update({f'{split}_dataloader.batch_size': 2, f'{split}_dataloader.num_workers': 0,
                     f'{split}_dataloader.persistent_workers': False})
    if model == 'classifier':
        root = data_root + 'classification/'
        opts.update({f'{split}_dataloader.dataset.data_root': root
                     for split in ('train', 'val', 'test')})
        opts['train_dataloader.dataset.pipeline.1.scale'] = image_size
        for split in ('val', 'test'):
            opts.update({f'{split}_dataloader.dataset.pipeline.1.scale': image_size,
                         f'{split}_dataloader.dataset.pipeline.2.crop_size': image_size})
    else:
        ann = data_root + 'annotations/instances_val.json'
        opts.update({f'{split}_dataloader.dataset.data_root': data_root
                     for split in ('train', 'val', 'test')})
        if model != 'faster-rcnn':  # CocoMetric needs the val annotation file itself
            opts.update({'val_evaluator.0.ann_file': ann, 'test_evaluator.0.ann_file': ann})
        size = (image_size, image_size)
        opts.update({'train_dataloader.dataset.pipeline.2.scale': size})
        for split in ('val', 'test'):
            opts[f'{split}_dataloader.dataset.pipeline.1.scale'] = size
        opts['model.test_cfg.' + ('score_thr' if model == 'retinanet' else 'rcnn.score_thr')] = 0.
    opts.update({
        'model.backbone.codec': TINY_CODEC,
        'train_cfg.max_iters': max_iters,
        'train_cfg.val_interval': max_iters,
        'train_cfg.val_begin': 1 if validate else max_iters + 1,
        'param_scheduler': [dict(type='ConstantLR', factor=1.0, by_epoch=False)],
        'default_hooks.checkpoint.interval': checkpoint_interval or max_iters,
        'default_hooks.logger.interval': 1,
        'randomness': dict(seed=0),
        'experiment_name': name,
    })
    if lambda_rate is not None:
        opts['custom_hooks.0.lambda_rate'] = lambda_rate
    if aux_weight is not None:
        opts['custom_hooks.0.aux_weight'] = aux_weight
    return opts


def snapshot(model: torch.nn.Module) -> Dict[str, torch.Tensor]:
    """Copies of every state-dict entry (parameters and buffers)."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def one_thread_env() -> Dict[str, str]:
    """Environment for a subprocess that should use one intra-op thread."""
    import os
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    path = [ROOT, osp.dirname(osp.abspath(__file__))]  # mmdicm, dicm_probe_hooks
    if env.get('PYTHONPATH'):
        path.append(env['PYTHONPATH'])
    env['PYTHONPATH'] = os.pathsep.join(path)
    return env


def fixed_batch_probe(model: torch.nn.Module) -> Dict[str, Any]:
    """Estimated bpp and real containers of a fixed batch (2 x 3 x 64 x 64, seeded).

    Runs the (unwrapped) model's backbone in eval mode with the rounded-latent estimate, then
    ``compress``; restores the train/eval mode and ``real_coding`` afterwards. Needs fresh
    entropy tables (``update(force=True)``), as after a checkpoint save or load.
    """
    from mmdicm.engine import likelihood_bpp, unwrap_model
    model = unwrap_model(model)
    backbone = model.backbone
    was_training, real = model.training, backbone.real_coding
    images = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    model.eval()
    backbone.real_coding = False
    try:
        with torch.no_grad():
            backbone(images)
            bpp = likelihood_bpp(backbone.last_likelihoods, ('y', 'z'),
                                 backbone.last_num_pixels).item()
            containers = backbone.compress(images)
    finally:
        backbone.real_coding = real
        model.train(was_training)
    return dict(bpp=bpp, containers=[c.hex() for c in containers])


def param_digest(model: torch.nn.Module) -> Dict[str, str]:
    """sha256 of every parameter's bytes, by name (ranks of a DDP run must agree)."""
    import hashlib
    from mmdicm.engine import unwrap_model
    return {name: hashlib.sha256(p.detach().cpu().contiguous().numpy().tobytes()).hexdigest()
            for name, p in unwrap_model(model).named_parameters()}


def write_tiny_config(path: str, model: str, data_root: str,
                      probe_dir: Optional[str] = None, probe_sleep: float = 0.,
                      extra: Optional[Dict[str, Any]] = None, **kwargs: Any) -> str:
    """Dump ``DEMO_CONFIGS[model]`` with :func:`tiny_options` (and ``extra``) to ``path``.

    With ``probe_dir``, :class:`dicm_probe_hooks.TrainProbeHook` is appended to the custom
    hooks (the subprocess needs this folder on ``PYTHONPATH``: :func:`one_thread_env`).
    """
    from mmdicm.apis.launch import prepare_config
    opts = tiny_options(model, data_root, **kwargs)
    opts.update(extra or {})
    cfg = prepare_config(DEMO_CONFIGS[model], cfg_options=opts)
    if probe_dir is not None:
        cfg.custom_imports = dict(imports=['mmdicm', 'dicm_probe_hooks'],
                                  allow_failed_imports=False)
        cfg.custom_hooks = list(cfg.custom_hooks) + [
            dict(type='TrainProbeHook', out_dir=probe_dir, sleep=probe_sleep)]
    cfg.dump(path)
    return path


def tiny_demo_config(model: str, data_root: str, name: str, **options: Any):
    """The demo config of ``model`` with :func:`tiny_options` and ``options`` applied, as
    ``tools/train.py`` prepares it (``name`` names its work dir)."""
    from mmdicm.apis.launch import prepare_config
    opts = tiny_options(model, data_root, name=name)
    opts.update(options)
    return prepare_config(DEMO_CONFIGS[model], cfg_options=opts)
