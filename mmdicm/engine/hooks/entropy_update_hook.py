"""``EntropyUpdateHook``: entropy tables that match the weights whenever they are used or saved."""
from typing import List, Tuple

import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from .codec_hook import find_codec_modules, unwrap_model

__all__ = ['EntropyUpdateHook']


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
