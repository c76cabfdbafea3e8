"""``SemanticBoxHook``: refresh the semantic boxes that guide DICM's contrastive crops.

Every ``interval`` epochs from ``start`` (the authors: 20 and 20) the model being trained
computes each training image's box on a plain view of the train dataset, into the shared
:class:`~mmdicm.datasets.transforms.SemanticBoxStore` every dataloader worker crops from;
boxes travel in checkpoints, and ranks share the work. Schedule, plain view and
distributed behaviour: ``docs/ssl.md``."""
import copy
import time
from typing import Any, Dict, List, Optional, Sequence, Union

import torch
import torch.nn as nn
from mmengine.dataset import (ClassBalancedDataset, Compose, ConcatDataset, RepeatDataset,
                              pseudo_collate)
from mmengine.dist import all_reduce, get_dist_info
from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from mmengine.runner import IterBasedTrainLoop
from mmpretrain.registry import TRANSFORMS as MMPRETRAIN_TRANSFORMS
from torch.utils.data import DataLoader, Dataset, Subset

from ...datasets.transforms import SemanticBoxStore, get_box_store
from ...models.selfsup.guidance import semantic_boxes
from ...utils import check_int
from .codec_hook import unwrap_model

__all__ = ['SemanticBoxHook', 'compute_semantic_boxes', 'get_attr_path']

#: checkpoint key of the saved boxes
CHECKPOINT_KEY = 'semantic_boxes'


def _image_size(value: Any) -> tuple:
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value, value)
    if (not isinstance(value, Sequence) or len(value) != 2 or any(
            isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in value)):
        raise ValueError(f'image_size must be a positive int or an (H, W) pair, got {value!r}')
    return tuple(value)


def get_attr_path(obj: Any, path: str) -> Any:
    """``obj.<path>`` for a dotted ``path`` (e.g. ``'encoder.backbone'``), with an error
    naming the missing attribute."""
    for name in path.split('.'):
        if not hasattr(obj, name):
            raise AttributeError(f'SemanticBoxHook: {type(obj).__name__} has no attribute '
                                 f'{name!r} (backbone={path!r})')
        obj = getattr(obj, name)
    return obj


def _base_dataset(dataset: Dataset) -> Dataset:
    """The dataset whose indices are ``results['sample_idx']`` (unwrap repeat/balance)."""
    while isinstance(dataset, (RepeatDataset, ClassBalancedDataset)):
        dataset = dataset.dataset
    if isinstance(dataset, (ConcatDataset, Subset)):
        raise TypeError(f'SemanticBoxHook does not support a {type(dataset).__name__} train '
                        'dataset: the sample_idx of its parts do not index one box store')
    return dataset


def _last_output(out: Any) -> torch.Tensor:
    if isinstance(out, (tuple, list)):
        out = out[-1]
    if not isinstance(out, torch.Tensor) or out.dim() != 4:
        raise TypeError('SemanticBoxHook needs a backbone returning an (N, C, h, w) tensor or '
                        f'a tuple of them, got {type(out).__name__}')
    return out


def _valid_sizes(data_samples: Any, n: int) -> Optional[torch.Tensor]:
    """``(N, 2)`` ``img_shape`` of each sample before batch padding, if all samples have it."""
    if not isinstance(data_samples, (list, tuple)) or len(data_samples) != n:
        return None
    sizes = []
    for sample in data_samples:
        shape = getattr(sample, 'img_shape', None) if hasattr(sample, 'metainfo') else None
        if shape is None:
            return None
        sizes.append(tuple(shape[:2]))
    return torch.tensor(sizes, dtype=torch.float64)


@torch.no_grad()
def compute_semantic_boxes(model: nn.Module,
                           dataset: Dataset,
                           indices: Sequence[int],
                           num_samples: int,
                           threshold: float = 0.1,
                           batch_size: int = 64,
                           num_workers: int = 0,
                           collate_fn: Any = pseudo_collate,
                           backbone: str = 'backbone',
                           logger: Any = None,
                           log_interval: int = 50) -> torch.Tensor:
    """Normalised semantic boxes of ``dataset[indices]``, in rows ``indices`` of an (N, 4).

    Args:
        model (nn.Module): The (unwrapped) model: ``data_preprocessor`` and ``backbone``.
        dataset (Dataset): Dataset with a plain, deterministic pipeline (see the module doc).
        indices (Sequence[int]): Samples to compute (this rank's shard).
        num_samples (int): N, the number of rows of the result.
        threshold (float): Heatmap threshold in [0, 1). Defaults to 0.1.
        batch_size (int): Images per forward. Defaults to 64.
        num_workers (int): Loader workers (not persistent). Defaults to 0.
        collate_fn: The train dataloader's collate function. Defaults to ``pseudo_collate``.
        backbone (str): Attribute path of the backbone in ``model``. Defaults to 'backbone'.
        logger: Logger for progress (``.info``), or None.
        log_interval (int): Batches between progress lines. Defaults to 50.

    Returns:
        Tensor: ``(N, 4)`` float32, zeros in rows not in ``indices``.
    """
    net = get_attr_path(model, backbone)
    preprocessor = getattr(model, 'data_preprocessor', None)
    if not callable(preprocessor):
        raise AttributeError(f'SemanticBoxHook: {type(model).__name__} has no '
                             'data_preprocessor to normalise the images')
    indices = list(indices)
    out = torch.zeros(num_samples, 4)
    loader = DataLoader(Subset(dataset, indices), batch_size=batch_size, shuffle=False,
                        num_workers=num_workers, collate_fn=collate_fn, drop_last=False)
    modes = {m: m.training for m in net.modules()}
    coding = [m for m in net.modules() if getattr(m, 'real_coding', False) is True]
    net.eval()
    for m in coding:
        m.real_coding = False
    try:
        start = 0
        for step, batch in enumerate(loader):
            data = preprocessor(batch, training=False)
            inputs = data['inputs']
            if not isinstance(inputs, torch.Tensor):
                raise TypeError('SemanticBoxHook: the plain-view batch must preprocess to '
                                f'one image tensor, got {type(inputs).__name__} (is the '
                                'hook pipeline multi-view?)')
            feats = _last_output(net(inputs))
            n = inputs.shape[0]
            boxes = semantic_boxes(feats, tuple(inputs.shape[-2:]), threshold,
                                   _valid_sizes(data.get('data_samples'), n))
            out[indices[start:start + n]] = boxes.cpu()
            start += n
            if logger is not None and ((step + 1) % log_interval == 0
                                       or step + 1 == len(loader)):
                logger.info(f'SemanticBoxHook: [{step + 1}/{len(loader)}] batches')
        if start != len(indices):
            raise RuntimeError(f'SemanticBoxHook: got {start} images for {len(indices)} '
                               'samples (does the plain-view pipeline drop samples?)')
    finally:
        for m, flag in modes.items():
            m.training = flag
        for m in coding:
            m.real_coding = True
    return out


@HOOKS.register_module()
class SemanticBoxHook(Hook):
    """Compute the semantic boxes of every training image every ``interval`` epochs.

    See the module docstring for the schedule, the plain view and distributed training.

    Args:
        interval (int): Epochs between refreshes. Defaults to 20 (the authors' value).
        start (int): First refresh before this 0-based epoch (i.e. after ``start`` finished
            epochs); plain RandomResizedCrop before it. Defaults to 20.
        threshold (float): Heatmap threshold in [0, 1). Defaults to 0.1.
        image_size (int | tuple[int, int]): ``(H, W)`` of the plain view. Defaults to 224.
        pipeline (list[dict], optional): The plain view's pipeline, replacing the default
            ``LoadImageFromFile -> Resize(image_size) -> PackInputs``; must not crop.
        batch_size (int): Images per forward. Defaults to 64.
        num_workers (int, optional): Workers of the box loader; None: the train
            dataloader's. Defaults to None.
        store (str): Name of the box store, as in the crop transforms. Defaults to 'default'.
        backbone (str): Attribute path of the backbone in the model. Defaults to 'backbone'
            (mmpretrain's MoCo).
        log_interval (int): Batches between progress lines. Defaults to 50.

    Example config::

        custom_hooks = [dict(type='SemanticBoxHook', interval=20, start=20, threshold=0.1)]
    """

    priority = 'NORMAL'

    def __init__(self,
                 interval: int = 20,
                 start: int = 20,
                 threshold: float = 0.1,
                 image_size: Union[int, Sequence[int]] = 224,
                 pipeline: Optional[List[dict]] = None,
                 batch_size: int = 64,
                 num_workers: Optional[int] = None,
                 store: str = 'default',
                 backbone: str = 'backbone',
                 log_interval: int = 50) -> None:
        self.interval = check_int('interval', interval, 1)
        self.start = check_int('start', start, 0)
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not (
                0. <= threshold < 1.):
            raise ValueError(f'threshold must be a float in [0, 1), got {threshold!r}')
        self.threshold = float(threshold)
        self.image_size = _image_size(image_size)
        h, w = self.image_size
        if pipeline is None:
            pipeline = [dict(type='LoadImageFromFile'),
                        dict(type='Resize', scale=(w, h), keep_ratio=False),
                        dict(type='PackInputs')]
        if not isinstance(pipeline, (list, tuple)) or not pipeline:
            raise ValueError(f'pipeline must be a non-empty list of transforms, got '
                             f'{pipeline!r}')
        self.pipeline = list(pipeline)
        self.batch_size = check_int('batch_size', batch_size, 1)
        self.num_workers = None if num_workers is None else check_int(
            'num_workers', num_workers, 0)
        if not isinstance(backbone, str) or not backbone:
            raise ValueError(f'backbone must be an attribute path, got {backbone!r}')
        self.backbone = backbone
        self.log_interval = check_int('log_interval', log_interval, 1)
        self.store: SemanticBoxStore = get_box_store(store)
        self._pending: Optional[Dict[str, Any]] = None
        self._plain_dataset: Optional[Dataset] = None

    # ------------------------------------------------------------------ schedule
    def should_refresh(self, epoch: int) -> bool:
        """Whether boxes are (re)computed before 0-based ``epoch``."""
        if epoch < self.start:
            return False
        return (epoch - self.start) % self.interval == 0 or not self.store.ready

    # ------------------------------------------------------------------ hook points
    def before_train(self, runner) -> None:
        if isinstance(runner.train_loop, IterBasedTrainLoop):
            raise TypeError('SemanticBoxHook refreshes boxes between epochs: use an '
                            'epoch-based train loop (train_cfg.by_epoch=True)')
        loader = runner.train_dataloader
        if getattr(loader, '_iterator', None) is not None:
            raise RuntimeError('SemanticBoxHook: the train dataloader already started its '
                               'persistent workers; they would never see the boxes')
        dataset = _base_dataset(loader.dataset)
        self.store.allocate(len(dataset))
        self._plain_dataset = None
        if self.store.num_readers == 0:
            runner.logger.warning(
                f'SemanticBoxHook: no SemanticGuidedCrop reads box store '
                f'{self.store.name!r}; the boxes will not guide any crop')
        pending, self._pending = self._pending, None
        if pending is not None and runner.epoch >= self.start:
            boxes = pending.get('boxes')
            if boxes is not None and tuple(boxes.shape) == (len(dataset), 4):
                self.store.load_state_dict(pending)
                runner.logger.info(f'SemanticBoxHook: restored the boxes of epoch '
                                   f'{self.store.epoch} from the checkpoint')
            else:
                runner.logger.warning('SemanticBoxHook: the checkpoint boxes do not match '
                                      'the train dataset; they will be recomputed')

    def before_train_epoch(self, runner) -> None:
        if self.should_refresh(runner.epoch):
            self.refresh(runner)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self.store.ready:
            checkpoint[CHECKPOINT_KEY] = self.store.state_dict()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        # the store is allocated in before_train, which comes after loading
        self._pending = checkpoint.get(CHECKPOINT_KEY)

    # ------------------------------------------------------------------ work
    def plain_dataset(self, dataset: Dataset) -> Dataset:
        """A shallow copy of ``dataset`` whose pipeline is the hook's plain view."""
        plain = copy.copy(_base_dataset(dataset))
        if not hasattr(plain, 'pipeline'):
            raise TypeError(f'SemanticBoxHook needs a dataset with a `pipeline` (mmengine '
                            f'BaseDataset), got {type(plain).__name__}')
        plain.pipeline = Compose([
            MMPRETRAIN_TRANSFORMS.build(t) if isinstance(t, dict) else t
            for t in self.pipeline
        ])
        # never substitute another sample for a failing one: rows must match indices
        plain.test_mode = True
        return plain

    def refresh(self, runner) -> None:
        """Recompute every training image's box and write them into the store."""
        if not self.store.allocated:
            raise RuntimeError('SemanticBoxHook.refresh before before_train allocated the '
                               'box store')
        loader = runner.train_dataloader
        if self._plain_dataset is None:
            self._plain_dataset = self.plain_dataset(loader.dataset)
        num = self.store.num_samples
        rank, world_size = get_dist_info()
        indices = range(rank, num, world_size)
        num_workers = (getattr(loader, 'num_workers', 0)
                       if self.num_workers is None else self.num_workers)
        runner.logger.info(f'SemanticBoxHook: computing the semantic boxes of {num} training '
                           f'images before epoch {runner.epoch} (threshold {self.threshold}, '
                           f'{len(indices)} on this rank)')
        t0 = time.time()
        boxes = compute_semantic_boxes(
            unwrap_model(runner.model), self._plain_dataset, indices, num,
            threshold=self.threshold, batch_size=self.batch_size, num_workers=num_workers,
            collate_fn=getattr(loader, 'collate_fn', None) or pseudo_collate,
            backbone=self.backbone, logger=runner.logger, log_interval=self.log_interval)
        if world_size > 1:
            all_reduce(boxes, op='sum')  # in place; each row was computed by one rank
        self.store.update(boxes, epoch=runner.epoch)
        area = ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))
        whole = (area >= 1. - 1e-6).float().mean()
        runner.logger.info(
            f'SemanticBoxHook: boxes updated in {time.time() - t0:.1f} s; mean box area '
            f'{area.mean():.3f} of the image, {100 * whole:.1f}% whole-image boxes')
