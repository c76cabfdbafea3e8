"""``BitstreamRecordHook``: each prediction tagged with the size of its real bitstream."""
import os
from typing import Any, Dict, Optional, Tuple

import torch.nn as nn
from mmengine.registry import HOOKS

from ...codec.bitstream import unpack
from .codec_hook import CodecForwardHook, find_codec_modules, forward_mode, unwrap_model

__all__ = ['BitstreamRecordHook']


@HOOKS.register_module()
class BitstreamRecordHook(CodecForwardHook):
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
    watched = 'last_bitstreams'

    def __init__(self, out_dir: Optional[str] = None) -> None:
        super().__init__()
        if out_dir is not None and not isinstance(out_dir, str):
            raise TypeError(f'out_dir must be a str or None, got {type(out_dir).__name__}')
        self.out_dir = out_dir
        self._write_to: Optional[str] = None

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
        modules = [(n, m) for n, m in find_codec_modules(model)
                   if getattr(m, 'real_coding', False)]
        if modules:
            self.hook_forward(model, modules)
            self._write_to = out_dir

    def detach(self) -> None:
        """Remove the torch hooks (idempotent)."""
        super().detach()
        self._write_to = None

    def _after_forward(self, model: nn.Module, args: Tuple, kwargs: Dict[str, Any],
                       output: Any) -> None:
        if forward_mode(model, args, kwargs) != 'predict' or not isinstance(output, list):
            return
        bits, payload = [0] * len(output), [0] * len(output)
        for name, m in self._modules:
            streams = m.last_bitstreams
            if not self.ran(m) or len(streams) != len(output):
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
