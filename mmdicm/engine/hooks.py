"""Training hooks: the rate terms and fresh entropy tables for stock detectors and classifiers.

DICM trains ``task loss + λ·bpp`` (plus the entropy models' aux loss), but a stock mmdet
detector or mmpretrain classifier only knows its task loss. These hooks add the rest without
touching the model class:

``RateLossHook``
    At ``before_train`` it finds every codec module of the (unwrapped) model -- anything with
    ``codec``, ``last_likelihoods`` and ``last_num_pixels``, i.e.
    :class:`~mmdicm.models.DICMResNet` and :class:`~mmdicm.models.DICMCodecNeck` -- and
    registers a torch forward hook on the model. When a forward ran with ``mode='loss'`` the
    model returns its loss dict; the hook extends it::

        loss_rate    = lambda_rate * bpp       bpp    = bits(y) + bits(z) per input pixel
        loss_rate_re = lambda_re   * bpp_re    bpp_re = bits(RE latent) per input pixel
        loss_aux     = aux_weight  * Σ codec.aux_loss()        (CompressAI's quantile loss)
        bpp, bpp_re                            (detached; logged, not optimised)

    mmengine's ``BaseModel.parse_losses`` sums every entry whose key contains ``'loss'`` into
    the optimised loss and logs all entries, so ``bpp``/``bpp_re`` appear in the logs (as
    ``train/bpp`` in the message hub) without being optimised. It logs that sum as ``loss``,
    *then* every entry by its own key: an entry named exactly ``'loss'`` (mmpretrain's
    ``ClsHead`` and ``MoCo`` name theirs so) overwrites the logged total, which then leaves
    out the rate terms. The hook therefore renames such an entry ``loss_task``: the logged
    ``loss`` is the optimised total, ``loss_task`` + ``loss_rate`` + ``loss_aux``, as a
    detector's ``loss_cls`` + ``loss_bbox`` + ... + ``loss_rate`` + ``loss_aux``. A term whose weight is 0 is not
    added. ``bpp`` is only the transmitted latents: the RE latent is a training constraint on
    the edge features, not a bitstream, so it is kept apart (``lambda_re``, default 0).
    Under DDP the wrapper's ``train_step`` calls the inner model's forward, so the hook runs
    inside the DDP forward and the aux loss reaches the quantiles through the output.
    With ``aux_weight=0`` the quantiles get no gradient; DDP then needs
    ``find_unused_parameters=True``.

``EntropyUpdateHook``
    Calls ``codec.update(force=True)`` before every validation and test epoch and when a
    checkpoint is saved, so real coding and checkpoints always carry tables that match the
    weights. mmengine builds the checkpoint's ``state_dict`` *before* calling
    ``before_save_checkpoint``, and CompressAI's ``update()`` replaces the table buffers, so
    the hook writes the refreshed codec buffers into ``checkpoint['state_dict']`` itself.
    Nothing is needed after loading: the tables are buffers, saved with the weights, and
    mmdicm's entropy models resize their buffers to the checkpoint's on load
    (:mod:`mmdicm.codec.entropy`).

The aux parameters (quantiles) get their own param group through the optimizer config, the
standard mmengine way. CompressAI names them ``...entropy_bottleneck.quantiles`` (its own
``configure_optimizers`` selects ``name.endswith('.quantiles')``); mmengine's
:class:`~mmengine.optim.DefaultOptimWrapperConstructor` matches a custom key as a substring of
the full parameter name, *longest key first*, so::

    optim_wrapper = dict(
        paramwise_cfg=dict(custom_keys={
            # mmdicm: the randomly initialised codec at a tenth of the task's SGD lr
            'backbone.codec': dict(lr_mult=0.1),
            # mmdicm: CompressAI's aux parameters: trained only by loss_aux, no weight decay
            'entropy_bottleneck.quantiles': dict(lr_mult=1.0, decay_mult=0.)}))

puts every entropy bottleneck's quantiles in their own param group(s) with no weight decay,
and the rest of the codec at lr x 0.1 (:data:`AUX_PARAM_KEY` is longer than
``'backbone.codec'``, so the quantiles match it first; ``'.quantiles'`` alone would lose to
``'backbone.codec'``). The task and rate losses never reach the quantiles (noise
quantisation in training ignores them) and the aux loss reaches only the quantiles
(CompressAI stops its gradient into the density model), so one optimizer with a separate
group trains what CompressAI's two optimizers train. Gradient clipping, if configured, sees
both together: the aux gradient then dominates the norm and starves the task (measured), so
mmdicm's configs do not clip.

Example config::

    custom_hooks = [
        dict(type='RateLossHook', lambda_rate=0.5),
        dict(type='EntropyUpdateHook'),
    ]

Extension point: :meth:`RateLossHook.loss_terms` returns the terms added to the loss dict;
later stages (feature distortion between f1 and f3, ...) override it in a subclass and
``update()`` the dict returned by ``super().loss_terms(...)``.
"""
import inspect
import math
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS

from ..codec.bitstream import unpack

__all__ = ['AUX_PARAM_KEY', 'BitstreamRecordHook', 'EntropyUpdateHook', 'RateLossHook',
           'find_codec_modules', 'likelihood_bpp', 'unwrap_model']

#: ``paramwise_cfg.custom_keys`` key matching CompressAI's aux parameters (longer than
#: ``'backbone.codec'``, so it wins mmengine's longest-key-first match)
AUX_PARAM_KEY = 'entropy_bottleneck.quantiles'

#: likelihood keys of the transmitted latents (the RE latent ``'re'`` is not transmitted)
TRANSMITTED = ('y', 'z')

#: the key ``BaseModel.parse_losses`` logs the optimised total under, and what
#: :class:`RateLossHook` renames a model's own loss of that name to
TOTAL_LOSS, TASK_LOSS = 'loss', 'loss_task'


def unwrap_model(model: nn.Module) -> nn.Module:
    """The model inside an mmengine model wrapper (DDP, FSDP, ...), else ``model``."""
    return model.module if is_model_wrapper(model) else model


def find_codec_modules(model: nn.Module) -> List[Tuple[str, nn.Module]]:
    """``(name, module)`` of every module with a codec and rate bookkeeping.

    Duck-typed: a module with a non-None ``codec`` and the ``last_likelihoods`` /
    ``last_num_pixels`` attributes (:class:`~mmdicm.models.DICMResNet`,
    :class:`~mmdicm.models.DICMCodecNeck`). A ``DICMResNet(codec=None)`` has no codec.
    """
    return [(name, m) for name, m in model.named_modules()
            if getattr(m, 'codec', None) is not None and hasattr(m, 'last_likelihoods')
            and hasattr(m, 'last_num_pixels')]


def likelihood_bpp(likelihoods: Dict[str, torch.Tensor], keys: Sequence[str],
                   num_pixels: int) -> Optional[torch.Tensor]:
    """Estimated bits per input pixel of the latents ``keys``: ``Σ -log2(lik) / num_pixels``.

    Returns None if none of ``keys`` is in ``likelihoods``.
    """
    present = [likelihoods[k] for k in keys if k in likelihoods]
    if not present:
        return None
    if num_pixels <= 0:
        raise RuntimeError(f'num_pixels must be positive to compute bpp, got {num_pixels}')
    return sum(torch.log2(lik).sum() for lik in present) / (-num_pixels)


def _check_weight(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f'{name} must be a non-negative number, got {value!r}')
    if not math.isfinite(value) or value < 0:
        raise ValueError(f'{name} must be a finite number >= 0, got {value!r}')
    return float(value)


@HOOKS.register_module()
class RateLossHook(Hook):
    """Add DICM's rate and aux losses to a stock model's loss dict (see the module docstring).

    Args:
        lambda_rate (float): Weight of the transmitted rate, ``loss_rate = lambda_rate * bpp``
            (the paper's λ; sweep it for a rate-accuracy curve).
        lambda_re (float): Weight of the RE latent's rate, ``loss_rate_re``. Defaults to 0
            (not added).
        aux_weight (float): Weight of the entropy models' quantile loss, ``loss_aux``.
            Defaults to 1.
    """

    priority = 'NORMAL'

    def __init__(self, lambda_rate: float, lambda_re: float = 0., aux_weight: float = 1.) -> None:
        self.lambda_rate = _check_weight('lambda_rate', lambda_rate)
        self.lambda_re = _check_weight('lambda_re', lambda_re)
        self.aux_weight = _check_weight('aux_weight', aux_weight)
        self._handles: List[Any] = []
        self._modules: List[Tuple[str, nn.Module]] = []
        self._seen: Dict[int, Any] = {}

    # ------------------------------------------------------------------ mmengine hook points
    def before_train(self, runner) -> None:
        self.attach(unwrap_model(runner.model))

    def after_train(self, runner) -> None:
        self.detach()

    def after_run(self, runner) -> None:
        self.detach()

    # ------------------------------------------------------------------ torch hooks
    def attach(self, model: nn.Module) -> None:
        """Find ``model``'s codec modules and hook its forward (replacing earlier hooks)."""
        self.detach()
        modules = find_codec_modules(model)
        if not modules:
            raise RuntimeError(
                f'RateLossHook found no codec module in {type(model).__name__}: expected a '
                'module with `codec`, `last_likelihoods` and `last_num_pixels` (DICMResNet or '
                'DICMCodecNeck with a codec). Remove the hook or add a codec to the model.')
        self._modules = modules
        self._handles = [
            model.register_forward_pre_hook(self._before_forward),
            model.register_forward_hook(self._after_forward, with_kwargs=True),
        ]

    def detach(self) -> None:
        """Remove the torch hooks (idempotent)."""
        for handle in self._handles:
            handle.remove()
        self._handles, self._modules, self._seen = [], [], {}

    def _before_forward(self, model: nn.Module, args: Tuple) -> None:
        # remember each module's likelihood dict to detect one that did not run this forward
        self._seen = {id(m): m.last_likelihoods for _, m in self._modules}

    def _after_forward(self, model: nn.Module, args: Tuple, kwargs: Dict[str, Any],
                       output: Any) -> Any:
        if not isinstance(output, dict) or _forward_mode(model, args, kwargs) != 'loss':
            return None
        for name, m in self._modules:
            if m.last_likelihoods is self._seen.get(id(m)):
                raise RuntimeError(
                    f'RateLossHook: codec module {name!r} ({type(m).__name__}) did not run in '
                    f'this {type(model).__name__} loss forward; its likelihoods are stale')
        terms = self.loss_terms(self._modules)
        if TOTAL_LOSS in output:  # mmpretrain: it would overwrite the logged total
            if TASK_LOSS in output:
                raise KeyError(f'RateLossHook: the model loss dict has both {TOTAL_LOSS!r} and '
                               f'{TASK_LOSS!r}')
            output = {(TASK_LOSS if k == TOTAL_LOSS else k): v for k, v in output.items()}
        clash = sorted(set(terms) & set(output))
        if clash:
            raise KeyError(f'RateLossHook: the model loss dict already has {clash}')
        output.update(terms)
        return output

    # ------------------------------------------------------------------ the terms
    def loss_terms(self, modules: Sequence[Tuple[str, nn.Module]]) -> Dict[str, torch.Tensor]:
        """Terms added to the loss dict of a ``mode='loss'`` forward.

        Rates of several codec modules add up (each is bits over the same input pixels).
        Override to add terms (e.g. feature distortion); keys containing ``'loss'`` are
        optimised, the others only logged.
        """
        bpp, bpp_re, aux = [], [], []
        for _, m in modules:
            lik, pixels = m.last_likelihoods, m.last_num_pixels
            for acc, keys in ((bpp, TRANSMITTED), (bpp_re, ('re', ))):
                value = likelihood_bpp(lik, keys, pixels)
                if value is not None:
                    acc.append(value)
            if self.aux_weight > 0:
                aux.append(m.codec.aux_loss())
        terms: Dict[str, torch.Tensor] = {}
        if bpp:
            total = sum(bpp)
            if self.lambda_rate > 0:
                terms['loss_rate'] = self.lambda_rate * total
            terms['bpp'] = total.detach()
        if bpp_re:
            total_re = sum(bpp_re)
            if self.lambda_re > 0:
                terms['loss_rate_re'] = self.lambda_re * total_re
            terms['bpp_re'] = total_re.detach()
        aux = [a for a in aux if isinstance(a, torch.Tensor) and a.requires_grad]
        if aux:
            terms['loss_aux'] = self.aux_weight * sum(aux)
        return terms


def _forward_mode(model: nn.Module, args: Tuple, kwargs: Dict[str, Any]) -> Any:
    """The ``mode`` a forward was called with (keyword, positional or default)."""
    if 'mode' in kwargs:
        return kwargs['mode']
    try:
        bound = inspect.signature(model.forward).bind(*args, **kwargs)
    except TypeError:
        return None
    bound.apply_defaults()
    return bound.arguments.get('mode')


@HOOKS.register_module()
class EntropyUpdateHook(Hook):
    """Refresh the entropy tables (``codec.update(force=True)``) whenever they are used or saved.

    Runs before every validation epoch, before every test epoch and in
    ``before_save_checkpoint``, where it also writes the refreshed codec buffers into the
    checkpoint being saved (mmengine collected its ``state_dict`` before the call). No-op for
    a model without codec modules.
    """

    priority = 'NORMAL'

    def before_val_epoch(self, runner) -> None:
        self.update(unwrap_model(runner.model))

    def before_test_epoch(self, runner) -> None:
        self.update(unwrap_model(runner.model))

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        model = unwrap_model(runner.model)
        modules = self.update(model)
        state = checkpoint.get('state_dict')
        if state is None:
            return
        for name, m in modules:
            prefix = f'{name}.codec' if name else 'codec'
            for key, buf in m.codec.named_buffers(prefix=prefix):
                if key in state:
                    state[key] = buf.detach().cpu()

    @staticmethod
    def update(model: nn.Module) -> List[Tuple[str, nn.Module]]:
        """``codec.update(force=True)`` on every codec module of ``model``; returns them."""
        modules = find_codec_modules(model)
        for _, m in modules:
            m.codec.update(force=True)
        return modules


@HOOKS.register_module()
class BitstreamRecordHook(Hook):
    """Tag each prediction with the size of its real bitstream (and optionally keep the files).

    During validation and test, when a codec module runs with ``real_coding=True`` (true
    rANS encode -> bytes -> decode, see :class:`~mmdicm.models.DICMResNet`), this hook
    registers a torch forward hook on the model; after every ``mode='predict'`` forward it
    writes into each returned data sample's metainfo::

        dicm_bits          8 x the container bytes of that image (summed over codec modules)
        dicm_payload_bits  8 x the entropy-coded bytes alone (no container header / CRC)

    which :class:`~mmdicm.evaluation.DICMBppMetric` turns into measured bpp next to the task
    metrics of the same pass. With ``out_dir`` the containers are also written, one
    ``<image stem>.dicm`` file per image (readable by ``DICMBitstream.read``). Without real
    coding the hook does nothing (the metric then says how to turn it on).

    Args:
        out_dir (str, optional): Folder for the containers of the *test* pass (relative paths
            are taken inside the runner's ``work_dir``). Validation never writes files.
            Defaults to None (sizes only).
    """

    priority = 'NORMAL'

    def __init__(self, out_dir: Optional[str] = None) -> None:
        if out_dir is not None and not isinstance(out_dir, str):
            raise TypeError(f'out_dir must be a str or None, got {type(out_dir).__name__}')
        self.out_dir = out_dir
        self._write_to: Optional[str] = None
        self._handles: List[Any] = []
        self._modules: List[Tuple[str, nn.Module]] = []
        self._seen: Dict[int, Any] = {}

    def before_val_epoch(self, runner) -> None:
        self.attach(unwrap_model(runner.model))

    def before_test_epoch(self, runner) -> None:
        out_dir = None
        if self.out_dir is not None:
            out_dir = os.path.join(runner.work_dir, self.out_dir)
            os.makedirs(out_dir, exist_ok=True)
        self.attach(unwrap_model(runner.model), out_dir)

    def after_val_epoch(self, runner, metrics=None) -> None:
        self.detach()

    def after_test_epoch(self, runner, metrics=None) -> None:
        if self._write_to is not None:
            runner.logger.info(f'bitstreams of the test pass written to {self._write_to}')
        self.detach()

    def attach(self, model: nn.Module, out_dir: Optional[str] = None) -> None:
        """Hook ``model``'s forward if it has a codec module with real coding on."""
        self.detach()
        self._modules = [(n, m) for n, m in find_codec_modules(model)
                         if getattr(m, 'real_coding', False)]
        if not self._modules:
            return
        self._write_to = out_dir
        self._handles = [
            model.register_forward_pre_hook(self._before_forward),
            model.register_forward_hook(self._after_forward, with_kwargs=True),
        ]

    def detach(self) -> None:
        """Remove the torch hooks (idempotent)."""
        for handle in self._handles:
            handle.remove()
        self._handles, self._modules, self._seen, self._write_to = [], [], {}, None

    def _before_forward(self, model: nn.Module, args: Tuple) -> None:
        self._seen = {id(m): m.last_bitstreams for _, m in self._modules}

    def _after_forward(self, model: nn.Module, args: Tuple, kwargs: Dict[str, Any],
                       output: Any) -> None:
        if _forward_mode(model, args, kwargs) != 'predict' or not isinstance(output, list):
            return
        bits, payload = [0] * len(output), [0] * len(output)
        for name, m in self._modules:
            streams = m.last_bitstreams
            if streams is self._seen.get(id(m)) or len(streams) != len(output):
                raise RuntimeError(
                    f'BitstreamRecordHook: codec module {name!r} produced '
                    f'{len(streams)} bitstreams for {len(output)} predictions in this forward')
            for i, data in enumerate(streams):
                bits[i] += 8 * len(data)
                payload[i] += 8 * unpack(data).payload_size
            if self._write_to is not None:
                for sample, data in zip(output, streams):
                    self._write(sample, data, name, len(self._modules) > 1)
        for sample, b, p in zip(output, bits, payload):
            sample.set_metainfo(dict(dicm_bits=b, dicm_payload_bits=p))

    def _write(self, sample: Any, data: bytes, module_name: str, tag_module: bool) -> None:
        path = sample.metainfo.get('img_path') or f"{sample.metainfo.get('img_id', 'image')}"
        stem = os.path.splitext(os.path.basename(str(path)))[0]
        if tag_module:
            stem = f'{stem}.{module_name}'
        with open(os.path.join(self._write_to, stem + '.dicm'), 'wb') as f:
            f.write(data)
