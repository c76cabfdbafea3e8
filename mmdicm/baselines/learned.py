"""A learned pixel codec trained here: CompressAI's ``mbt2018-mean`` (Minnen et al. 2018, the
mean-scale hyperprior) from checkpoints that :func:`~mmdicm.baselines.learned_training.
train_learned_codec` writes -- no pretrained weights reach this machine, for DICM or for it.

The bytes are real: ``encode`` runs CompressAI's ``compress()`` (rANS), ``decode`` parses the
file and entropy-decodes with mmdicm's bounds-checked decoder (a crafted file is a
:class:`CodecError`, never a crash), then ``g_s``. File layout: ``docs/baselines.md``.
"""
import os.path as osp
import struct
from typing import Any, ClassVar, Dict, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from compressai.models import MeanScaleHyperprior as _MeanScaleHyperprior

from ..codec.bitstream import BitstreamError
from ..codec.entropy import (EntropyBottleneck, GaussianConditional,
                             resize_entropy_buffers_on_load)
from .base import CodecError, CodecUnavailableError, PixelCodec, register_pixel_codec
from .payload import PAYLOAD_PARSERS, PayloadError

__all__ = ['MeanScaleHyperprior', 'LearnedCodec', 'MBT2018MeanCodec', 'load_learned_codec',
           'parse_learned_file', 'HEADER', 'MAX_SIDE']

#: magic, quality (which checkpoint), height, width, bytes of the z string (the y string is
#: the rest of the file)
HEADER = struct.Struct('>4sBHHI')
MAGIC = b'MSH1'
#: the largest image side a file may declare (the codec's memory grows with the area)
MAX_SIDE = 4096
#: the codec's total stride (g_a 16, h_a 4): inputs are padded to a multiple of it
STRIDE = 64


class MeanScaleHyperprior(_MeanScaleHyperprior):
    """CompressAI's ``mbt2018-mean`` whose entropy models are mmdicm's (same parameters,
    buffers and strings as CompressAI's; bounds-checked decoding, refusal of what the rANS
    encoder cannot code)."""

    def __init__(self, N: int = 128, M: int = 192) -> None:
        super().__init__(N=N, M=M)
        self.entropy_bottleneck = EntropyBottleneck(N)
        self.gaussian_conditional = GaussianConditional(None)
        resize_entropy_buffers_on_load(self)


def load_learned_codec(path: str) -> Tuple[MeanScaleHyperprior, Dict[str, Any]]:
    """The model a training checkpoint holds (eval mode, entropy tables as saved) and its
    ``meta`` (architecture, widths, λ, iterations)."""
    try:
        ckpt = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:  # noqa: BLE001  (torch raises many kinds, pickle's too)
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise CodecUnavailableError(
            f'cannot read learned-codec checkpoint {path}: {first}') from None
    meta = ckpt.get('meta') if isinstance(ckpt, dict) else None
    if not isinstance(meta, dict) or meta.get('architecture') != 'mbt2018-mean':
        raise CodecUnavailableError(f'{path} is not an mbt2018-mean checkpoint of mmdicm '
                                    '(no meta.architecture)')
    model = MeanScaleHyperprior(N=int(meta['N']), M=int(meta['M']))
    model.load_state_dict(ckpt['state_dict'])
    return model.eval(), meta


class LearnedCodec(PixelCodec):
    """A learned codec with one checkpoint per quality: ``<checkpoint_dir>/q<quality>.pth``.

    Args:
        checkpoint_dir (str, optional): Folder of the checkpoints. Defaults to
            :attr:`default_dir`.
    """
    default_dir: ClassVar[str] = ''
    quality_range = (1, 8)
    qualities = (1, 2, 3, 4)
    color_format = 'RGB 4:4:4, 8-bit (the network\'s input)'
    chroma_subsampling = '4:4:4'
    payload = f'{HEADER.size}-byte header (quality, size, z length) + the z and y rANS strings'

    def __init__(self, checkpoint_dir: Optional[str] = None) -> None:
        self.checkpoint_dir = checkpoint_dir or self.default_dir
        self._models: Dict[int, MeanScaleHyperprior] = {}

    def checkpoint(self, quality: int) -> str:
        """The checkpoint file of ``quality``."""
        return osp.join(self.checkpoint_dir, f'q{quality}.pth')

    def _require(self) -> str:
        import compressai
        if not osp.isdir(self.checkpoint_dir):
            raise CodecUnavailableError(
                f'{self.name}: no trained checkpoints in {self.checkpoint_dir} (train them '
                'with mmdicm.baselines.learned_training.train_learned_codec; nothing '
                'pretrained is used)')
        return f'CompressAI {compressai.__version__}, checkpoints in {self.checkpoint_dir}'

    def model(self, quality: int) -> MeanScaleHyperprior:
        """The model of ``quality`` (loaded once)."""
        if quality not in self._models:
            path = self.checkpoint(quality)
            if not osp.isfile(path):
                raise CodecUnavailableError(f'{self.name}: quality {quality} has no '
                                            f'checkpoint ({path} not found)')
            self._models[quality] = load_learned_codec(path)[0]
        return self._models[quality]

    def _encode(self, img: np.ndarray, quality: int) -> bytes:
        h, w = img.shape[:2]
        if max(h, w) > MAX_SIDE:
            raise CodecError(f'{self.name}: a side of {h}x{w} exceeds {MAX_SIDE}')
        x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255.
        x = F.pad(x, (0, -w % STRIDE, 0, -h % STRIDE), mode='replicate')
        with torch.no_grad():
            out = self.model(quality).compress(x)
        (y_string, ), (z_string, ) = out['strings']
        return HEADER.pack(MAGIC, quality, h, w, len(z_string)) + z_string + y_string

    def _decode(self, data: bytes) -> np.ndarray:
        quality, h, w, z_string, y_string = parse_learned_file(data, self.name)
        if not self.quality_range[0] <= quality <= self.quality_range[1]:
            raise CodecError(f'{self.name}: invalid file: quality {quality} outside '
                             f'{self.quality_range}')
        shape = (-(-h // STRIDE), -(-w // STRIDE))
        try:
            with torch.no_grad():
                x_hat = self.model(quality).decompress([[y_string], [z_string]],
                                                       shape)['x_hat']
        except BitstreamError as e:
            raise CodecError(f'{self.name}: invalid file: {e}') from None
        img = (x_hat[0, :, :h, :w].clamp(0, 1) * 255).round().byte()
        return np.ascontiguousarray(img.permute(1, 2, 0).numpy())


def parse_learned_file(data: bytes, name: str = 'learned codec'
                       ) -> Tuple[int, int, int, bytes, bytes]:
    """``(quality, height, width, z string, y string)`` of a file :class:`LearnedCodec` wrote, or a
    :class:`CodecError` saying what is wrong."""
    data = bytes(data)
    if len(data) < HEADER.size:
        raise CodecError(f'{name}: invalid file: {len(data)} bytes, shorter than the '
                         f'{HEADER.size}-byte header')
    magic, quality, h, w, z_len = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise CodecError(f'{name}: invalid file: magic {magic!r}, expected {MAGIC!r}')
    if not (1 <= h <= MAX_SIDE and 1 <= w <= MAX_SIDE):
        raise CodecError(f'{name}: invalid file: image size {h}x{w} outside 1..{MAX_SIDE}')
    if z_len > len(data) - HEADER.size:
        raise CodecError(f'{name}: invalid file: z string of {z_len} bytes, only '
                         f'{len(data) - HEADER.size} follow the header')
    z_end = HEADER.size + z_len
    return quality, h, w, data[HEADER.size:z_end], data[z_end:]


def learned_payload(data: bytes) -> int:
    """The two rANS strings of a :class:`LearnedCodec` file: the file without its header
    (:class:`PayloadError` if it is not one)."""
    try:
        parse_learned_file(data)
    except CodecError as e:
        raise PayloadError(str(e)) from None
    return len(data) - HEADER.size


@register_pixel_codec
class MBT2018MeanCodec(LearnedCodec):
    """CompressAI's ``mbt2018-mean`` trained here for pixel MSE, one checkpoint per λ.

    ``quality`` is the index of the checkpoint (``q1.pth`` the lowest rate), not a
    CompressAI zoo quality: no zoo weights are used.
    """
    name = 'mbt2018-mean'
    quality_name = 'checkpoint'
    default_dir = 'work_dirs/learned_codecs/mbt2018-mean'


PAYLOAD_PARSERS[MBT2018MeanCodec.name] = learned_payload
