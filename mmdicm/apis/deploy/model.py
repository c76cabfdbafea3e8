"""The task model on both ends: built from its config, its checkpoint loaded and checked, its
codec's entropy tables in place; and :class:`DeployError`, what the tools print as ``error:``."""
from __future__ import annotations

import contextlib
import os.path as osp
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

import torch.nn as nn

__all__ = ['ANNOTATION_TRANSFORMS', 'DeployError', 'DeployModel', 'load_deploy_model']


#: Test-pipeline transforms skipped on the edge: they load labels, never touch pixels.
ANNOTATION_TRANSFORMS = ('LoadAnnotations', 'LoadPanopticAnnotations', 'LoadProposals',
                         'LoadTrackAnnotations')


class DeployError(ValueError):
    """A bad path, option, config or checkpoint: the tools print it as one ``error:`` line
    and exit with status 2. Problems with single files are collected, never raised."""


class EdgeMismatchError(DeployError):
    """The files were written by another edge than the task model was trained on (their
    manifest's digest is not the model's): analyze refuses them all, with one line naming
    both digests, and exits with status 1."""


@dataclass
class DeployModel:
    """A task model ready for deployment: built, loaded, in eval mode, tables in place.

    Attributes:
        model (nn.Module): The mmdet detector or mmpretrain classifier.
        cfg (Config): The config it was built from (``--cfg-options`` applied).
        scope (str): The registry scope (``default_scope`` of the config).
        task (str): ``'detection'`` or ``'classification'``.
        dataset_meta (dict): Class names etc. (checkpoint meta, else the config's dataset).
        config_path (str): As given.
        checkpoint_path (str): As given.
        tables_computed (bool): True if the checkpoint carried no entropy tables and
            :func:`load_deploy_model` computed them with ``update()``.
    """

    model: nn.Module
    cfg: Any
    scope: str
    task: str
    dataset_meta: Dict[str, Any]
    config_path: str
    checkpoint_path: str
    tables_computed: bool = False

    @property
    def backbone(self) -> nn.Module:
        """The :class:`~mmdicm.models.DICMResNet` of the model."""
        return self.model.backbone

    def fingerprint(self) -> bytes:
        """16-byte digest of what decoding depends on (see ``DICMFeatureCodec.fingerprint``)."""
        return self.backbone.codec.fingerprint()

    def input_normalisation(self) -> Dict[str, Any]:
        """What the data preprocessor does to pixels before the edge: ``channel_swap`` (BGR
        <-> RGB) and the per-channel ``mean`` / ``std`` (None when it does not normalise).
        Not in the edge digest (it is config, not weights), so the manifest records it and
        analyze compares: a task model trained on other pixels would read the features
        wrongly without any error."""
        pre = self.model.data_preprocessor
        swap = getattr(pre, 'to_rgb', getattr(pre, '_channel_conversion', False))
        out: Dict[str, Any] = dict(channel_swap=bool(swap), mean=None, std=None)
        if getattr(pre, '_enable_normalize', False):
            for key in ('mean', 'std'):
                out[key] = [round(float(v), 4) for v in getattr(pre, key).flatten()]  # float32
        return out

    @property
    def codec_stride(self) -> int:
        """The codec's total stride in input pixels (64 for the paper's split: one position
        of the hyperprior latent z; inputs are padded to a multiple of it).
        :func:`compress_images` refuses images with a smaller side by default."""
        codec = self.backbone.codec
        return codec.input_stride * codec.stride

    def scope_context(self) -> contextlib.AbstractContextManager:
        """Registry scope for building pipelines and metrics."""
        from mmengine.registry import DefaultScope
        return DefaultScope.overwrite_default_scope(self.scope)

    def test_pipeline(self) -> Any:
        """The config's test pipeline without annotation loaders, as a ``Compose``."""
        from mmengine.dataset import Compose
        steps = [step for step in _test_pipeline_cfg(self.cfg)
                 if str(step.get('type', '')).split('.')[-1] not in ANNOTATION_TRANSFORMS]
        with self.scope_context():
            return Compose(steps)


def _test_pipeline_cfg(cfg: Any) -> List[dict]:
    loader = cfg.get('test_dataloader') or cfg.get('val_dataloader')
    dataset = loader.get('dataset') if loader else None
    while dataset is not None:
        if 'pipeline' in dataset:
            return [dict(step) for step in dataset['pipeline']]
        dataset = dataset.get('dataset') or (dataset.get('datasets') or [None])[0]
    raise DeployError('the config has no test_dataloader.dataset.pipeline: the edge needs '
                      'the test pipeline to prepare images exactly as evaluation does')


def _task_of(model: nn.Module) -> str:
    try:
        from mmdet.models.detectors import BaseDetector
        if isinstance(model, BaseDetector):
            return 'detection'
    except ImportError:  # pragma: no cover
        pass
    try:
        from mmpretrain.models.classifiers import BaseClassifier
        if isinstance(model, BaseClassifier):
            return 'classification'
    except ImportError:  # pragma: no cover
        pass
    raise DeployError(f'{type(model).__name__} is neither an mmdet detector nor an mmpretrain '
                      'classifier: only those are supported')


def _dataset_meta(cfg: Any, checkpoint: dict, scope: str) -> Dict[str, Any]:
    meta = (checkpoint.get('meta') or {}).get('dataset_meta')
    if meta:
        return dict(meta)
    loader = cfg.get('test_dataloader') or cfg.get('val_dataloader') or {}
    dataset = loader.get('dataset') or {}
    while 'dataset' in dataset and 'metainfo' not in dataset:
        dataset = dataset['dataset']
    if dataset.get('metainfo'):
        return dict(dataset['metainfo'])
    if dataset.get('type'):
        from mmengine.registry import DATASETS, DefaultScope
        with DefaultScope.overwrite_default_scope(scope):
            cls = DATASETS.get(dataset['type'])
        if cls is not None and getattr(cls, 'METAINFO', None):
            return dict(cls.METAINFO)
    return {}


def _load_weights(model: nn.Module, checkpoint: str, config: str) -> dict:
    """Load ``checkpoint`` into ``model``, every key fitting; returns the checkpoint."""
    from ...engine.checkpoint import load_trusted_checkpoint
    try:
        ckpt = load_trusted_checkpoint(checkpoint, map_location='cpu')
    except Exception as e:  # noqa: BLE001  (any unreadable file is the user's input)
        raise DeployError(f'cannot load checkpoint {checkpoint}: {type(e).__name__}: '
                          f'{str(e).splitlines()[0] if str(e) else ""}') from e
    if not isinstance(ckpt, dict):
        raise DeployError(f'{checkpoint} is not a checkpoint (a {type(ckpt).__name__})')
    state = ckpt.get('state_dict', ckpt)
    state = {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state.items()}
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as e:  # tensors of another shape: another architecture
        lines = [ln.strip() for ln in str(e).splitlines() if 'size mismatch' in ln]
        first = lines[0] if lines else str(e).splitlines()[0]
        raise DeployError(f'checkpoint {checkpoint} does not fit the model of {config}: '
                          f'{len(lines) or "some"} tensor(s) of another shape ({first})'
                          ) from None
    if result.missing_keys or result.unexpected_keys:
        def some(keys: List[str]) -> str:
            return ', '.join(keys[:3]) + (', ...' if len(keys) > 3 else '')
        parts = []
        if result.missing_keys:
            parts.append(f'{len(result.missing_keys)} missing keys ({some(result.missing_keys)})')
        if result.unexpected_keys:
            parts.append(f'{len(result.unexpected_keys)} unexpected keys '
                         f'({some(result.unexpected_keys)})')
        raise DeployError(f'checkpoint {checkpoint} does not fit the model of {config}: '
                          + '; '.join(parts))
    return ckpt


def load_deploy_model(config: str,
                      checkpoint: str,
                      cfg_options: Optional[Dict[str, Any]] = None,
                      device: str = 'cpu') -> DeployModel:
    """Build the model of ``config``, load ``checkpoint`` and make its codec ready to code.

    The checkpoint must fit the model exactly (missing or unexpected keys are an error: a
    deployed codec with untrained parts would silently code garbage). It is loaded with the
    scoped ``weights_only`` allow-list of :func:`mmdicm.engine.load_trusted_checkpoint`, so
    Runner checkpoints load under torch >= 2.6. Entropy tables come from the checkpoint
    (``EntropyUpdateHook`` saves them); only if it has none are they computed with
    ``update()``.

    Args:
        config (str): mmdet or mmpretrain config whose backbone is a ``DICMResNet`` with a
            codec; its ``default_scope`` selects the registry.
        checkpoint (str): Checkpoint file (a Runner checkpoint or a bare state dict).
        cfg_options (dict, optional): ``--cfg-options`` overrides.
        device (str): Defaults to ``'cpu'``.

    Returns:
        DeployModel

    Raises:
        DeployError: Missing files, a config without scope or codec, a checkpoint that does
            not fit.
    """
    from mmengine.config import Config
    from mmengine.registry import MODELS, DefaultScope

    from ...models import DICMResNet

    if not osp.isfile(config):
        raise DeployError(f'config file not found: {config}')
    if not osp.isfile(checkpoint):
        raise DeployError(f'checkpoint not found: {checkpoint}')
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    scope = cfg.get('default_scope')
    if not scope:
        raise DeployError(f'{config} sets no default_scope (mmdet or mmpretrain); add one or '
                          'pass --cfg-options default_scope=mmdet')
    if cfg.get('data_preprocessor') is not None:  # mmpretrain's place: the Runner merges it
        cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    with DefaultScope.overwrite_default_scope(scope):
        model = MODELS.build(cfg.model)
    task = _task_of(model)
    backbone = getattr(model, 'backbone', None)
    if not isinstance(backbone, DICMResNet) or backbone.codec is None or \
            backbone.codec.net is None:
        raise DeployError(f'{config}: the model backbone must be a DICMResNet with a codec '
                          f'(compression network included), got {type(backbone).__name__}')

    ckpt = _load_weights(model, checkpoint, config)
    model.to(device).eval()
    tables_computed = bool(backbone.update(force=False))
    return DeployModel(model=model, cfg=cfg, scope=scope, task=task,
                       dataset_meta=_dataset_meta(cfg, ckpt, scope), config_path=config,
                       checkpoint_path=checkpoint, tables_computed=tables_computed)
