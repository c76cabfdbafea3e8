"""``init_cfg=dict(type='DICMPretrained', ...)``: mmengine's ``Pretrained`` for Runner checkpoints.

A backbone pre-trained by DICM's SSL stages is saved by mmengine's Runner, whose checkpoints
carry a ``message_hub`` (``HistoryBuffer``, numpy scalars). Under torch >= 2.6
(``weights_only=True`` by default) mmengine's stock ``init_cfg=dict(type='Pretrained', ...)``
cannot load them (``UnpicklingError: Weights only load failed``) -- the same problem
:class:`~mmdicm.engine.DICMRunner` solves for ``load_from``/``resume``. ``DICMPretrained`` is
``Pretrained`` (same arguments: ``checkpoint``, ``prefix``, ``map_location``) run inside
:func:`~mmdicm.engine.mmengine_checkpoint_globals`, the scoped allow-list of the few classes
such a checkpoint holds; every other global is still refused::

    # a detector's backbone from the stage-4 MoCo checkpoint (keys backbone.*)
    model = dict(backbone=dict(init_cfg=dict(
        type='DICMPretrained', prefix='backbone.',
        checkpoint='work_dirs/stage4_codec_r50_8xb4-adamw-coslr-20e_in1k/epoch_20.pth')))
"""
from mmengine.model.weight_init import PretrainedInit
from mmengine.registry import WEIGHT_INITIALIZERS

from .checkpoint import mmengine_checkpoint_globals

__all__ = ['DICMPretrainedInit']


@WEIGHT_INITIALIZERS.register_module(name='DICMPretrained')
class DICMPretrainedInit(PretrainedInit):
    """mmengine's :class:`~mmengine.model.PretrainedInit` that loads Runner checkpoints.

    Args:
        checkpoint (str): Checkpoint file (any scheme mmengine knows).
        prefix (str, optional): Load only the keys starting with it, stripped (e.g.
            ``'backbone.'`` for a backbone from a whole-model checkpoint). Defaults to None.
        map_location (str): Defaults to 'cpu'.
    """

    def __call__(self, module) -> None:
        with mmengine_checkpoint_globals():
            super().__call__(module)

    def _get_init_info(self) -> str:
        return f'{self.__class__.__name__}: load from {self.checkpoint}'
