"""Training :mod:`~mmdicm.baselines.learned`'s ``mbt2018-mean`` from scratch for pixel MSE, on
a folder of images (the learned anchor of the rate sweep: same data and budget as DICM's
codec, no pretrained weights for either).

Loss (CompressAI's ``RateDistortionLoss``, the zoo's MSE training): ``λ · 255² · MSE(x̂, x) +
bpp``; the quantiles learn from the aux loss with their own Adam, as CompressAI's example
trainer does. The checkpoint holds the weights, fresh entropy tables and ``meta``.

Every tenth of a run (the steps it logs) its whole state (weights, both optimizers, both
random generators, the curve so far) is written next to the checkpoint as
``<out>.partial``: a run stopped mid-way (a session's end, a killed job) and started again
with the same arguments continues from there and ends with the same weights as one that
never stopped; the file goes once the checkpoint is written.
"""
import os
import os.path as osp
import time
from typing import Any, Callable, Dict, List, Optional

import numpy as np
import torch
from PIL import Image

from ..utils import check_int
from .learned import MeanScaleHyperprior, load_learned_codec

__all__ = ['train_learned_codec', 'train_learned_codecs', 'load_training_images']

_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp')


def load_training_images(image_dir: str, crop: int) -> List[np.ndarray]:
    """Every image of ``image_dir`` (sorted, RGB uint8) at least ``crop`` px on each side."""
    if not osp.isdir(image_dir):
        raise FileNotFoundError(f'training image folder not found: {image_dir}')
    names = sorted(n for n in os.listdir(image_dir) if n.lower().endswith(_EXTENSIONS))
    images = []
    for name in names:
        with Image.open(osp.join(image_dir, name)) as im:
            img = np.asarray(im.convert('RGB'))
        if min(img.shape[:2]) >= crop:
            images.append(img)
    if not images:
        raise ValueError(f'no image of at least {crop}x{crop} px in {image_dir} '
                         f'({len(names)} image files)')
    return images


def _batch(images: List[np.ndarray], size: int, crop: int,
           rng: np.random.Generator) -> torch.Tensor:
    """Random crops with random horizontal flips, (size, 3, crop, crop) in [0, 1]."""
    out = np.empty((size, crop, crop, 3), dtype=np.uint8)
    for i in range(size):
        img = images[int(rng.integers(len(images)))]
        y = int(rng.integers(img.shape[0] - crop + 1))
        x = int(rng.integers(img.shape[1] - crop + 1))
        patch = img[y:y + crop, x:x + crop]
        out[i] = patch[:, ::-1] if rng.random() < 0.5 else patch
    return torch.from_numpy(out).permute(0, 3, 1, 2).float() / 255.


def _step(model: MeanScaleHyperprior, x: torch.Tensor, lmbda: float,
          optimizer: torch.optim.Optimizer, aux_optimizer: torch.optim.Optimizer
          ) -> Dict[str, float]:
    out = model(x)
    num_pixels = x.size(0) * x.size(2) * x.size(3)
    bpp = sum(torch.log(lk).sum() for lk in out['likelihoods'].values()) / (
        -np.log(2) * num_pixels)
    mse = torch.mean((out['x_hat'] - x)**2)
    loss = lmbda * 255**2 * mse + bpp
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(
        [p for n, p in model.named_parameters() if not n.endswith('quantiles')], 1.0)
    optimizer.step()
    aux = model.aux_loss()
    aux_optimizer.zero_grad()
    aux.backward()
    aux_optimizer.step()
    return dict(loss=loss.item(), bpp=bpp.item(),
                psnr=float(-10 * torch.log10(mse.detach().clamp_min(1e-10))), aux=aux.item())


def _partial_path(out: str) -> str:
    return out + '.partial'


def _load_partial(path: str, run: Dict[str, Any], log: Callable[[str], None]
                  ) -> Optional[Dict[str, Any]]:
    """The state a stopped run of the same arguments left, or None (none, another run's,
    unreadable: those start over)."""
    if not osp.isfile(path):
        return None
    try:
        state = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:  # noqa: BLE001  (a file cut short by the kill: start over)
        log(f'[mbt2018-mean] ignoring unreadable {path} ({type(e).__name__}: {e})')
        return None
    if state.get('run') != run:
        log(f'[mbt2018-mean] ignoring {path}: left by a run with other arguments')
        return None
    return state


def train_learned_codec(image_dir: str,
                        out: str,
                        lmbda: float,
                        iters: int = 2000,
                        batch_size: int = 8,
                        crop: int = 128,
                        lr: float = 1e-4,
                        N: int = 128,
                        M: int = 192,
                        warm_start: Optional[str] = None,
                        seed: int = 0,
                        log: Callable[[str], None] = print) -> Dict[str, Any]:
    """Train ``mbt2018-mean`` on the images of ``image_dir``; write the checkpoint ``out``.

    Args:
        image_dir (str): Folder of training images (RGB; smaller than ``crop`` are skipped).
        out (str): Checkpoint to write (``q<k>.pth`` in a codec's ``checkpoint_dir``).
        lmbda (float): Rate-distortion trade-off (CompressAI's MSE λ, 0.0018 .. 0.0483 for
            the zoo's qualities 1 .. 8).
        iters (int): Optimizer steps. Defaults to 2000.
        batch_size (int): Crops per step. Defaults to 8.
        crop (int): Crop side in px (a multiple of 64). Defaults to 128.
        lr (float): Adam learning rate. Defaults to 1e-4.
        N (int): Hyper-latent / hidden channels (zoo qualities 1-5: 128). Defaults to 128.
        M (int): Latent channels (zoo qualities 1-5: 192). Defaults to 192.
        warm_start (str, optional): A checkpoint of the same widths to start from (the sweep
            warm-starts each λ from the previous one, as DICM's codec). Defaults to None.
        seed (int): Seed of the weights and the crops. Defaults to 0.
        log (callable): Progress lines (every 10 % of the steps, when the run's state is
            also saved to ``<out>.partial``). Defaults to ``print``.

    Returns:
        dict: ``checkpoint`` (``out``), ``meta`` (what the checkpoint records) and
        ``curve`` (``[(step, bpp, psnr)]`` of the logged steps).
    """
    check_int('iters', iters)
    check_int('batch_size', batch_size)
    check_int('crop', crop)
    if crop % 64:
        raise ValueError(f'crop must be a multiple of 64 (the codec\'s stride), got {crop}')
    if not lmbda > 0:
        raise ValueError(f'lmbda must be > 0, got {lmbda}')
    images = load_training_images(image_dir, crop)
    torch.manual_seed(seed)
    model = MeanScaleHyperprior(N=N, M=M)
    if warm_start is not None:
        start, meta = load_learned_codec(warm_start)
        if (int(meta['N']), int(meta['M'])) != (N, M):
            raise ValueError(f'warm_start {warm_start} has widths N={meta["N"]}, '
                             f'M={meta["M"]}; this run N={N}, M={M}')
        model.load_state_dict(start.state_dict())
    model.train()
    main = [p for n, p in model.named_parameters() if not n.endswith('quantiles')]
    optimizer = torch.optim.Adam(main, lr=lr)
    aux_optimizer = torch.optim.Adam(
        [p for n, p in model.named_parameters() if n.endswith('quantiles')], lr=1e-3)
    rng = np.random.default_rng(seed)
    curve, t0, first = [], time.perf_counter(), 1
    # what must match for a stopped run's state to be continued
    run = dict(image_dir=osp.abspath(image_dir), num_images=len(images), lmbda=float(lmbda),
               iters=iters, batch_size=batch_size, crop=crop, lr=float(lr), N=N, M=M,
               warm_start=warm_start, seed=seed)
    partial = _partial_path(out)
    state = _load_partial(partial, run, log)
    if state is not None:
        model.load_state_dict(state['model'])
        optimizer.load_state_dict(state['optimizer'])
        aux_optimizer.load_state_dict(state['aux_optimizer'])
        rng.bit_generator.state = state['numpy_rng']
        torch.set_rng_state(state['torch_rng'])
        curve, first = [tuple(c) for c in state['curve']], state['step'] + 1
        log(f'[mbt2018-mean λ={lmbda}] resuming at step {first} of {iters} from {partial}')
    every = max(1, iters // 10)
    for step in range(first, iters + 1):
        stats = _step(model, _batch(images, batch_size, crop, rng), lmbda, optimizer,
                      aux_optimizer)
        if step % every == 0 or step == iters:
            curve.append((step, stats['bpp'], stats['psnr']))
            if step < iters:
                _save(dict(run=run, step=step, curve=curve, model=model.state_dict(),
                           optimizer=optimizer.state_dict(),
                           aux_optimizer=aux_optimizer.state_dict(),
                           numpy_rng=rng.bit_generator.state,
                           torch_rng=torch.get_rng_state()), partial)
            log(f'[mbt2018-mean λ={lmbda}] {step}/{iters} bpp {stats["bpp"]:.3f} '
                f'psnr {stats["psnr"]:.2f} dB aux {stats["aux"]:.1f} '
                f'({time.perf_counter() - t0:.0f} s)')
    model.eval().update(force=True)
    meta = dict(architecture='mbt2018-mean', N=N, M=M, lmbda=float(lmbda), iters=iters,
                batch_size=batch_size, crop=crop, lr=lr, seed=seed, warm_start=warm_start,
                image_dir=osp.abspath(image_dir), num_images=len(images))
    _save(dict(state_dict=model.state_dict(), meta=meta), out)
    if osp.isfile(partial):
        os.remove(partial)
    return dict(checkpoint=out, meta=meta, curve=curve)


def _save(obj: Dict[str, Any], path: str) -> None:
    """``torch.save`` through a temporary file: a kill mid-write leaves the old file."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    tmp = path + '.tmp'
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _done(path: str, **expected: Any) -> bool:
    """Whether ``path`` holds a checkpoint trained with ``expected`` (a cache hit)."""
    if not osp.isfile(path):
        return False
    try:
        meta = load_learned_codec(path)[1]
    except Exception:  # noqa: BLE001  (unreadable: train it again)
        return False
    return all(meta.get(k) == v for k, v in expected.items())


def train_learned_codecs(image_dir: str,
                         out_dir: str,
                         lambdas: List[float],
                         iters: int = 2000,
                         warm_start_iters: Optional[int] = None,
                         log: Callable[[str], None] = print,
                         **kwargs: Any) -> List[str]:
    """One checkpoint per λ, ``q1.pth`` (smallest λ, lowest rate) ... ``q<K>.pth`` in
    ``out_dir``, with the rate sweep's schedule for DICM's codec: with
    ``warm_start_iters``, one codec is first trained at the smallest λ (``warm_start.pth``)
    and every λ is fine-tuned from it for ``iters`` steps. A checkpoint already there with
    the same λ, steps and start is kept, and a λ stopped mid-way continues from its last
    tenth (``q<k>.pth.partial``): the run resumes where it stopped.

    ``kwargs`` go to :func:`train_learned_codec` (``batch_size``, ``crop``, ``N``, ...).
    Returns the checkpoints, by quality.
    """
    lambdas = sorted(float(v) for v in lambdas)
    if not lambdas or len(set(lambdas)) != len(lambdas):
        raise ValueError(f'lambdas must be distinct values, got {lambdas}')
    warm = None
    if warm_start_iters is not None:
        warm = osp.join(out_dir, 'warm_start.pth')
        if not _done(warm, lmbda=lambdas[0], iters=warm_start_iters, warm_start=None):
            log(f'[mbt2018-mean] warm start at λ={lambdas[0]}, {warm_start_iters} steps')
            train_learned_codec(image_dir, warm, lambdas[0], warm_start_iters, log=log,
                                **kwargs)
    paths = []
    for k, lmbda in enumerate(lambdas, 1):
        path = osp.join(out_dir, f'q{k}.pth')
        if not _done(path, lmbda=lmbda, iters=iters, warm_start=warm):
            log(f'[mbt2018-mean] q{k}: λ={lmbda}, {iters} steps'
                + (f' from {warm}' if warm else ''))
            train_learned_codec(image_dir, path, lmbda, iters, warm_start=warm, log=log,
                                **kwargs)
        paths.append(path)
    return paths
