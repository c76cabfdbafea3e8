"""The pixel-codec contract: code an image, decode it, count the bytes; and the codec registry.

A :class:`PixelCodec` wraps one standard image codec for rate-accuracy baselines (the classic
route the DICM paper compares with: code the image, decode it, run the task model on it).
Subclasses implement ``_require``, ``_encode`` and ``_decode`` and register themselves with
:func:`register_pixel_codec`. The codecs, their colour formats and what their bytes count:
``docs/baselines.md``.
"""
from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any, ClassVar, Optional

import numpy as np

from ..utils import check_int
from .payload import payload_size

__all__ = [
    'CodecError', 'CodecUnavailableError', 'PixelCodec', 'PIXEL_CODECS', 'register_pixel_codec',
    'get_pixel_codec', 'pixel_codec_availability', 'bpp', 'check_image', 'to_rgb_array'
]


class CodecError(RuntimeError):
    """A codec backend failed on its input (encoder error, undecodable bytes, ffmpeg exit)."""


class CodecUnavailableError(CodecError):
    """A codec's backend is missing here (package not importable, encoder/decoder not built).

    The message is one line naming the codec and what is missing, e.g.
    ``"vvc: ffmpeg at /usr/bin/ffmpeg has no 'libvvenc' encoder"``.
    """


# ---------------------------------------------------------------------------------- helpers
def check_image(img: Any, what: str = 'img') -> np.ndarray:
    """The image as a C-contiguous (H, W, 3) uint8 array, or TypeError / ValueError."""
    if not isinstance(img, np.ndarray):
        raise TypeError(f'{what} must be a numpy array (H, W, 3) uint8 RGB, '
                        f'got {type(img).__name__}')
    if img.dtype != np.uint8:
        raise TypeError(f'{what} must have dtype uint8 (RGB 0-255), got {img.dtype}')
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f'{what} must have shape (H, W, 3) (RGB), got {img.shape}')
    if img.shape[0] < 1 or img.shape[1] < 1:
        raise ValueError(f'{what} must have at least 1x1 pixels, got {img.shape}')
    return np.ascontiguousarray(img)


def to_rgb_array(pil_image: Any) -> np.ndarray:
    """A decoded PIL image as an (H, W, 3) uint8 RGB array."""
    if pil_image.mode != 'RGB':
        pil_image = pil_image.convert('RGB')
    return np.array(pil_image, dtype=np.uint8)


def _check_data(data: Any, codec: str) -> bytes:
    if isinstance(data, str) or not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f'{codec}: data must be bytes, got {type(data).__name__}')
    data = bytes(data)
    if not data:
        raise ValueError(f'{codec}: data is empty')
    return data


def _check_size(size: Any) -> Optional[tuple[int, int]]:
    if size is None:
        return None
    if isinstance(size, (str, bytes)) or not isinstance(size, Sequence) or len(size) != 2:
        raise ValueError(f'size must be None or (height, width), got {size!r}')
    return (check_int('size[0] (height)', size[0], strict=True),
            check_int('size[1] (width)', size[1], strict=True))


def _crop(img: np.ndarray, size: Optional[tuple[int, int]], codec: str) -> np.ndarray:
    if size is None or img.shape[:2] == size:
        return img
    if img.shape[0] < size[0] or img.shape[1] < size[1]:
        raise ValueError(f'{codec}: decoded image is {img.shape[0]}x{img.shape[1]}, smaller '
                         f'than the requested size {size[0]}x{size[1]}')
    return np.ascontiguousarray(img[:size[0], :size[1]])


def bpp(num_bytes: int, height: int, width: int) -> float:
    """Bits per pixel of the *input* image: ``8 * num_bytes / (height * width)``.

    Args:
        num_bytes (int): Bytes of the coded image (>= 0).
        height (int): Height of the input image (>= 1), before any codec padding.
        width (int): Width of the input image (>= 1).

    Returns:
        float: The rate in bits per input pixel.

    Example:
        >>> bpp(2048, 128, 128)
        1.0
    """
    num_bytes = check_int('num_bytes', num_bytes, 0, strict=True)
    height = check_int('height', height, strict=True)
    width = check_int('width', width, strict=True)
    return 8.0 * num_bytes / (height * width)


# ---------------------------------------------------------------------------------- base
class PixelCodec:
    """Base of the pixel-codec wrappers: validation, availability and round trip.

    Subclasses set the class attributes and implement ``_require`` (raise
    :class:`CodecUnavailableError` if the backend is missing), ``_encode`` and ``_decode``.

    Attributes:
        name (str): Registry name ('jpeg', 'webp', 'avif', 'hevc', 'vvc').
        quality_name (str): What ``quality`` means for this codec ('quality' or 'QP').
        quality_range (tuple[int, int]): Inclusive range of ``quality``.
        higher_quality_more_bits (bool): True if a larger ``quality`` gives more bits (JPEG
            quality), False if fewer (a QP).
        qualities (tuple[int, ...]): Default sweep, ordered from the lowest to the highest
            rate.
        color_format (str): The coded colour format, e.g. 'YCbCr 4:2:0, 8-bit, BT.601 full
            range'.
        chroma_subsampling (str): '4:2:0' for every codec here.
        payload (str): What the byte count includes (container overhead).

    Example:
        >>> from skimage import data
        >>> img = data.astronaut()[100:228, 180:308]          # 128x128x3 uint8
        >>> codec = get_pixel_codec('jpeg')
        >>> decoded, num_bytes = codec.roundtrip(img, quality=50)
        >>> decoded.shape, decoded.dtype
        ((128, 128, 3), dtype('uint8'))
        >>> round(bpp(num_bytes, 128, 128), 2)  # doctest: +SKIP
        1.02
    """
    name: ClassVar[str] = ''
    quality_name: ClassVar[str] = 'quality'
    quality_range: ClassVar[tuple[int, int]] = (0, 100)
    higher_quality_more_bits: ClassVar[bool] = True
    qualities: tuple[int, ...] = ()
    color_format: ClassVar[str] = ''
    chroma_subsampling: ClassVar[str] = '4:2:0'
    payload: ClassVar[str] = ''

    def __repr__(self) -> str:
        return f'{type(self).__name__}(name={self.name!r})'

    # -- availability
    def _require(self) -> str:
        """Raise :class:`CodecUnavailableError` if unusable; else return a backend summary."""
        raise NotImplementedError

    def check_available(self) -> str:
        """Raise :class:`CodecUnavailableError` if the backend is missing.

        Returns:
            str: A one-line description of the backend (library versions).
        """
        return self._require()

    def available(self) -> tuple[bool, str]:
        """Whether the codec works here.

        Returns:
            tuple[bool, str]: ``(True, backend description)`` or ``(False, reason)``, the
            reason being the :class:`CodecUnavailableError` message.
        """
        try:
            return True, self._require()
        except CodecUnavailableError as e:
            return False, str(e)

    # -- validation
    def check_quality(self, quality: Any) -> int:
        """``quality`` as an int within :attr:`quality_range`, else TypeError / ValueError."""
        low, high = self.quality_range
        if isinstance(quality, bool) or not isinstance(quality, numbers.Integral):
            raise TypeError(f'{self.name} {self.quality_name} must be an int, '
                            f'got {type(quality).__name__}')
        quality = int(quality)
        if not low <= quality <= high:
            direction = 'higher' if self.higher_quality_more_bits else 'lower'
            raise ValueError(f'{self.name} {self.quality_name} must be in [{low}, {high}] '
                             f'({direction} = more bits), got {quality}')
        return quality

    # -- coding
    def encode(self, img: np.ndarray, quality: int) -> bytes:
        """Code one image.

        Args:
            img (np.ndarray): (H, W, 3) uint8 RGB.
            quality (int): The codec's quality parameter, see :attr:`quality_range`.

        Returns:
            bytes: The coded image (see :attr:`payload` for what it contains).
        """
        img = check_image(img)
        quality = self.check_quality(quality)
        self._require()
        return self._encode(img, quality)

    def decode(self, data: bytes, size: Optional[Sequence[int]] = None) -> np.ndarray:
        """Decode bytes written by :meth:`encode`.

        Args:
            data (bytes): The coded image.
            size (tuple[int, int], optional): The original (height, width). The decoded
                image is cropped to it (only :class:`~mmdicm.baselines.VVCCodec` ever
                decodes a larger, padded picture). Defaults to None: no crop.

        Returns:
            np.ndarray: (H, W, 3) uint8 RGB.
        """
        data = _check_data(data, self.name)
        size = _check_size(size)
        self._require()
        return _crop(self._decode(data), size, self.name)

    def payload_bytes(self, data: bytes) -> int:
        """Entropy-coded payload of ``data`` (bytes written by :meth:`encode`): the file
        without headers, tables, parameter sets and container boxes (see
        :mod:`~mmdicm.baselines.payload` for what each format leaves out). A diagnostic for
        small images; rates are whole files.

        Raises:
            PayloadError: ``data`` is not a well-formed file of this codec's format.
        """
        return payload_size(self.name, _check_data(data, self.name))

    def roundtrip(self, img: np.ndarray, quality: int) -> tuple[np.ndarray, int]:
        """Encode then decode one image.

        Args:
            img (np.ndarray): (H, W, 3) uint8 RGB.
            quality (int): The codec's quality parameter.

        Returns:
            tuple[np.ndarray, int]: The decoded (H, W, 3) uint8 image, same size as ``img``,
            and the number of coded bytes.
        """
        img = check_image(img)
        data = self.encode(img, quality)
        return self.decode(data, size=img.shape[:2]), len(data)

    def _encode(self, img: np.ndarray, quality: int) -> bytes:
        raise NotImplementedError

    def _decode(self, data: bytes) -> np.ndarray:
        raise NotImplementedError


# ---------------------------------------------------------------------------------- registry
#: Codec classes by name, in registration order; :func:`get_pixel_codec` builds one.
PIXEL_CODECS: dict[str, type[PixelCodec]] = {}


def register_pixel_codec(cls: type[PixelCodec]) -> type[PixelCodec]:
    """Class decorator: make ``cls`` buildable by :func:`get_pixel_codec` under ``cls.name``."""
    if not (isinstance(cls, type) and issubclass(cls, PixelCodec)) or not cls.name:
        raise TypeError(f'only a PixelCodec subclass with a name registers, got {cls!r}')
    if cls.name in PIXEL_CODECS and PIXEL_CODECS[cls.name] is not cls:
        raise KeyError(f'pixel codec {cls.name!r} is already registered by '
                       f'{PIXEL_CODECS[cls.name].__qualname__}')
    PIXEL_CODECS[cls.name] = cls
    return cls


def get_pixel_codec(name: str, **kwargs: Any) -> PixelCodec:
    """Build the codec registered as ``name`` (keyword arguments go to its class).

    Args:
        name (str): One of :data:`PIXEL_CODECS` ('jpeg', 'webp', 'avif', 'hevc', 'vvc').
        **kwargs: Settings of the codec class, e.g. ``preset='slow'`` for 'vvc'.

    Returns:
        PixelCodec: The codec (not yet checked for availability: see
        :meth:`PixelCodec.available`).
    """
    if not isinstance(name, str):
        raise TypeError(f'codec name must be a str, got {type(name).__name__}')
    if name not in PIXEL_CODECS:
        raise ValueError(f'unknown pixel codec {name!r}; known: {sorted(PIXEL_CODECS)}')
    return PIXEL_CODECS[name](**kwargs)


def pixel_codec_availability() -> dict[str, tuple[bool, str]]:
    """``{name: (available, reason or backend description)}`` for every registered codec."""
    return {name: cls().available() for name, cls in PIXEL_CODECS.items()}
