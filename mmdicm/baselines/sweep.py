"""Sweep pixel codecs over a set of images: one (codec, quality) point at a time, with its bpp."""
from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Callable, Optional, Union

import numpy as np

from .base import CodecUnavailableError, PixelCodec, check_image, get_pixel_codec

__all__ = ['SweepPoint', 'sweep']

logger = logging.getLogger(__name__)


@dataclass
class SweepPoint:
    """One (codec, quality) point of a :func:`sweep` over a set of images.

    Attributes:
        codec (str): Codec name.
        quality (int): The codec's quality parameter (see the codec's ``quality_name``).
        bpp (float): Aggregate rate: total bits / total input pixels over all images.
        num_bytes (list[int]): Coded bytes of each image, in order.
        num_pixels (int): Total input pixels (sum of H * W).
        decoded (list[np.ndarray] or None): The decoded images, in order, if kept.
    """
    codec: str
    quality: int
    bpp: float
    num_bytes: list[int]
    num_pixels: int
    decoded: Optional[list[np.ndarray]] = None


SweepCallback = Callable[[str, int, int, np.ndarray, int], None]


def _as_codecs(codecs: Any) -> list[PixelCodec]:
    if isinstance(codecs, (str, PixelCodec)):
        codecs = [codecs]
    if not isinstance(codecs, Sequence) or not codecs:
        raise TypeError('codecs must be a codec name, a PixelCodec or a non-empty sequence of '
                        f'them, got {codecs!r}')
    out = []
    for c in codecs:
        if isinstance(c, PixelCodec):
            out.append(c)
        else:
            out.append(get_pixel_codec(c))
    names = [c.name for c in out]
    if len(set(names)) != len(names):
        raise ValueError(f'codecs must be distinct, got {names}')
    return out


def _sweep_qualities(codec: PixelCodec, qualities: Any, single: bool) -> list[int]:
    if qualities is None:
        chosen = codec.qualities
    elif isinstance(qualities, Mapping):
        chosen = qualities.get(codec.name, codec.qualities)
    elif isinstance(qualities, Sequence) and not isinstance(qualities, (str, bytes)):
        if not single:
            raise TypeError('qualities as a plain list is ambiguous for several codecs (each '
                            'has its own scale); pass {codec name: [qualities]}')
        chosen = qualities
    else:
        raise TypeError('qualities must be None, a sequence of ints (one codec) or a mapping '
                        f'{{codec name: sequence of ints}}, got {type(qualities).__name__}')
    if isinstance(chosen, (str, bytes)) or not isinstance(chosen, Sequence) or not chosen:
        raise ValueError(f'{codec.name}: qualities must be a non-empty sequence of ints, '
                         f'got {chosen!r}')
    return [codec.check_quality(q) for q in chosen]


def sweep(codecs: Union[str, PixelCodec, Sequence[Union[str, PixelCodec]]],
          images: Iterable[np.ndarray],
          qualities: Union[None, Sequence[int], Mapping[str, Sequence[int]]] = None,
          *,
          keep_decoded: bool = True,
          callback: Optional[SweepCallback] = None,
          skip_unavailable: bool = True) -> Iterator[SweepPoint]:
    """Code every image with every codec at every quality; yield one point per setting.

    Unavailable codecs are skipped with a logged warning (``logging``, printed to stderr if
    logging is not configured) naming the codec and what is missing; with
    ``skip_unavailable=False`` they raise :class:`CodecUnavailableError` instead. Everything
    is checked before the first image is coded (codec names, qualities, images).

    Args:
        codecs (str | PixelCodec | Sequence): Codec names of :data:`PIXEL_CODECS` and/or
            configured codec objects.
        images (Iterable[np.ndarray]): (H, W, 3) uint8 RGB images; sizes may differ. Read
            once into a list (a generator is fine; a single array is an error).
        qualities (None | Sequence[int] | Mapping[str, Sequence[int]]): None for each
            codec's default sweep; a mapping ``{name: [q, ...]}`` (missing names use the
            default); a plain sequence only when sweeping one codec. Defaults to None.
        keep_decoded (bool): Keep the decoded images in each point's ``decoded``. Set False
            with a ``callback`` to stream over a large set. Defaults to True.
        callback (callable, optional): Called as ``callback(codec, quality, index, decoded,
            num_bytes)`` for every decoded image, e.g. to run a detector. Defaults to None.
        skip_unavailable (bool): Skip (True) or raise for unavailable codecs.
            Defaults to True.

    Yields:
        SweepPoint: Per (codec, quality), in codec order then quality order; ``bpp`` is the
        total bits over the total input pixels of all images.

    Example:
        >>> for point in sweep(['jpeg', 'vvc'], [img]):      # doctest: +SKIP
        ...     print(point.codec, point.quality, round(point.bpp, 3))
    """
    codec_objs = _as_codecs(codecs)
    if isinstance(qualities, Mapping):
        unknown = sorted(set(qualities) - {c.name for c in codec_objs})
        if unknown:
            raise ValueError(f'qualities names codecs that are not swept: {unknown}; swept: '
                             f'{[c.name for c in codec_objs]}')
    plan = [(c, _sweep_qualities(c, qualities, len(codec_objs) == 1)) for c in codec_objs]
    if isinstance(images, (np.ndarray, str, bytes)) or not isinstance(images, Iterable):
        raise TypeError('images must be a sequence (e.g. list) of (H, W, 3) uint8 arrays, '
                        f'got {type(images).__name__}')
    images = list(images)  # iterated once per (codec, quality)
    if len(images) == 0:
        raise ValueError('images is empty')
    images = [check_image(img, f'images[{i}]') for i, img in enumerate(images)]
    if callback is not None and not callable(callback):
        raise TypeError(f'callback must be callable, got {type(callback).__name__}')
    num_pixels = sum(img.shape[0] * img.shape[1] for img in images)

    for codec, codec_qualities in plan:
        ok, reason = codec.available()
        if not ok:
            if not skip_unavailable:
                raise CodecUnavailableError(reason)
            logger.warning('skipping pixel codec %r: %s', codec.name, reason)
            continue
        for quality in codec_qualities:
            sizes, decoded = [], []
            for index, img in enumerate(images):
                rec, num_bytes = codec.roundtrip(img, quality)
                sizes.append(num_bytes)
                if keep_decoded:
                    decoded.append(rec)
                if callback is not None:
                    callback(codec.name, quality, index, rec, num_bytes)
            yield SweepPoint(codec=codec.name, quality=quality,
                             bpp=8.0 * sum(sizes) / num_pixels, num_bytes=sizes,
                             num_pixels=num_pixels, decoded=decoded if keep_decoded else None)
