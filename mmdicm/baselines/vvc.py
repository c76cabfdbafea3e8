"""VVC intra through ffmpeg (libvvenc encoder, native ``vvc`` decoder): VTM's core coder.

ffmpeg runs as a subprocess with a timeout. Settings and byte counts: ``docs/baselines.md``.
"""
import functools
import io
import numbers
import shutil
import subprocess
from typing import ClassVar, Optional

import numpy as np

from ..utils import check_int
from .base import (CodecError, CodecUnavailableError, PixelCodec, register_pixel_codec,
                   to_rgb_array)

__all__ = ['VVCCodec', 'FFMPEG_TIMEOUT']

#: Bound on every ffmpeg call of :class:`VVCCodec`, in seconds (per call, configurable).
FFMPEG_TIMEOUT = 300.0


@functools.lru_cache(maxsize=8)
def _ffmpeg_capabilities(exe: str) -> frozenset:
    """``{'encoder:libvvenc', 'decoder:vvc', 'muxer:vvc', ...}`` as listed by ``exe``."""
    caps = set()
    for kind, flag in (('encoder', '-encoders'), ('decoder', '-decoders'),
                       ('muxer', '-muxers'), ('demuxer', '-demuxers')):
        try:
            out = subprocess.run([exe, '-hide_banner', flag], stdin=subprocess.DEVNULL,
                                 capture_output=True, timeout=30, check=False).stdout
        except (OSError, subprocess.TimeoutExpired):
            continue
        body = out.decode('utf-8', 'replace').split('--', 1)[-1]
        for line in body.splitlines():
            tokens = line.split()
            if len(tokens) >= 2:
                caps.update(f'{kind}:{name}' for name in tokens[1].split(','))
    return frozenset(caps)


def _last_line(stderr: bytes) -> str:
    lines = [ln.strip() for ln in stderr.decode('utf-8', 'replace').splitlines() if ln.strip()]
    return lines[-1] if lines else '(no message)'


@register_pixel_codec
class VVCCodec(PixelCodec):
    """VVC intra (ffmpeg: libvvenc encoder, native ``vvc`` decoder) -- VTM's core coder.

    RGB -> YCbCr 4:2:0 **10-bit** (``yuv420p10le``, the only format libvvenc takes), BT.601
    full range, converted by ffmpeg's ``scale`` filter with explicit matrix and range (and
    back the same way when decoding, whatever the bitstream signals). One intra (IDR)
    frame at a constant slice QP (``-qp``; perceptual QP adaptation off with ``-qpa 0``;
    ``IntraQPOffset=0``, else vvenc codes the intra picture 3 below), vvenc ``preset``.
    The bytes are the raw Annex-B bitstream ffmpeg's ``vvc`` muxer writes (a ``.266``
    file: AUD, SPS, PPS and slice NAL units with start codes), no container.

    Sizes: the image is padded by edge replication to even sides (4:2:0 cannot signal an
    odd crop) of at least 32 pixels (libvvenc rejects frames under ~350 pixels). The
    bitstream holds the padded picture; :meth:`decode` with ``size`` (as :meth:`roundtrip`
    does) crops it back. bpp should be counted on the input size
    (:func:`~mmdicm.baselines.bpp`).

    ffmpeg runs as a subprocess (stdin/stdout pipes) with a timeout; a failure raises
    :class:`CodecError` quoting ffmpeg's last stderr line.

    Args:
        preset (str): vvenc preset: 'faster', 'fast', 'medium', 'slow', 'slower'.
            Defaults to 'medium' (vvenc's).
        threads (int): Encoder / decoder threads. vvenc's output does not depend on it;
            defaults to 1 (polite on shared machines).
        ffmpeg (str, optional): Path of the ffmpeg binary. Defaults to None:
            ``imageio_ffmpeg.get_ffmpeg_exe()``.
        timeout (float): Seconds allowed per ffmpeg call. Defaults to :data:`FFMPEG_TIMEOUT`.
    """
    name = 'vvc'
    quality_name = 'QP'
    quality_range = (0, 63)
    higher_quality_more_bits = False
    color_format = 'YCbCr 4:2:0, 10-bit, BT.601 full range'
    payload = 'raw Annex-B VVC bitstream (AUD, SPS, PPS, slice NAL units), no container'
    qualities = (47, 42, 37, 32, 27, 22)
    PRESETS: ClassVar[tuple[str, ...]] = ('faster', 'fast', 'medium', 'slow', 'slower')
    MIN_SIDE: ClassVar[int] = 32
    _REQUIRED = (('encoder:libvvenc', "'libvvenc' encoder"), ('muxer:vvc', "'vvc' muxer"),
                 ('demuxer:vvc', "'vvc' demuxer"),
                 ('decoder:vvc', "'vvc' decoder (native, ffmpeg >= 7)"))
    _SCALE = 'scale=flags=bicubic+accurate_rnd+full_chroma_int'

    def __init__(self, preset: str = 'medium', threads: int = 1, ffmpeg: Optional[str] = None,
                 timeout: float = FFMPEG_TIMEOUT) -> None:
        if preset not in self.PRESETS:
            raise ValueError(f'preset must be one of {self.PRESETS}, got {preset!r}')
        self.preset = preset
        self.threads = check_int('threads', threads, 0, strict=True)
        if ffmpeg is not None and not isinstance(ffmpeg, str):
            raise TypeError(f'ffmpeg must be None or a path str, got {type(ffmpeg).__name__}')
        self.ffmpeg = ffmpeg
        if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real) or timeout <= 0:
            raise ValueError(f'timeout must be a positive number of seconds, got {timeout!r}')
        self.timeout = float(timeout)

    def _exe(self) -> str:
        if self.ffmpeg is not None:
            exe = shutil.which(self.ffmpeg)
            if exe is None:
                raise CodecUnavailableError(f'vvc: ffmpeg not found at {self.ffmpeg!r}')
            return exe
        try:
            import imageio_ffmpeg
            return imageio_ffmpeg.get_ffmpeg_exe()
        except (ImportError, RuntimeError) as e:
            raise CodecUnavailableError(
                f'vvc: no ffmpeg binary (imageio-ffmpeg: {e})'.replace('\n', ' ')) from None

    def _require(self) -> str:
        exe = self._exe()
        caps = _ffmpeg_capabilities(exe)
        missing = [what for key, what in self._REQUIRED if key not in caps]
        if missing:
            raise CodecUnavailableError(f'vvc: ffmpeg at {exe} has no {", ".join(missing)}')
        return f'ffmpeg {exe} (libvvenc encoder, native vvc decoder)'

    def _run(self, args: list, data: bytes, what: str) -> bytes:
        cmd = [self._exe(), '-hide_banner', '-nostats', '-loglevel', 'error', *args]
        try:
            proc = subprocess.run(cmd, input=data, capture_output=True, timeout=self.timeout,
                                  check=False)
        except subprocess.TimeoutExpired:
            raise CodecError(f'vvc: ffmpeg {what} timed out after {self.timeout:g} s') from None
        except OSError as e:
            raise CodecUnavailableError(f'vvc: cannot run ffmpeg ({e})') from None
        if proc.returncode != 0 or not proc.stdout:
            raise CodecError(f'vvc: ffmpeg {what} failed (exit code {proc.returncode}): '
                             f'{_last_line(proc.stderr)}')
        return proc.stdout

    def padded_size(self, height: int, width: int) -> tuple[int, int]:
        """The coded picture size for an input of ``height`` x ``width``."""
        def side(n: int) -> int:
            return max(n + n % 2, self.MIN_SIDE)

        return side(height), side(width)

    def encoder_args(self, qp: int) -> list:
        """ffmpeg's encoder options: one intra frame, libvvenc at a constant QP, no QP
        adaptation, no intra QP offset (shared with the feature-domain anchor)."""
        return ['-frames:v', '1', '-c:v', 'libvvenc', '-preset', self.preset, '-qp', str(qp),
                '-qpa', '0', '-vvenc-params', 'IntraQPOffset=0', '-threads', str(self.threads)]

    def _encode(self, img: np.ndarray, quality: int) -> bytes:
        h, w = img.shape[:2]
        ph, pw = self.padded_size(h, w)
        if (ph, pw) != (h, w):
            img = np.pad(img, ((0, ph - h), (0, pw - w), (0, 0)), mode='edge')
        args = ['-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', f'{pw}x{ph}', '-i', 'pipe:0',
                '-vf', f'{self._SCALE}:out_color_matrix=bt601:out_range=pc,format=yuv420p10le',
                *self.encoder_args(quality),
                '-color_range', 'pc', '-colorspace', 'bt470bg', '-color_primaries', 'bt709',
                '-color_trc', 'iec61966-2-1', '-f', 'vvc', 'pipe:1']
        return self._run(args, np.ascontiguousarray(img).tobytes(), f'encode of {h}x{w}')

    def _decode(self, data: bytes) -> np.ndarray:
        from PIL import Image

        args = ['-threads', str(self.threads), '-f', 'vvc', '-i', 'pipe:0', '-frames:v', '1',
                '-vf', f'{self._SCALE}:in_color_matrix=bt601:in_range=pc,format=rgb24',
                '-f', 'image2pipe', '-c:v', 'ppm', 'pipe:1']
        ppm = self._run(args, data, f'decode of {len(data)} bytes')
        try:
            with Image.open(io.BytesIO(ppm), formats=['PPM']) as im:
                im.load()
                return to_rgb_array(im)
        except (OSError, ValueError, SyntaxError) as e:
            raise CodecError(f'vvc: ffmpeg decoded {len(data)} bytes to an unreadable '
                             f'image: {e}') from e
