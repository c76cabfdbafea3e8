"""What the context + mixture entropy model saves over the hyperprior, at CPU scale::

    stage-3 checkpoint ─► stage 4 (demo config) per entropy model and λ ─► checkpoints
    val images ─► edge ─► real bytes (bpp) ─► decode ─► f3;  NMSE(f3, f2) (the stage-4 target)
    per model: (bpp, -10 log10 NMSE) curve;  BD-rate of context_mixture vs hyperprior

Both models get the same stage-4 config, data, steps and λs; only
``model.backbone.codec.net.entropy_model`` differs. Rates are real rANS bytes (containers
minus their fixed header fields are not subtracted: both carry the same kind of header).
``tools/benchmark_entropy_rate.py`` runs it; results: ``docs/codec.md``.
"""
import os
import os.path as osp
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

__all__ = ['STAGE4_DEMO', 'train_stage4', 'edge_and_receiver', 'measure_rate_distortion',
           'bd_rate_saving',
           'run_entropy_rate_benchmark']

STAGE4_DEMO = 'configs/ssl/demo/stage4_codec_r18_embedded.py'


def train_stage4(entropy_model: str, lmbda: float, stage3: str, work_dir: str,
                 data_root: str = 'data/embedded/classification/',
                 config: str = STAGE4_DEMO) -> str:
    """Stage 4 of one entropy model at one λ from ``stage3``; its checkpoint (kept if there)."""
    from ..apis.launch import last_checkpoint, prepare_config, train_to_checkpoint
    try:
        return last_checkpoint(work_dir)
    except FileNotFoundError:
        pass
    options = {'load_from': stage3, 'train_dataloader.dataset.data_root': data_root,
               'custom_hooks.0.lambda_rate': lmbda, 'randomness': dict(seed=0),
               'model.backbone.codec.net.entropy_model': entropy_model}
    return train_to_checkpoint(prepare_config(config, work_dir=work_dir, cfg_options=options))


def _backbone(config: str, checkpoint: str, entropy_model: str) -> Any:
    from mmengine.config import Config
    from mmengine.registry import MODELS, DefaultScope

    from ..engine.checkpoint import load_trusted_checkpoint
    cfg = Config.fromfile(config)
    cfg.model.backbone.codec.net = dict(entropy_model=entropy_model)
    if cfg.get('data_preprocessor') is not None:  # as mmengine's Runner merges it
        cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(cfg.model)
    state = load_trusted_checkpoint(checkpoint)['state_dict']
    model.load_state_dict(state, strict=False)
    return model.backbone.eval(), model.data_preprocessor


def edge_and_receiver(backbone: Any, x: torch.Tensor) -> Tuple[int, torch.Tensor,
                                                             torch.Tensor]:
    """``(bits of the containers, f2, f3 decoded from them)`` of a normalised batch ``x``."""
    size = (x.shape[-2], x.shape[-1])
    with torch.no_grad():
        f1 = backbone.forward_head(x)
        containers = backbone.codec.encode(f1, [size] * x.shape[0])
        f3 = backbone.codec.decode(containers)[0]
        f2 = backbone.codec(f1)['f2']
    return 8 * sum(len(c) for c in containers), f2, f3


def measure_rate_distortion(config: str, checkpoint: str, entropy_model: str,
                            images: Sequence[str], size: int = 256) -> Dict[str, float]:
    """Mean bpp of the real containers and NMSE(f3, f2) over ``images`` (resized to
    ``size`` x ``size``), decoded features from the bytes."""
    from PIL import Image
    backbone, pre = _backbone(config, checkpoint, entropy_model)
    # the images are RGB already: only the preprocessor's normalisation applies
    mean = pre.mean.reshape(1, 3, 1, 1) if hasattr(pre, 'mean') else 0.
    std = pre.std.reshape(1, 3, 1, 1) if hasattr(pre, 'std') else 1.
    bits, pixels, nmse = 0, 0, []
    for path in images:
        with Image.open(path) as im:
            img = np.asarray(im.convert('RGB').resize((size, size), Image.BICUBIC))
        x = (torch.from_numpy(img.copy()).permute(2, 0, 1)[None].float() - mean) / std
        num_bits, f2, f3 = edge_and_receiver(backbone, x)
        bits += num_bits
        pixels += size * size
        nmse.append(float(((f3 - f2)**2).mean() / f2.var()))
    value = float(np.mean(nmse))
    return dict(bpp=bits / pixels, nmse=value, quality_db=float(-10 * np.log10(value)))


def bd_rate_saving(reference: List[Dict[str, float]], test: List[Dict[str, float]]) -> float:
    """BD-rate (%) of ``test`` against ``reference`` over (bpp, -10 log10 NMSE); negative =
    fewer bits at equal feature distortion (mmdicm.evaluation.bd_metrics)."""
    from ..evaluation import bd_rate
    return float(bd_rate([p['bpp'] for p in reference], [p['quality_db'] for p in reference],
                         [p['bpp'] for p in test], [p['quality_db'] for p in test]))


def run_entropy_rate_benchmark(stage3: str, work_dir: str, lambdas: Sequence[float],
                               models: Sequence[str] = ('hyperprior', 'context_mixture'),
                               val_dir: str = 'data/embedded/val', num_images: int = 30,
                               config: str = STAGE4_DEMO,
                               log: Callable[[str], None] = print) -> Dict[str, Any]:
    """Train (or reuse) stage 4 per model and λ, measure each, and the BD-rate of every
    model against the first."""
    images = sorted(osp.join(val_dir, n) for n in os.listdir(val_dir))[:num_images]
    curves: Dict[str, List[Dict[str, float]]] = {}
    for model in models:
        curves[model] = []
        for lmbda in lambdas:
            ckpt = train_stage4(model, lmbda, stage3, osp.join(work_dir, f'{model}_{lmbda}'),
                                config=config)
            point = dict(lmbda=float(lmbda), **measure_rate_distortion(config, ckpt, model,
                                                                       images))
            log(f'[entropy rate] {model} λ={lmbda}: {point["bpp"]:.3f} bpp, NMSE '
                f'{point["nmse"]:.4f} ({point["quality_db"]:.2f} dB)')
            curves[model].append(point)
    reference = models[0]
    bd: Dict[str, Optional[float]] = {}
    for model in models[1:]:
        try:
            bd[model] = bd_rate_saving(curves[reference], curves[model])
        except Exception as e:  # noqa: BLE001  (curves that do not overlap, too few points)
            log(f'[entropy rate] no BD-rate of {model}: {e}')
            bd[model] = None
    return dict(curves=curves, bd_rate_vs=reference, bd_rate=bd, num_images=len(images))
