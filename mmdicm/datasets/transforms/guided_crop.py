"""Semantic-guided crop for DICM's contrastive pre-training, and the box store behind it.

ContrastiveCrop (Peng et al., "Crafting Better Contrastive Views for Siamese Representation
Learning", CVPR 2022), as DICM uses it for MoCo v2: every image has a box around its object,
computed from the backbone's own heatmap (:mod:`mmdicm.models.selfsup.guidance`) and refreshed
during training (:class:`~mmdicm.engine.hooks.semantic_box_hook.SemanticBoxHook`). A positive view is a
RandomResizedCrop whose *centre* is drawn from Beta(α, α) inside that box
(:class:`SemanticGuidedCrop`); the boxes live in shared memory (:class:`SemanticBoxStore`),
so running dataloader workers see every refresh.
"""
import math
from typing import Dict, Optional, Sequence, Tuple, Union

import mmcv
import numpy as np
import torch
from mmcv.transforms.utils import cache_randomness
from mmengine.registry import TRANSFORMS
from mmpretrain.datasets.transforms import RandomResizedCrop

__all__ = ['SemanticBoxStore', 'SemanticGuidedCrop', 'get_box_store']

#: boxes of one training run, shared by name between transforms and the hook (main process)
_STORES: Dict[str, 'SemanticBoxStore'] = {}


class SemanticBoxStore:
    """Per-sample normalised boxes in shared memory, visible to running dataloader workers.

    Boxes are ``(x1, y1, x2, y2)`` in [0, 1] (``x1, y1`` inclusive, ``x2, y2`` exclusive, the
    whole image is ``(0, 0, 1, 1)``); a NaN row means "no box". The state tensor holds
    ``(ready, epoch)``: whether boxes have been written, and the training epoch (0-based,
    before which) they were computed.

    Dataloader workers hold copies of the dataset (forked or spawned, and kept alive across
    epochs with ``persistent_workers=True``), so the boxes live here: an ``(N, 4)`` float
    tensor plus a small state tensor, both in shared memory (``share_memory_()``). The store
    is allocated in the main process before the workers start (the hook does it in
    ``before_train``), reaches the workers with the dataset (inherited by fork; by spawn,
    torch's multiprocessing pickler passes shared tensors by handle, not by value) and is
    only ever written *in place*, so an update in the main process is seen by workers that
    are already running. The store is found by name (:func:`get_box_store`): the transform
    and the hook of one config share ``'default'`` unless told otherwise. Copying a store
    (``copy``/``deepcopy``) returns the store itself: a private copy would silently stop
    seeing updates. A store that is not ``ready`` has no boxes at all.

    Args:
        name (str): Name under which :func:`get_box_store` finds it.

    Example:
        >>> store = SemanticBoxStore('doc')
        >>> store.allocate(3)
        >>> store.lookup(0) is None, store.ready
        (True, False)
        >>> store.update(torch.tensor([[.25, .5, .75, 1.]] * 3), epoch=20)
        >>> store.lookup(2), store.epoch
        ((0.25, 0.5, 0.75, 1.0), 20)
    """

    def __init__(self, name: str = 'default') -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f'store name must be a non-empty str, got {name!r}')
        self.name = name
        self._boxes: Optional[torch.Tensor] = None
        self._state: Optional[torch.Tensor] = None
        #: number of SemanticGuidedCrop transforms built on this store (main process)
        self.num_readers = 0

    # copies would silently stop sharing: a store is a handle, copied by reference
    def __copy__(self) -> 'SemanticBoxStore':
        return self

    def __deepcopy__(self, memo: dict) -> 'SemanticBoxStore':
        return self

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(name={self.name!r}, num_samples={self.num_samples}, '
                f'ready={self.ready}, epoch={self.epoch})')

    # ------------------------------------------------------------------ main process
    def allocate(self, num_samples: int) -> None:
        """(Re)create empty shared tensors for ``num_samples`` samples: no boxes, not ready.

        Call it in the main process *before* the dataloader workers start: workers started
        earlier keep the old tensors.
        """
        if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
            raise ValueError(f'num_samples must be a positive int, got {num_samples!r}')
        self._boxes = torch.full((num_samples, 4), float('nan')).share_memory_()
        self._state = torch.zeros(2, dtype=torch.int64).share_memory_()

    @property
    def allocated(self) -> bool:
        return self._boxes is not None

    @property
    def num_samples(self) -> int:
        return 0 if self._boxes is None else self._boxes.shape[0]

    @property
    def ready(self) -> bool:
        """True once boxes have been written (and not reset)."""
        return self._state is not None and bool(self._state[0])

    @property
    def epoch(self) -> int:
        """Epoch before which the current boxes were computed (-1 if not ready)."""
        return int(self._state[1]) if self.ready else -1

    @property
    def boxes(self) -> torch.Tensor:
        """A copy of the ``(N, 4)`` boxes (NaN rows: no box)."""
        self._check_allocated()
        return self._boxes.clone()

    def update(self, boxes: torch.Tensor, epoch: int = 0) -> None:
        """Write all boxes in place and mark the store ready.

        Args:
            boxes (Tensor): ``(N, 4)`` normalised boxes; each row finite with
                ``0 <= x1 < x2 <= 1`` and ``0 <= y1 < y2 <= 1``, or all NaN (no box).
            epoch (int): Training epoch the boxes are for (logged, saved). Defaults to 0.
        """
        self._check_allocated()
        boxes = torch.as_tensor(boxes, dtype=torch.float32).detach().cpu()
        if boxes.shape != self._boxes.shape:
            raise ValueError(f'boxes must have shape {tuple(self._boxes.shape)} (one row per '
                             f'sample), got {tuple(boxes.shape)}')
        nan = torch.isnan(boxes).all(dim=1)
        good = (torch.isfinite(boxes).all(dim=1) & (boxes[:, 0] >= 0) & (boxes[:, 1] >= 0)
                & (boxes[:, 0] < boxes[:, 2]) & (boxes[:, 1] < boxes[:, 3])
                & (boxes[:, 2] <= 1) & (boxes[:, 3] <= 1))
        if not bool((nan | good).all()):
            bad = torch.nonzero(~(nan | good))[:5, 0].tolist()
            raise ValueError(f'boxes must be normalised (x1, y1, x2, y2) with 0 <= x1 < x2 '
                             f'<= 1 and 0 <= y1 < y2 <= 1, or NaN rows; bad rows {bad}')
        self._state[0] = 0  # readers fall back while the rows change
        self._boxes.copy_(boxes)
        self._state[1] = int(epoch)
        self._state[0] = 1

    def reset(self) -> None:
        """Mark the store not ready (transforms fall back to RandomResizedCrop)."""
        if self._state is not None:
            self._state[0] = 0

    def state_dict(self) -> dict:
        """Boxes and state, for checkpoints."""
        return dict(boxes=self.boxes if self.allocated else None, ready=self.ready,
                    epoch=self.epoch)

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict` into the allocated store (sizes must match)."""
        if state.get('boxes') is None or not state.get('ready', False):
            self.reset()
            return
        self.update(state['boxes'], epoch=state.get('epoch', 0))

    def _check_allocated(self) -> None:
        if self._boxes is None:
            raise RuntimeError(f'box store {self.name!r} is not allocated: call '
                               'allocate(len(dataset)) in the main process before the '
                               'dataloader workers start (SemanticBoxHook does it)')

    # ------------------------------------------------------------------ any process
    def lookup(self, index: int) -> Optional[Tuple[float, float, float, float]]:
        """The box of sample ``index``, or None (not allocated, not ready, or no box)."""
        if self._boxes is None or not bool(self._state[0]):
            return None
        if not 0 <= index < self._boxes.shape[0]:
            raise IndexError(f'sample index {index} out of range for box store {self.name!r} '
                             f'of {self._boxes.shape[0]} samples (a different dataset?)')
        box = tuple(self._boxes[index].tolist())
        if not all(math.isfinite(v) for v in box):
            return None
        return box


def get_box_store(name: str = 'default') -> SemanticBoxStore:
    """The box store called ``name`` in this process, created on first use."""
    if name not in _STORES:
        _STORES[name] = SemanticBoxStore(name)
    return _STORES[name]


@TRANSFORMS.register_module()
class SemanticGuidedCrop(RandomResizedCrop):
    """RandomResizedCrop whose centre is drawn from Beta(α, α) inside the sample's semantic box.

    DICM's positive-view crop (ContrastiveCrop, CVPR 2022; see the module docstring)::

        box (normalised, per sample) ──► box in pixels ∩ centres that keep the crop in the image
        size, ratio ~ RandomResizedCrop ─┐        │
                                         ▼        ▼
                           centre = lo + (hi - lo) · Beta(α, α)   (x and y independently)
                                         │
                                         ▼
                             crop (inside the image) ─► resize to ``scale``

    Size and aspect ratio are drawn exactly as by mmpretrain's
    :class:`~mmpretrain.datasets.transforms.RandomResizedCrop`; then, per axis, the centre is
    ``lo + (hi - lo) * u`` with ``u ~ Beta(alpha, alpha)`` and ``[lo, hi]`` the box's extent
    clipped to the centres that keep the crop inside the image (as ContrastiveCrop does), so
    the crop never leaves the image and, when no clipping happens, the centre's position
    inside the box is exactly Beta-distributed. With α < 1 (the authors' 0.6) Beta is
    U-shaped: centres favour the box's borders, so the two views overlap less
    (ContrastiveCrop's "center-suppressed" sampling) while staying on the object. With no box
    for the sample (store not ready, or a NaN row; until the first refresh there are no
    boxes) it is RandomResizedCrop, bit for bit (same parameters, same random stream).

    The sample's row is ``results['sample_idx']``, which mmengine's
    ``BaseDataset.get_data_info`` sets to the dataset index (every mmpretrain dataset,
    ``CustomDataset`` and ``ImageNet`` included). With ``RepeatDataset`` /
    ``ClassBalancedDataset`` it is the index in the wrapped dataset, which is what the hook
    stores; ``ConcatDataset`` is not supported (its parts' indices collide).

    **Required Keys:** img, sample_idx (once boxes exist)

    **Modified Keys:** img, img_shape

    **Added Keys:** semantic_box (the normalised box used, or None), crop_bbox (the crop in
    the input image, ``(x1, y1, x2, y2)`` pixels, x2/y2 exclusive)

    Args:
        scale (int | Sequence[int]): Output size (an int: square; a pair: ``(h, w)``), as
            RandomResizedCrop.
        crop_ratio_range (tuple[float, float]): Range of the crop's area relative to the
            image. Defaults to (0.08, 1.0); MoCo v2 uses (0.2, 1.0).
        aspect_ratio_range (tuple[float, float]): Range of the crop's aspect ratio.
            Defaults to (3/4, 4/3).
        max_attempts (int): Size draws before the central-crop fallback. Defaults to 10.
        interpolation (str): Resize interpolation. Defaults to 'bilinear'.
        backend (str): ``'cv2'`` or ``'pillow'``. Defaults to 'cv2'.
        alpha (float): Beta(α, α) parameter, > 0; 1 is uniform in the box, < 1 favours its
            borders. Defaults to 0.6 (the authors' value).
        store (str): Name of the :class:`SemanticBoxStore` to read. Defaults to 'default'
            (:class:`~mmdicm.engine.hooks.semantic_box_hook.SemanticBoxHook`'s default).

    Example:
        >>> view_pipeline = [
        ...     dict(type='SemanticGuidedCrop', scale=224, crop_ratio_range=(0.2, 1.),
        ...          alpha=0.6, backend='pillow'),
        ...     dict(type='RandomFlip', prob=0.5)]
    """

    def __init__(self,
                 scale: Union[Sequence, int],
                 crop_ratio_range: Tuple[float, float] = (0.08, 1.0),
                 aspect_ratio_range: Tuple[float, float] = (3. / 4., 4. / 3.),
                 max_attempts: int = 10,
                 interpolation: str = 'bilinear',
                 backend: str = 'cv2',
                 alpha: float = 0.6,
                 store: str = 'default') -> None:
        super().__init__(scale, crop_ratio_range=crop_ratio_range,
                         aspect_ratio_range=aspect_ratio_range, max_attempts=max_attempts,
                         interpolation=interpolation, backend=backend)
        if not 0 < crop_ratio_range[0] <= crop_ratio_range[1] <= 1:
            raise ValueError(f'crop_ratio_range must satisfy 0 < min <= max <= 1, got '
                             f'{crop_ratio_range}')
        if not 0 < aspect_ratio_range[0] <= aspect_ratio_range[1]:
            raise ValueError(f'aspect_ratio_range must satisfy 0 < min <= max, got '
                             f'{aspect_ratio_range}')
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not (
                math.isfinite(alpha) and alpha > 0):
            raise ValueError(f'alpha must be a finite number > 0 (Beta(alpha, alpha)), got '
                             f'{alpha!r}')
        self.alpha = float(alpha)
        self.store = get_box_store(store)
        self.store.num_readers += 1

    @cache_randomness
    def guided_crop_params(self, img: np.ndarray,
                           box: Sequence[float]) -> Tuple[int, int, int, int]:
        """``(offset_h, offset_w, target_h, target_w)`` of a crop centred by Beta in ``box``.

        Args:
            img (ndarray): The image (only its ``(h, w)`` is used).
            box (Sequence[float]): Normalised ``(x1, y1, x2, y2)``.
        """
        h, w = img.shape[:2]
        area = h * w
        log_ratio = (math.log(self.aspect_ratio_range[0]),
                     math.log(self.aspect_ratio_range[1]))
        for _ in range(self.max_attempts):
            target_area = np.random.uniform(*self.crop_ratio_range) * area
            aspect_ratio = math.exp(np.random.uniform(*log_ratio))
            target_w = int(round(math.sqrt(target_area * aspect_ratio)))
            target_h = int(round(math.sqrt(target_area / aspect_ratio)))
            if 0 < target_w <= w and 0 < target_h <= h:
                u_x, u_y = np.random.beta(self.alpha, self.alpha, size=2)
                offset_w = self._guided_offset(box[0] * w, box[2] * w, target_w, w, u_x)
                offset_h = self._guided_offset(box[1] * h, box[3] * h, target_h, h, u_y)
                return offset_h, offset_w, target_h, target_w
        return self._central_crop(h, w)

    @staticmethod
    def _guided_offset(b1: float, b2: float, size: int, length: int, u: float) -> int:
        """Crop offset whose centre is ``u`` of the way through the box's feasible extent."""
        half = size / 2.
        lo = min(max(b1, half), length - half)
        hi = min(max(b2, half), length - half)
        centre = lo + (hi - lo) * float(u)
        return min(max(int(math.floor(centre - half + 0.5)), 0), length - size)

    def _central_crop(self, h: int, w: int) -> Tuple[int, int, int, int]:
        """RandomResizedCrop's fallback after ``max_attempts`` failed draws."""
        in_ratio = float(w) / float(h)
        if in_ratio < min(self.aspect_ratio_range):
            target_w, target_h = w, int(round(w / min(self.aspect_ratio_range)))
        elif in_ratio > max(self.aspect_ratio_range):
            target_w, target_h = int(round(h * max(self.aspect_ratio_range))), h
        else:
            target_w, target_h = w, h
        return (h - target_h) // 2, (w - target_w) // 2, target_h, target_w

    def sample_box(self, results: dict) -> Optional[Tuple[float, float, float, float]]:
        """The sample's normalised box, or None before the boxes exist."""
        if not self.store.ready:
            return None
        if 'sample_idx' not in results:
            raise KeyError('SemanticGuidedCrop needs results["sample_idx"] to find the '
                           "sample's box (mmengine's BaseDataset sets it); got keys "
                           f'{sorted(results)}')
        return self.store.lookup(int(results['sample_idx']))

    def transform(self, results: dict) -> dict:
        """Crop ``results['img']`` (guided if the sample has a box) and resize to ``scale``."""
        img = results['img']
        box = self.sample_box(results)
        if box is None:
            offset_h, offset_w, target_h, target_w = self.rand_crop_params(img)
        else:
            offset_h, offset_w, target_h, target_w = self.guided_crop_params(img, box)
        crop = (offset_w, offset_h, offset_w + target_w, offset_h + target_h)
        # mmcv.imcrop's boxes are inclusive; RandomResizedCrop.transform crops the same way
        results = self._crop_and_resize(results, crop)
        results['semantic_box'] = box
        results['crop_bbox'] = np.array(crop, dtype=np.int64)
        return results

    def _crop_and_resize(self, results: dict, crop: Tuple[int, int, int, int]) -> dict:
        x1, y1, x2, y2 = crop
        img = mmcv.imcrop(results['img'], bboxes=np.array([x1, y1, x2 - 1, y2 - 1]))
        img = mmcv.imresize(img, tuple(self.scale[::-1]), interpolation=self.interpolation,
                            backend=self.backend)
        results['img'] = img
        results['img_shape'] = img.shape
        return results

    def __repr__(self) -> str:
        return (super().__repr__()[:-1] + f', alpha={self.alpha}, store={self.store.name!r})')

