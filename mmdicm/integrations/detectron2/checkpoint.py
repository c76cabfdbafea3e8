"""mmdicm checkpoints into detectron2, and a checkpointer that keeps the entropy tables.

An mmdicm checkpoint (a stage-4 result, or an mmdet/mmpretrain task model) holds its
``DICMResNet`` under ``backbone.``: :func:`convert_mmdicm_state_dict` renames those keys to
detectron2's (:mod:`.keys`) under ``backbone.bottom_up.`` (a detectron2 FPN's ResNet); necks and
heads stay behind (mmdet's and detectron2's differ). :class:`DICMCheckpointer` is detectron2's
``DetectionCheckpointer`` that first resizes the entropy models' CDF buffers to the
checkpoint's: fvcore's checkpointer drops every tensor whose shape differs from the model's,
and those buffers' sizes are only known after ``update()``.
"""
import os.path as osp
import pickle
from typing import Any, Dict, List, Tuple

import torch
from compressai.entropy_models import EntropyModel
from detectron2.checkpoint import DetectionCheckpointer

from ...codec.entropy import ENTROPY_BUFFERS
from .keys import mmdet_to_detectron2_key

__all__ = ['DICMCheckpointer', 'convert_mmdicm_checkpoint', 'convert_mmdicm_state_dict',
           'load_mmdicm_checkpoint']


def load_mmdicm_checkpoint(path: str) -> Dict[str, torch.Tensor]:
    """The state dict of an mmdicm (mmengine) checkpoint file.

    Loads with torch's safe unpickler; a Runner checkpoint (its ``message_hub`` carries
    mmengine classes) is then loaded with mmdicm's scoped allow-list
    (:func:`mmdicm.engine.checkpoint.load_trusted_checkpoint`), which needs mmengine.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'no checkpoint file {path}')
    try:
        ckpt = torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError:
        try:
            from ...engine.checkpoint import load_trusted_checkpoint
        except ModuleNotFoundError as e:
            raise RuntimeError(f'{path} is an mmengine Runner checkpoint; converting it needs '
                               f'mmengine ({e}): run tools/detectron2/convert_checkpoint.py in '
                               "mmdicm's environment") from None
        ckpt = load_trusted_checkpoint(path)
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f'{path} holds no state dict of tensors')
    return state


def convert_mmdicm_state_dict(state: Dict[str, torch.Tensor],
                              prefix: str = 'backbone.',
                              target_prefix: str = 'backbone.bottom_up.'
                              ) -> Tuple[Dict[str, torch.Tensor], List[str]]:
    """mmdicm ``DICMResNet`` keys (under ``prefix``) -> detectron2 ``DICMResNet`` keys (under
    ``target_prefix``; ``''`` for a bare backbone).

    Returns:
        tuple: the converted state dict and the keys under ``prefix`` that have no place in
        detectron2's ResNet (``fc.*``, a deep stem): reported, not converted. Keys outside
        ``prefix`` (necks, heads, an SSL model's momentum encoder) are left out.
    """
    out, dropped = {}, []
    for key, value in state.items():
        if not key.startswith(prefix):
            continue
        new = mmdet_to_detectron2_key(key[len(prefix):])
        if new is None:
            dropped.append(key)
        else:
            out[target_prefix + new] = value
    if not out:
        raise ValueError(f'no key starts with {prefix!r}: not an mmdicm DICMResNet checkpoint '
                         f'(first keys: {list(state)[:3]})')
    return out, dropped


def convert_mmdicm_checkpoint(src: str, dst: str, prefix: str = 'backbone.',
                              target_prefix: str = 'backbone.bottom_up.') -> Dict[str, Any]:
    """Write ``dst``: the detectron2 checkpoint (``{'model': ...}``, tensors only, loads with
    ``cfg.MODEL.WEIGHTS``) of the mmdicm checkpoint ``src``. Returns a summary."""
    state, dropped = convert_mmdicm_state_dict(load_mmdicm_checkpoint(src), prefix,
                                               target_prefix)
    torch.save({'model': state, '__author__': 'mmdicm', 'matching_heuristics': False}, dst)
    return dict(src=src, dst=dst, num_keys=len(state), dropped=dropped,
                num_codec_keys=sum('.codec.' in k or k.startswith('codec.') for k in state))


def resize_entropy_buffers(model: torch.nn.Module, state: Dict[str, torch.Tensor]) -> List[str]:
    """Resize the CDF buffers of every entropy model of ``model`` to their shape in ``state``
    (keys as ``model.state_dict()``'s, a ``module.`` prefix tolerated); returns the keys."""
    resized = []
    for name, module in model.named_modules():
        if not isinstance(module, EntropyModel):
            continue
        for buf_name in ENTROPY_BUFFERS:
            key = f'{name}.{buf_name}' if name else buf_name
            value = state.get(key, state.get('module.' + key))
            buf = module._buffers.get(buf_name)
            if value is not None and buf is not None and buf.shape != value.shape:
                module._buffers[buf_name] = torch.empty_like(value, device=buf.device)
                resized.append(key)
    return resized


class DICMCheckpointer(DetectionCheckpointer):
    """detectron2's ``DetectionCheckpointer`` that loads entropy tables of any size (see the
    module doc); everything else is detectron2's."""

    def _load_model(self, checkpoint: Dict[str, Any]) -> Any:
        model = self.model.module if hasattr(self.model, 'module') else self.model
        resize_entropy_buffers(model, checkpoint['model'])
        return super()._load_model(checkpoint)
