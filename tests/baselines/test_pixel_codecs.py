"""Pixel-codec baselines (``mmdicm.baselines``): every registered codec codes
real photo crops, rate falls with quality, decoding is faithful and deterministic, odd sizes
work, bad input and missing backends fail clearly, and the sweep aggregates bpp right."""
import logging
import sys

import numpy as np
import pytest
from skimage import data as skdata

from mmdicm.baselines import (PIXEL_CODECS, AVIFCodec, CodecError, CodecUnavailableError,
                              PixelCodec, SweepPoint, VVCCodec, bpp, get_pixel_codec,
                              pixel_codec_availability, register_pixel_codec, sweep)
from mmdicm.baselines import sweep as sweep_module
from mmdicm.baselines import vvc as vvc_module

#: the standard codecs (the learned one, trained here, has its own tests: test_learned_codec.py)
NAMES = sorted(n for n in PIXEL_CODECS if n != 'mbt2018-mean')


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64))**2)
    return float('inf') if mse == 0 else 10 * np.log10(255.0**2 / mse)


@pytest.fixture(scope='module')
def photo() -> np.ndarray:
    """96x96 crop of the astronaut's face and suit (texture, edges, flat areas)."""
    return np.ascontiguousarray(skdata.astronaut()[110:206, 190:286])


@pytest.fixture(scope='module')
def odd_photo() -> np.ndarray:
    """45x67 (odd height and width) crop of the coffee photo."""
    return np.ascontiguousarray(skdata.coffee()[150:195, 200:267])


@pytest.fixture(params=NAMES)
def codec(request) -> PixelCodec:
    codec = get_pixel_codec(request.param)
    ok, reason = codec.available()
    if not ok:
        pytest.skip(reason)
    return codec


def three_point(codec: PixelCodec) -> list:
    """Lowest, middle and highest rate settings of the default sweep."""
    q = codec.qualities
    return [q[0], q[len(q) // 2], q[-1]]


def test_registry_describes_every_codec():
    assert set(NAMES) == {'jpeg', 'webp', 'avif', 'hevc', 'vvc'}
    for name in NAMES:
        cls = PIXEL_CODECS[name]
        codec = cls()
        assert codec.name == name and issubclass(cls, PixelCodec)
        low, high = codec.quality_range
        assert 5 <= len(codec.qualities) <= 6
        assert all(low <= q <= high for q in codec.qualities)
        # ordered from the lowest to the highest rate, in the codec's own direction
        step = 1 if codec.higher_quality_more_bits else -1
        assert list(codec.qualities) == sorted(codec.qualities, key=lambda q: step * q)
        assert codec.chroma_subsampling == '4:2:0' and '4:2:0' in codec.color_format
        assert codec.payload and codec.quality_name in ('quality', 'QP')
    assert set(pixel_codec_availability()) == set(NAMES) | {'mbt2018-mean'}
    with pytest.raises(ValueError, match="unknown pixel codec 'bpg'"):
        get_pixel_codec('bpg')


def test_registration_keeps_the_order_and_refuses_a_clash():
    # one file per family, imported in order
    order = ['jpeg', 'webp', 'avif', 'hevc', 'vvc', 'mbt2018-mean']
    assert list(PIXEL_CODECS) == order == list(pixel_codec_availability())
    assert register_pixel_codec(VVCCodec) is VVCCodec  # the same class again: no change

    class OtherJPEG(PixelCodec):
        name = 'jpeg'

    with pytest.raises(KeyError, match="'jpeg' is already registered by JPEGCodec"):
        register_pixel_codec(OtherJPEG)
    with pytest.raises(TypeError, match='PixelCodec subclass with a name'):
        register_pixel_codec(PixelCodec)
    assert list(PIXEL_CODECS) == order and PIXEL_CODECS['jpeg'].__name__ == 'JPEGCodec'


def test_rate_falls_with_quality(codec, photo):
    sizes = [len(codec.encode(photo, q)) for q in three_point(codec)]
    assert sizes[0] < sizes[1] < sizes[2], (codec.name, sizes)


def test_roundtrip_shape_dtype_fidelity(codec, photo):
    low, _, high = three_point(codec)
    decoded, num_bytes = codec.roundtrip(photo, high)
    assert decoded.shape == photo.shape and decoded.dtype == np.uint8
    assert decoded.flags.c_contiguous and decoded.flags.writeable
    assert num_bytes == len(codec.encode(photo, high))
    assert psnr(photo, decoded) > 33, codec.name
    decoded_low, _ = codec.roundtrip(photo, low)
    assert 20 < psnr(photo, decoded_low) < psnr(photo, decoded), codec.name


def test_odd_and_tiny_sizes(codec, odd_photo):
    decoded, num_bytes = codec.roundtrip(odd_photo, codec.qualities[-1])
    assert decoded.shape == (45, 67, 3) and num_bytes > 0
    assert psnr(odd_photo, decoded) > 30, codec.name
    tiny = np.ascontiguousarray(odd_photo[:3, :5])
    decoded, _ = codec.roundtrip(tiny, codec.qualities[-1])
    assert decoded.shape == (3, 5, 3)


def test_deterministic(codec, photo):
    q = codec.qualities[2]
    data = codec.encode(photo, q)
    assert codec.encode(photo.copy(), q) == data
    assert np.array_equal(codec.decode(data), codec.decode(data))


def test_undecodable_bytes(codec):
    with pytest.raises(CodecError, match=codec.name):
        codec.decode(b'\x00\x01 not an image at all' * 4)


@pytest.mark.parametrize('name', NAMES)
def test_bad_input(name):
    codec = get_pixel_codec(name)  # validation comes first: no backend needed
    img = np.zeros((16, 16, 3), np.uint8)
    good = codec.qualities[0]
    with pytest.raises(TypeError, match='dtype uint8'):
        codec.encode(img.astype(np.float32), good)
    with pytest.raises(TypeError, match='numpy array'):
        codec.encode(img.tolist(), good)
    with pytest.raises(ValueError, match=r'\(H, W, 3\)'):
        codec.encode(img[..., 0], good)
    with pytest.raises(ValueError, match=r'\(H, W, 3\)'):
        codec.encode(np.zeros((16, 16, 4), np.uint8), good)
    with pytest.raises(ValueError, match='at least 1x1'):
        codec.encode(np.zeros((0, 16, 3), np.uint8), good)
    low, high = codec.quality_range
    for bad in (low - 1, high + 1):
        with pytest.raises(ValueError, match=rf'{name} {codec.quality_name} must be in '
                                             rf'\[{low}, {high}\]'):
            codec.encode(img, bad)
    for bad in (50.0, True, '50'):
        with pytest.raises(TypeError, match='must be an int'):
            codec.encode(img, bad)
    with pytest.raises(TypeError, match='bytes'):
        codec.decode('not bytes')
    with pytest.raises(ValueError, match='empty'):
        codec.decode(b'')
    with pytest.raises(ValueError, match='size'):
        codec.decode(b'x', size=(16, ))


def test_bpp():
    assert bpp(2048, 128, 128) == 1.0
    assert bpp(0, 3, 5) == 0.0
    with pytest.raises(ValueError, match='num_bytes'):
        bpp(-1, 8, 8)
    with pytest.raises(ValueError, match='height'):
        bpp(10, 0, 8)
    with pytest.raises(TypeError, match='width'):
        bpp(10, 8, 8.0)


# ---------------------------------------------------------------------------------- missing
def test_missing_pillow_heif(monkeypatch):
    monkeypatch.setitem(sys.modules, 'pillow_heif', None)  # makes `import pillow_heif` fail
    codec = get_pixel_codec('hevc')
    ok, reason = codec.available()
    assert not ok and reason.startswith('hevc: pillow_heif is not importable')
    with pytest.raises(CodecUnavailableError, match='^hevc: pillow_heif'):
        codec.encode(np.zeros((8, 8, 3), np.uint8), 30)
    assert isinstance(CodecUnavailableError('x'), RuntimeError)


def test_missing_pillow_feature(monkeypatch):
    from PIL import features

    real = features.check
    monkeypatch.setattr(features, 'check', lambda f: False if f == 'avif' else real(f))
    ok, reason = get_pixel_codec('avif').available()
    assert not ok and "without 'avif'" in reason and reason.startswith('avif:')
    assert get_pixel_codec('jpeg').available()[0]


def test_missing_av1_encoder():
    if not get_pixel_codec('avif').available()[0]:
        pytest.skip('Pillow has no AVIF support here')
    ok, reason = AVIFCodec(encoder='no-such-av1-encoder').available()
    assert not ok and reason == "avif: Pillow's libavif has no 'no-such-av1-encoder' AV1 encoder"


@pytest.mark.parametrize('drop, needle', [('encoder:libvvenc', "'libvvenc' encoder"),
                                          ('decoder:vvc', "'vvc' decoder")])
def test_ffmpeg_without_vvc(monkeypatch, drop, needle):
    full = {'encoder:libvvenc', 'decoder:vvc', 'muxer:vvc', 'demuxer:vvc'}
    monkeypatch.setattr(vvc_module, '_ffmpeg_capabilities', lambda exe: frozenset(full - {drop}))
    codec = VVCCodec(ffmpeg=sys.executable)  # any existing binary: capabilities are faked
    ok, reason = codec.available()
    assert not ok and reason.startswith('vvc: ffmpeg at') and needle in reason
    with pytest.raises(CodecUnavailableError, match=needle):
        codec.encode(np.zeros((8, 8, 3), np.uint8), 32)


def test_ffmpeg_not_found():
    ok, reason = VVCCodec(ffmpeg='/nonexistent/ffmpeg').available()
    assert not ok and reason == "vvc: ffmpeg not found at '/nonexistent/ffmpeg'"


def test_sweep_skips_unavailable(monkeypatch, caplog, photo):
    monkeypatch.setitem(sys.modules, 'pillow_heif', None)
    with caplog.at_level(logging.WARNING, logger=sweep_module.__name__):
        points = list(sweep(['hevc', 'jpeg'], [photo], {'jpeg': [20, 80]}))
    assert [(p.codec, p.quality) for p in points] == [('jpeg', 20), ('jpeg', 80)]
    assert "skipping pixel codec 'hevc': hevc: pillow_heif is not importable" in caplog.text
    with pytest.raises(CodecUnavailableError, match='hevc'):
        list(sweep(['hevc', 'jpeg'], [photo], skip_unavailable=False))


# ---------------------------------------------------------------------------------- vvc
def test_vvc_padding_and_errors(photo, odd_photo):
    codec = VVCCodec(threads=1)
    ok, reason = codec.available()
    if not ok:
        pytest.skip(reason)
    assert codec.padded_size(45, 67) == (46, 68) and codec.padded_size(3, 100) == (32, 100)
    data = codec.encode(odd_photo, 37)
    assert data.startswith(b'\x00\x00\x00\x01') or data.startswith(b'\x00\x00\x01')  # Annex-B
    assert codec.decode(data).shape == (46, 68, 3)  # the coded (padded) picture
    assert codec.decode(data, size=(45, 67)).shape == (45, 67, 3)
    with pytest.raises(ValueError, match='smaller than the requested size'):
        codec.decode(data, size=(50, 67))
    with pytest.raises(CodecError, match=r'vvc: ffmpeg decode of \d+ bytes failed \(exit code'):
        codec.decode(b'\x00\x00\x01' + bytes(64))
    with pytest.raises(CodecError, match='timed out after'):
        VVCCodec(timeout=1e-4).encode(photo, 37)
    with pytest.raises(ValueError, match='preset'):
        VVCCodec(preset='veryslow')


def test_vvc_qp_is_the_slice_qp(photo):
    """QP 37 codes the intra slice at QP 37 (not vvenc's default 3 below): read it back with
    ffmpeg's trace_headers bitstream filter, SliceQpY = 26 + pps_init_qp_minus26 +
    sh_qp_delta."""
    import subprocess

    codec = VVCCodec()
    ok, reason = codec.available()
    if not ok:
        pytest.skip(reason)
    out = subprocess.run([codec._exe(), '-hide_banner', '-f', 'vvc', '-i', 'pipe:0', '-c',
                          'copy', '-bsf:v', 'trace_headers', '-f', 'null', '-'],
                         input=codec.encode(photo, 37), capture_output=True, timeout=60)
    fields = {}
    for line in out.stderr.decode(errors='replace').splitlines():
        for key in ('pps_init_qp_minus26', 'sh_qp_delta', 'ph_qp_delta'):
            if f' {key} ' in line:
                fields[key] = int(line.rsplit('=', 1)[1])
    if 'pps_init_qp_minus26' not in fields:
        pytest.skip('this ffmpeg has no trace_headers output for VVC')
    qp = 26 + fields['pps_init_qp_minus26'] + fields.get('sh_qp_delta', 0) + fields.get(
        'ph_qp_delta', 0)
    assert qp == 37


# ---------------------------------------------------------------------------------- sweep
def test_sweep_aggregates(photo, odd_photo):
    images = [photo, odd_photo]
    seen = []
    points = list(sweep('jpeg', images, [10, 90],
                        callback=lambda *args: seen.append(args[:3] + (args[4], ))))
    assert [type(p) for p in points] == [SweepPoint, SweepPoint]
    pixels = 96 * 96 + 45 * 67
    for p in points:
        assert p.num_pixels == pixels and len(p.num_bytes) == 2
        assert p.bpp == pytest.approx(8 * sum(p.num_bytes) / pixels)
        assert [d.shape for d in p.decoded] == [img.shape for img in images]
    assert points[0].bpp < points[1].bpp
    assert seen == [('jpeg', q, i, p.num_bytes[i]) for p, q in zip(points, (10, 90))
                    for i in range(2)]
    lean = list(sweep([get_pixel_codec('jpeg', optimize=False)], images, {'jpeg': [10]},
                      keep_decoded=False))
    assert lean[0].decoded is None and lean[0].bpp > points[0].bpp  # unoptimised Huffman
    streamed = list(sweep('jpeg', (img for img in images), [10]))  # any iterable of arrays
    assert streamed[0].num_bytes == points[0].num_bytes


def test_sweep_bad_arguments(photo):
    with pytest.raises(TypeError, match='ambiguous'):
        list(sweep(['jpeg', 'webp'], [photo], [10, 20]))
    with pytest.raises(ValueError, match=r'jpeg quality must be in \[1, 100\]'):
        list(sweep('jpeg', [photo], {'jpeg': [0]}))
    with pytest.raises(ValueError, match=r"not swept: \['jpg'\]"):
        list(sweep('jpeg', [photo], {'jpg': [10]}))
    with pytest.raises(ValueError, match="unknown pixel codec 'png'"):
        list(sweep(['png'], [photo]))
    with pytest.raises(ValueError, match='images is empty'):
        list(sweep('jpeg', []))
    with pytest.raises(TypeError, match='images must be a sequence'):
        list(sweep('jpeg', photo))
    with pytest.raises(TypeError, match=r'images\[1\] must have dtype uint8'):
        list(sweep('jpeg', [photo, photo.astype(float)]))
    with pytest.raises(ValueError, match='distinct'):
        list(sweep(['jpeg', 'jpeg'], [photo]))
