"""``DICMRunner``: mmengine's Runner whose checkpoint loading works under torch >= 2.6."""
from typing import Callable, Union

from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from .checkpoint import mmengine_checkpoint_globals

__all__ = ['DICMRunner']


@RUNNERS.register_module()
class DICMRunner(Runner):
    """mmengine :class:`~mmengine.runner.Runner` that can load its own checkpoints again.

    Identical to the stock Runner except that :meth:`load_checkpoint` (used by ``load_from``,
    ``resume=True`` and ``--resume``) runs inside :func:`mmengine_checkpoint_globals`, which
    allow-lists for that load only the few classes mmengine checkpoints carry. Select it with
    ``runner_type = 'DICMRunner'`` in a config (mmdicm's configs do); mmdet's and mmpretrain's
    stock ``tools/train.py`` honour that key.
    """

    def load_checkpoint(self,
                        filename: str,
                        map_location: Union[str, Callable] = 'cpu',
                        strict: bool = False,
                        revise_keys: list = [(r'^module.', '')]):  # noqa: B006 (mmengine's API)
        with mmengine_checkpoint_globals():
            return super().load_checkpoint(
                filename, map_location=map_location, strict=strict, revise_keys=revise_keys)
