"""Entropy-coded payload of a coded image: its bytes without headers, tables and containers.

A diagnostic for small images, where each format's fixed part (JPEG's tables, the HEIF/AVIF
boxes, VVC's parameter sets, DICM's container header) decides a whole-file comparison; never
the headline rate. What each parser counts and leaves out: ``docs/baselines.md``. Each parser
raises :class:`PayloadError` (a ``ValueError``) naming the format and what is wrong when the
bytes are not a well-formed file of that format.
"""
import struct
from typing import Callable, Dict

__all__ = ['PayloadError', 'jpeg_payload', 'webp_payload', 'isobmff_payload',
           'vvc_annexb_payload', 'PAYLOAD_PARSERS', 'payload_size']


class PayloadError(ValueError):
    """The bytes are not a well-formed file of the format asked for."""


# JPEG markers without a length field: TEM, RST0-7, SOI (EOI ends the file)
_JPEG_STANDALONE = {0x01, 0xD8} | set(range(0xD0, 0xD8))


def jpeg_payload(data: bytes) -> int:
    """Bytes of entropy-coded scan data in a JPEG (JFIF) file."""
    n = len(data)
    if n < 4 or data[0] != 0xFF or data[1] != 0xD8:
        raise PayloadError('jpeg: no SOI marker at the start (not a JPEG file)')
    pos, payload = 2, 0
    while True:
        if pos >= n or data[pos] != 0xFF:
            raise PayloadError(f'jpeg: expected a marker at byte {pos}')
        while pos < n and data[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= n:
            raise PayloadError('jpeg: the file ends inside a marker (truncated)')
        marker = data[pos]
        pos += 1
        if marker == 0xD9:  # EOI
            return payload
        if marker in _JPEG_STANDALONE:
            continue
        if pos + 2 > n:
            raise PayloadError(f'jpeg: segment 0xFF{marker:02X} is truncated')
        length = struct.unpack_from('>H', data, pos)[0]
        if length < 2 or pos + length > n:
            raise PayloadError(f'jpeg: segment 0xFF{marker:02X} at byte {pos - 2} has a bad '
                               f'length {length}')
        pos += length
        if marker != 0xDA:  # not SOS: a header or table segment
            continue
        start = pos  # scan data runs to the next marker that is not a stuffed 0 or an RST
        while True:
            pos = data.find(b'\xff', pos)
            if pos < 0 or pos + 1 >= n:
                raise PayloadError('jpeg: the scan data has no end marker (truncated)')
            following = data[pos + 1]
            if following == 0x00 or 0xD0 <= following <= 0xD7:
                pos += 2
                continue
            if following == 0xFF:  # fill byte before a marker
                pos += 1
                continue
            break
        payload += pos - start


def webp_payload(data: bytes) -> int:
    """Bytes of the VP8 / VP8L bitstream in a WebP file, after its frame header."""
    if len(data) < 12 or data[:4] != b'RIFF' or data[8:12] != b'WEBP':
        raise PayloadError('webp: no RIFF/WEBP header (not a WebP file)')
    riff_end = 8 + struct.unpack_from('<I', data, 4)[0]
    if riff_end > len(data):
        raise PayloadError(f'webp: the RIFF size says {riff_end} bytes, the file has '
                           f'{len(data)} (truncated)')
    pos, payload, found = 12, 0, False
    while pos + 8 <= riff_end:
        fourcc, size = data[pos:pos + 4], struct.unpack_from('<I', data, pos + 4)[0]
        body = pos + 8
        if body + size > riff_end:
            raise PayloadError(f'webp: chunk {fourcc!r} at byte {pos} runs past the file')
        if fourcc in (b'VP8 ', b'VP8L'):
            header = 10 if fourcc == b'VP8 ' else 5
            if size < header:
                raise PayloadError(f'webp: {fourcc.decode().strip()} chunk of {size} bytes is '
                                   'shorter than its frame header')
            payload += size - header
            found = True
        pos = body + size + (size & 1)  # chunks are padded to an even size
    if not found:
        raise PayloadError('webp: no VP8 or VP8L chunk')
    return payload


def isobmff_payload(data: bytes) -> int:
    """Bytes inside the ``mdat`` boxes of an ISO base media file (HEIF, AVIF)."""
    n = len(data)
    if n < 8 or data[4:8] != b'ftyp':
        raise PayloadError('heif: no ftyp box at the start (not an ISOBMFF/HEIF/AVIF file)')
    pos, payload, found = 0, 0, False
    while pos < n:
        if pos + 8 > n:
            raise PayloadError(f'heif: a box header at byte {pos} is truncated')
        size, kind = struct.unpack_from('>I4s', data, pos)
        header = 8
        if size == 1:
            if pos + 16 > n:
                raise PayloadError(f'heif: the 64-bit size of box {kind!r} is truncated')
            size, header = struct.unpack_from('>Q', data, pos + 8)[0], 16
        elif size == 0:  # to the end of the file
            size = n - pos
        if size < header or pos + size > n:
            raise PayloadError(f'heif: box {kind!r} at byte {pos} has a bad size {size}')
        if kind == b'mdat':
            payload += size - header
            found = True
        pos += size
    if not found:
        raise PayloadError('heif: no mdat box')
    return payload


def vvc_annexb_payload(data: bytes) -> int:
    """Bytes of the VCL NAL units (coded slices, NAL headers included) of a VVC Annex-B
    stream; start codes and non-VCL units (parameter sets, APS, SEI, picture headers,
    delimiters) are left out."""
    starts = []
    pos = data.find(b'\x00\x00\x01')
    if pos < 0 or data[:pos].strip(b'\x00'):
        raise PayloadError('vvc: the stream does not start with a start code (not Annex-B)')
    while pos >= 0:
        starts.append(pos + 3)
        pos = data.find(b'\x00\x00\x01', pos + 3)
    payload = 0
    for i, begin in enumerate(starts):
        end = starts[i + 1] - 3 if i + 1 < len(starts) else len(data)
        unit = data[begin:end].rstrip(b'\x00')  # a NAL unit never ends in a zero byte
        if len(unit) < 2:
            raise PayloadError(f'vvc: NAL unit {i} is shorter than its 2-byte header')
        if unit[0] & 0x80:
            raise PayloadError(f'vvc: NAL unit {i} has its forbidden_zero_bit set')
        if (unit[1] >> 3) <= 11:  # nal_unit_type 0-11: VCL (coded slice) units
            payload += len(unit)
    return payload


def _dicm_payload(data: bytes) -> int:
    from ..codec.bitstream import BitstreamError, unpack
    try:
        return unpack(data).payload_size
    except BitstreamError as e:
        raise PayloadError(f'dicm: {e}') from None


#: Payload parser per format name (the pixel codecs' names, and 'dicm')
PAYLOAD_PARSERS: Dict[str, Callable[[bytes], int]] = {
    'jpeg': jpeg_payload,
    'webp': webp_payload,
    'avif': isobmff_payload,
    'hevc': isobmff_payload,
    'vvc': vvc_annexb_payload,
    'dicm': _dicm_payload,
}


def payload_size(fmt: str, data: bytes) -> int:
    """Payload bytes of ``data`` coded in ``fmt`` (a key of :data:`PAYLOAD_PARSERS`)."""
    if fmt not in PAYLOAD_PARSERS:
        raise ValueError(f'no payload parser for {fmt!r}; known: {sorted(PAYLOAD_PARSERS)}')
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f'data must be bytes, got {type(data).__name__}')
    return PAYLOAD_PARSERS[fmt](bytes(data))
