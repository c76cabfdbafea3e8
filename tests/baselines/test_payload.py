"""Payload parsers (``mmdicm.baselines.payload``): exact counts on hand-built files of each
format, consistent counts on real encoder output, and a clear error for malformed bytes."""
import struct

import numpy as np
import pytest
from skimage import data as skdata

from mmdicm.codec.bitstream import pack
from mmdicm.baselines import PIXEL_CODECS, get_pixel_codec
from mmdicm.baselines.payload import (PAYLOAD_PARSERS, PayloadError, isobmff_payload,
                                      jpeg_payload, payload_size, vvc_annexb_payload,
                                      webp_payload)


def _segment(marker: int, body: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack('>H', len(body) + 2) + body


def test_jpeg_counts_scan_data_only_across_scans_with_stuffing_and_restarts():
    scan1 = b'\x12\x34\xff\x00\x56\xff\xd0\x78'  # a stuffed 0xFF and an RST marker inside
    scan2 = b'\x9a' * 5
    data = (b'\xff\xd8' + _segment(0xE0, b'JFIF\x00' + b'\x00' * 9) + _segment(0xDB, b'\x00' * 65)
            + _segment(0xC0, b'\x08' + b'\x00' * 14) + _segment(0xC4, b'\x00' * 30)
            + _segment(0xDA, b'\x01' * 8) + scan1 + _segment(0xC4, b'\x01' * 20)
            + _segment(0xDA, b'\x02' * 8) + scan2 + b'\xff\xd9')
    assert jpeg_payload(data) == len(scan1) + len(scan2)
    with pytest.raises(PayloadError, match='jpeg: no SOI'):
        jpeg_payload(b'\x89PNG' + data)
    with pytest.raises(PayloadError, match='jpeg: the scan data has no end marker'):
        jpeg_payload(data[:-2])
    with pytest.raises(PayloadError, match='bad length'):
        jpeg_payload(b'\xff\xd8\xff\xdb\xff\xff')


def _chunk(fourcc: bytes, body: bytes) -> bytes:
    return fourcc + struct.pack('<I', len(body)) + body + b'\x00' * (len(body) & 1)


def test_webp_counts_the_vp8_bitstream_after_its_frame_header():
    body = _chunk(b'VP8X', b'\x00' * 10) + _chunk(b'VP8 ', b'\x00' * 10 + b'\x55' * 37) \
        + _chunk(b'EXIF', b'\x00' * 3)
    data = b'RIFF' + struct.pack('<I', 4 + len(body)) + b'WEBP' + body
    assert webp_payload(data) == 37
    with pytest.raises(PayloadError, match='webp: no RIFF'):
        webp_payload(b'RIFX' + data[4:])
    with pytest.raises(PayloadError, match='truncated'):
        webp_payload(data[:-8])
    no_vp8 = b'RIFF' + struct.pack('<I', 4 + 18) + b'WEBP' + _chunk(b'VP8X', b'\x00' * 10)
    with pytest.raises(PayloadError, match='no VP8 or VP8L chunk'):
        webp_payload(no_vp8)


def _box(kind: bytes, body: bytes, large: bool = False) -> bytes:
    if large:
        return struct.pack('>I4sQ', 1, kind, 16 + len(body)) + body
    return struct.pack('>I4s', 8 + len(body), kind) + body


def test_isobmff_counts_every_mdat_box_and_knows_64_bit_sizes():
    data = (_box(b'ftyp', b'heic\x00\x00\x00\x00') + _box(b'meta', b'\x00' * 200)
            + _box(b'mdat', b'\x11' * 40) + _box(b'mdat', b'\x22' * 7, large=True))
    assert isobmff_payload(data) == 47
    open_ended = _box(b'ftyp', b'avif') + struct.pack('>I4s', 0, b'mdat') + b'\x33' * 9
    assert isobmff_payload(open_ended) == 9  # size 0: the box runs to the end of the file
    with pytest.raises(PayloadError, match='no ftyp box'):
        isobmff_payload(data[8:])
    with pytest.raises(PayloadError, match="box b'mdat' at byte .* bad size"):
        isobmff_payload(data[:-3])
    with pytest.raises(PayloadError, match='no mdat box'):
        isobmff_payload(_box(b'ftyp', b'heic'))


def _nal(nal_type: int, body: bytes, long_start: bool = False) -> bytes:
    return (b'\x00' if long_start else b'') + b'\x00\x00\x01' + \
        bytes([0x00, (nal_type << 3) | 1]) + body


def test_vvc_counts_vcl_nal_units_without_start_codes_or_parameter_sets():
    slices = [_nal(8, b'\x7a' * 50), _nal(1, b'\x7b' * 9 + b'\x80')]  # IDR_N_LP, TRAIL
    data = (_nal(20, b'\x10', long_start=True) + _nal(15, b'\x01' * 30, long_start=True)
            + _nal(16, b'\x02' * 6) + _nal(17, b'\x03' * 12) + slices[0] + b'\x00'
            + _nal(23, b'\x04' * 20, long_start=True) + slices[1])
    assert vvc_annexb_payload(data) == (2 + 50) + (2 + 10)
    with pytest.raises(PayloadError, match='not Annex-B'):
        vvc_annexb_payload(b'\x42' + data)
    with pytest.raises(PayloadError, match='forbidden_zero_bit'):
        vvc_annexb_payload(b'\x00\x00\x01\x80\x41\x00')
    with pytest.raises(PayloadError, match='shorter than its 2-byte header'):
        vvc_annexb_payload(data + b'\x00\x00\x01\x00')


def test_dicm_payload_is_the_entropy_coded_strings():
    data = pack(b'\x01' * 16, (64, 64), [(4, 4)], [[b'abc', b'de'], [b'fgh']])
    assert payload_size('dicm', data) == 8 < len(data)
    with pytest.raises(PayloadError, match='dicm: '):
        payload_size('dicm', data[:-1])


def test_payload_size_arguments():
    assert set(PAYLOAD_PARSERS) == set(PIXEL_CODECS) | {'dicm'}
    with pytest.raises(ValueError, match="no payload parser for 'bpg'"):
        payload_size('bpg', b'')
    with pytest.raises(TypeError, match='must be bytes'):
        payload_size('jpeg', 'text')


@pytest.mark.parametrize('name', sorted(PIXEL_CODECS))
def test_real_files_payload_grows_with_rate_and_the_rest_stays_small(name):
    codec = get_pixel_codec(name)
    ok, reason = codec.available()
    if not ok:
        pytest.skip(reason)
    photo = np.ascontiguousarray(skdata.astronaut()[110:206, 190:286])
    low, high = codec.qualities[0], codec.qualities[-1]
    files = [codec.encode(photo, q) for q in (low, high)]
    payloads = [codec.payload_bytes(d) for d in files]
    assert 0 < payloads[0] < payloads[1], (name, payloads)
    overheads = [len(d) - p for d, p in zip(files, payloads)]
    # headers, tables and boxes: at least a RIFF/chunk header, at most a few hundred bytes,
    # nearly the same at both rates (JPEG's optimised Huffman tables vary a little)
    assert all(20 <= o <= 500 for o in overheads), (name, overheads)
    assert abs(overheads[0] - overheads[1]) <= 80, (name, overheads)
    with pytest.raises(PayloadError):
        codec.payload_bytes(files[0][: len(files[0]) // 2] if name != 'vvc' else b'\x42' * 9)
