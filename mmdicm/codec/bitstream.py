"""Self-describing container for one DICM-compressed image (standard library only).

It carries the entropy-coded strings of one image with what a receiver needs to decode them
safely: the writing model's fingerprint, image and padded sizes, latent shapes and string
lengths, and a CRC. Malformed input makes :func:`unpack` raise :class:`BitstreamError`, never
another exception, a hang, a huge allocation or silently wrong data. The byte layout, the
checks and their limits: ``docs/bitstream.md``.

Example:
    >>> fp = model_fingerprint(b'architecture config + quantised CDF tables')
    >>> data = pack(fp, image_size=(480, 640), latent_shapes=[(8, 10)],
    ...             sections=[[b'y-bytes'], [b'z-bytes']], padded_size=(512, 640))
    >>> len(data)  # 75 bytes of container + 14 bytes of payload
    89
    >>> stream = unpack(data, expected_fingerprint=fp)
    >>> stream.image_size, stream.latent_shapes, stream.strings
    ((480, 640), ((8, 10),), [[b'y-bytes'], [b'z-bytes']])
"""
from __future__ import annotations

import operator
import struct
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .fingerprint import FINGERPRINT_SIZE, is_bytes_like, model_fingerprint

__all__ = [
    'BitstreamError', 'DICMBitstream', 'FINGERPRINT_SIZE', 'FIXED_OVERHEAD',
    'FORMAT_VERSION', 'MAGIC', 'MAX_FILE_SIZE', 'container_overhead', 'model_fingerprint',
    'pack', 'unpack'
]

MAGIC = b'DICM'
FORMAT_VERSION = 1

MAX_IMAGE_SIDE = 1 << 16
MAX_LATENT_SHAPES = 16
MAX_SHAPE_NDIM = 8
MAX_LATENT_DIM = 1 << 16
MAX_SECTIONS = 64
MAX_STRINGS_PER_SECTION = 1024
MAX_PAYLOAD_SIZE = 1 << 30

_MAGIC_VERSION = struct.Struct('<4sH')
_PREFIX = struct.Struct('<4sHII')  # magic, version, header size, payload size
_FIXED = struct.Struct('<16sIIII')  # fingerprint, image H, W, padded H, W
_U8 = struct.Struct('<B')
_U16 = struct.Struct('<H')
_U32 = struct.Struct('<I')

#: Overhead of a file with no latent shapes and no sections (header + CRC).
FIXED_OVERHEAD = _PREFIX.size + _FIXED.size + 2 * _U16.size + _U32.size  # 54
_MIN_HEADER_SIZE = FIXED_OVERHEAD - _U32.size
_MAX_HEADER_SIZE = (
    _MIN_HEADER_SIZE + MAX_LATENT_SHAPES * (1 + 4 * MAX_SHAPE_NDIM) + MAX_SECTIONS *
    (2 + 4 * MAX_STRINGS_PER_SECTION))
MAX_FILE_SIZE = _MAX_HEADER_SIZE + MAX_PAYLOAD_SIZE + _U32.size

class BitstreamError(ValueError):
    """A byte string or file is not a valid mmdicm bitstream.

    The only exception :func:`unpack` and :func:`read` raise for malformed content (empty,
    foreign, truncated, extended, corrupted, or written by another model). The message says
    what is wrong.
    """


def _to_bytes(obj: Any, what: str) -> bytes:
    if isinstance(obj, bytes):
        return obj
    if isinstance(obj, str) or not is_bytes_like(obj):
        raise TypeError(f'{what} must be a bytes-like object, got {type(obj).__name__}')
    return memoryview(obj).tobytes()


def _to_int(value: Any, what: str, low: int, high: int) -> int:
    if isinstance(value, bool):
        raise TypeError(f'{what} must be an int, got bool')
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError(f'{what} must be an int, got {type(value).__name__}') from None
    if not low <= value <= high:
        raise ValueError(f'{what} must be in [{low}, {high}], got {value}')
    return value


def _to_tuple(obj: Any, what: str) -> tuple:
    if isinstance(obj, (str, bytes, bytearray, memoryview, Mapping)):
        raise TypeError(f'{what} must be a sequence, got {type(obj).__name__}')
    try:
        return tuple(obj)
    except TypeError:
        raise TypeError(f'{what} must be a sequence, got {type(obj).__name__}') from None


def _to_size(size: Any, what: str) -> tuple[int, int]:
    size = _to_tuple(size, what)
    if len(size) != 2:
        raise ValueError(f'{what} must be (height, width), got {size!r}')
    return (_to_int(size[0], f'{what}[0] (height)', 1, MAX_IMAGE_SIDE),
            _to_int(size[1], f'{what}[1] (width)', 1, MAX_IMAGE_SIDE))


def container_overhead(latent_shapes: Sequence[Sequence[int]],
                       sections: Sequence[Sequence[Any]]) -> int:
    """Number of container bytes (header + CRC) around the payload.

    ``54 + sum(1 + 4 * len(shape)) + sum(2 + 4 * len(section))``. Only the lengths of the
    arguments matter, so the strings themselves may be placeholders. A standard DICM file
    (one z shape ``(h, w)``, sections ``[[y_string], [z_string]]``) has 75 bytes of
    overhead; the file size is ``overhead + sum of string lengths``.

    Args:
        latent_shapes (Sequence[Sequence[int]]): The latent shapes to store.
        sections (Sequence[Sequence]): The sections to store, each a sequence of strings.

    Returns:
        int: Header bytes plus the 4-byte CRC.
    """
    return (FIXED_OVERHEAD + sum(1 + 4 * len(shape) for shape in latent_shapes) +
            sum(2 + 4 * len(section) for section in sections))


@dataclass(frozen=True, repr=False)
class DICMBitstream:
    """The decoded content of one mmdicm bitstream (one image).

    Constructor arguments are validated and normalised (lists become tuples, bytes-like
    objects become ``bytes``, ``padded_size=None`` becomes ``image_size``); invalid values
    raise ``TypeError`` or ``ValueError`` (not :class:`BitstreamError`, which is reserved for
    malformed input).

    Args:
        fingerprint (bytes): ``FINGERPRINT_SIZE`` (16) bytes identifying the model that wrote
            the file, from :func:`model_fingerprint`.
        image_size (tuple[int, int]): Original image ``(height, width)`` before padding.
        latent_shapes (Sequence[Sequence[int]]): Shapes the decoder needs, stored as given
            (CompressAI's ``compress()["shape"]`` is z's spatial shape ``(h, w)``).
        sections (Sequence[Sequence[bytes]]): One section per entropy model, each a
            sequence of byte strings (CompressAI's ``compress()["strings"]`` for a single
            image, e.g. ``[[y_string], [z_string]]``).
        padded_size (tuple[int, int], optional): Input ``(height, width)`` the codec saw
            after padding to its stride. Defaults to None (same as ``image_size``).
        version (int): Format version. Only ``FORMAT_VERSION`` exists. Defaults to
            ``FORMAT_VERSION``.
    """

    fingerprint: bytes
    image_size: tuple[int, int]
    latent_shapes: tuple[tuple[int, ...], ...]
    sections: tuple[tuple[bytes, ...], ...]
    padded_size: tuple[int, int] | None = None
    version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        fingerprint = _to_bytes(self.fingerprint, 'fingerprint')
        if len(fingerprint) != FINGERPRINT_SIZE:
            raise ValueError(f'fingerprint must be {FINGERPRINT_SIZE} bytes '
                             f'(see model_fingerprint()), got {len(fingerprint)}')
        image_size = _to_size(self.image_size, 'image_size')
        padded_size = (image_size if self.padded_size is None else _to_size(
            self.padded_size, 'padded_size'))

        shapes = _to_tuple(self.latent_shapes, 'latent_shapes')
        if len(shapes) > MAX_LATENT_SHAPES:
            raise ValueError(f'at most {MAX_LATENT_SHAPES} latent shapes, got {len(shapes)}')
        latent_shapes = []
        for i, shape in enumerate(shapes):
            shape = _to_tuple(shape, f'latent_shapes[{i}]')
            if len(shape) > MAX_SHAPE_NDIM:
                raise ValueError(f'latent_shapes[{i}] has {len(shape)} dims, '
                                 f'at most {MAX_SHAPE_NDIM} allowed')
            latent_shapes.append(
                tuple(
                    _to_int(d, f'latent_shapes[{i}][{j}]', 0, MAX_LATENT_DIM)
                    for j, d in enumerate(shape)))

        raw_sections = _to_tuple(self.sections, 'sections')
        if len(raw_sections) > MAX_SECTIONS:
            raise ValueError(f'at most {MAX_SECTIONS} sections, got {len(raw_sections)}')
        sections = []
        for i, section in enumerate(raw_sections):
            if isinstance(section, str) or is_bytes_like(section):
                raise TypeError(
                    f'sections[{i}] is a {type(section).__name__}; each section is a '
                    'sequence of byte strings (one CompressAI strings[i] entry), e.g. '
                    'sections=[[y_string], [z_string]]')
            section = _to_tuple(section, f'sections[{i}]')
            if len(section) > MAX_STRINGS_PER_SECTION:
                raise ValueError(f'sections[{i}] has {len(section)} strings, '
                                 f'at most {MAX_STRINGS_PER_SECTION} allowed')
            sections.append(
                tuple(_to_bytes(s, f'sections[{i}][{j}]') for j, s in enumerate(section)))
        payload_size = sum(len(s) for section in sections for s in section)
        if payload_size > MAX_PAYLOAD_SIZE:
            raise ValueError(f'payload of {payload_size} bytes exceeds the '
                             f'{MAX_PAYLOAD_SIZE}-byte limit')

        version = _to_int(self.version, 'version', 0, 0xFFFF)
        if version != FORMAT_VERSION:
            raise ValueError(f'format version {version} is not supported '
                             f'(this mmdicm writes {FORMAT_VERSION})')

        for name, value in (('fingerprint', fingerprint), ('image_size', image_size),
                            ('padded_size', padded_size),
                            ('latent_shapes', tuple(latent_shapes)),
                            ('sections', tuple(sections)), ('version', version)):
            object.__setattr__(self, name, value)

    @property
    def strings(self) -> list[list[bytes]]:
        """list[list[bytes]]: The sections in CompressAI's ``strings`` form."""
        return [list(section) for section in self.sections]

    @property
    def payload_size(self) -> int:
        """int: Total bytes of all strings."""
        return sum(len(s) for section in self.sections for s in section)

    @property
    def overhead_size(self) -> int:
        """int: Container bytes (header + CRC), see :func:`container_overhead`."""
        return container_overhead(self.latent_shapes, self.sections)

    @property
    def num_bytes(self) -> int:
        """int: Size of the packed bitstream (overhead + payload)."""
        return self.overhead_size + self.payload_size

    def to_bytes(self) -> bytes:
        """Serialise to the layout of docs/bitstream.md.

        Returns:
            bytes: The complete bitstream, CRC included.
        """
        header_size = self.overhead_size - _U32.size
        parts = [
            _PREFIX.pack(MAGIC, self.version, header_size, self.payload_size),
            _FIXED.pack(self.fingerprint, *self.image_size, *self.padded_size),
            _U16.pack(len(self.latent_shapes))
        ]
        for shape in self.latent_shapes:
            parts.append(struct.pack(f'<B{len(shape)}I', len(shape), *shape))
        parts.append(_U16.pack(len(self.sections)))
        for section in self.sections:
            parts.append(
                struct.pack(f'<H{len(section)}I', len(section), *(len(s) for s in section)))
        parts.extend(s for section in self.sections for s in section)
        body = b''.join(parts)
        return body + _U32.pack(zlib.crc32(body))

    @classmethod
    def from_bytes(cls,
                   data: bytes,
                   expected_fingerprint: bytes | None = None) -> DICMBitstream:
        """Same as :func:`unpack`."""
        return unpack(data, expected_fingerprint)

    def __repr__(self) -> str:
        section_sizes = [[len(s) for s in section] for section in self.sections]
        return (f'{type(self).__name__}(version={self.version}, '
                f'fingerprint={self.fingerprint.hex()!r}, image_size={self.image_size}, '
                f'padded_size={self.padded_size}, latent_shapes={self.latent_shapes}, '
                f'section_sizes={section_sizes})')


def pack(fingerprint: bytes,
         image_size: tuple[int, int],
         latent_shapes: Sequence[Sequence[int]],
         sections: Sequence[Sequence[bytes]],
         padded_size: tuple[int, int] | None = None) -> bytes:
    """Build a bitstream for one image.

    Args:
        fingerprint (bytes): 16-byte model fingerprint from :func:`model_fingerprint`.
        image_size (tuple[int, int]): Original image ``(height, width)``.
        latent_shapes (Sequence[Sequence[int]]): Latent shapes, stored as given.
        sections (Sequence[Sequence[bytes]]): Byte strings per entropy model, e.g.
            ``[[y_string], [z_string]]``.
        padded_size (tuple[int, int], optional): Padded input ``(height, width)``.
            Defaults to None (same as ``image_size``).

    Returns:
        bytes: The bitstream; its length is
        ``container_overhead(latent_shapes, sections) + total string length``.

    Raises:
        TypeError, ValueError: If an argument has the wrong type or is out of limits.
    """
    return DICMBitstream(fingerprint, image_size, latent_shapes, sections,
                         padded_size).to_bytes()


class _HeaderReader:
    """Reads header fields, never past the declared header end."""

    def __init__(self, buf: memoryview, pos: int, end: int) -> None:
        self.buf, self.pos, self.end = buf, pos, end

    def read(self, fmt: str | struct.Struct, what: str) -> tuple:
        st = fmt if isinstance(fmt, struct.Struct) else struct.Struct(fmt)
        if self.pos + st.size > self.end:
            raise BitstreamError(f'corrupt header: {what} at offset {self.pos} runs past the '
                                 f'end of the {self.end}-byte header')
        values = st.unpack_from(self.buf, self.pos)
        self.pos += st.size
        return values

    def count(self, st: struct.Struct, what: str, limit: int) -> int:
        (n, ) = self.read(st, what)
        if n > limit:
            raise BitstreamError(f'corrupt header: {n} {what}, at most {limit} allowed')
        return n


def _check_side(value: int, what: str) -> None:
    if not 1 <= value <= MAX_IMAGE_SIDE:
        raise BitstreamError(f'corrupt header: {what} {value} outside [1, {MAX_IMAGE_SIDE}]')


def _parse_prefix(buf: memoryview) -> int:
    """Check magic, version and declared sizes; return the declared total length."""
    n = len(buf)
    if n == 0:
        raise BitstreamError('empty input')
    head = buf[:len(MAGIC)].tobytes()
    if head != MAGIC[:len(head)]:
        raise BitstreamError(f'bad magic: not an mmdicm bitstream (starts with {head!r}, '
                             f'expected {MAGIC!r})')
    if n >= _MAGIC_VERSION.size:
        (_, version) = _MAGIC_VERSION.unpack_from(buf)
        if version != FORMAT_VERSION:
            raise BitstreamError(f'unsupported format version {version} '
                                 f'(this mmdicm reads {FORMAT_VERSION})')
    if n < _PREFIX.size:
        raise BitstreamError(f'truncated: {n} bytes, shorter than the {_PREFIX.size}-byte '
                             'fixed header')
    (_, _, header_size, payload_size) = _PREFIX.unpack_from(buf)
    if not _MIN_HEADER_SIZE <= header_size <= _MAX_HEADER_SIZE:
        raise BitstreamError(f'corrupt header: header size {header_size} outside '
                             f'[{_MIN_HEADER_SIZE}, {_MAX_HEADER_SIZE}]')
    if payload_size > MAX_PAYLOAD_SIZE:
        raise BitstreamError(f'corrupt header: payload size {payload_size} exceeds the '
                             f'{MAX_PAYLOAD_SIZE}-byte limit')
    return header_size + payload_size + _U32.size


def check_expected_fingerprint(expected_fingerprint: Any) -> bytes | None:
    """``expected_fingerprint`` as 16 bytes (or None); ``TypeError``/``ValueError`` otherwise."""
    if expected_fingerprint is None:
        return None
    expected = _to_bytes(expected_fingerprint, 'expected_fingerprint')
    if len(expected) != FINGERPRINT_SIZE:
        raise ValueError(f'expected_fingerprint must be {FINGERPRINT_SIZE} bytes, '
                         f'got {len(expected)}')
    return expected


def _check_length_and_crc(buf: memoryview) -> None:
    """The input is exactly as long as its header declares, and its CRC is right."""
    n = len(buf)
    total = _parse_prefix(buf)
    (_, _, header_size, payload_size) = _PREFIX.unpack_from(buf)
    declared = (f'header says {header_size}-byte header + {payload_size} payload bytes + '
                f'4-byte CRC = {total} bytes, file has {n}')
    if n < total:
        raise BitstreamError(f'truncated: {declared}')
    if n > total:
        raise BitstreamError(f'trailing garbage: {declared} ({n - total} extra)')
    (stored_crc, ) = _U32.unpack_from(buf, total - _U32.size)
    computed_crc = zlib.crc32(buf[:total - _U32.size])
    if stored_crc != computed_crc:
        raise BitstreamError(f'CRC mismatch: stored 0x{stored_crc:08x}, computed '
                             f'0x{computed_crc:08x} (the data is corrupted)')


def _read_shapes_and_lengths(reader: _HeaderReader) -> tuple[list, list]:
    """The latent shapes and the string lengths of every section, within the limits."""
    latent_shapes = []
    for i in range(reader.count(_U16, 'latent shapes', MAX_LATENT_SHAPES)):
        ndim = reader.count(_U8, f'dims in latent shape {i}', MAX_SHAPE_NDIM)
        shape = reader.read(f'<{ndim}I', f'latent shape {i}')
        for d in shape:
            if d > MAX_LATENT_DIM:
                raise BitstreamError(f'corrupt header: latent shape {i} = {shape} has a dim '
                                     f'above {MAX_LATENT_DIM}')
        latent_shapes.append(shape)
    lengths = []
    for i in range(reader.count(_U16, 'sections', MAX_SECTIONS)):
        k = reader.count(_U16, f'strings in section {i}', MAX_STRINGS_PER_SECTION)
        lengths.append(reader.read(f'<{k}I', f'string lengths of section {i}'))
    return latent_shapes, lengths


def unpack(data: bytes, expected_fingerprint: bytes | None = None) -> DICMBitstream:
    """Parse and verify a bitstream.

    Args:
        data (bytes): The bitstream; any bytes-like object (``bytes``, ``bytearray``,
            ``memoryview``, a numpy ``uint8`` array) is accepted.
        expected_fingerprint (bytes, optional): If given, the fingerprint of the model that
            will decode the strings; a file written by another model is rejected.
            Defaults to None (no check; compare ``.fingerprint`` yourself).

    Returns:
        DICMBitstream: The verified content.

    Raises:
        BitstreamError: For any malformed input (empty, bad magic, unsupported version,
            truncated, trailing garbage, CRC mismatch, corrupt header, fingerprint
            mismatch). It is the only exception malformed bytes can cause.
        TypeError: If ``data`` is not bytes-like (e.g. ``str``, ``int``, ``None``) -- a
            programming error, not a malformed file -- or ``expected_fingerprint`` is not.
        ValueError: If ``expected_fingerprint`` is not 16 bytes long.
    """
    if not is_bytes_like(data):
        raise TypeError(f'unpack() expects a bytes-like object, got {type(data).__name__}')
    expected = check_expected_fingerprint(expected_fingerprint)
    buf = memoryview(data)
    if buf.format != 'B' or buf.ndim != 1 or not buf.c_contiguous:
        buf = memoryview(buf.tobytes())

    _check_length_and_crc(buf)
    (_, _, header_size, payload_size) = _PREFIX.unpack_from(buf)
    reader = _HeaderReader(buf, _PREFIX.size, header_size)
    (fingerprint, image_h, image_w, padded_h,
     padded_w) = reader.read(_FIXED, 'fingerprint and image size')
    _check_side(image_h, 'image height')
    _check_side(image_w, 'image width')
    _check_side(padded_h, 'padded height')
    _check_side(padded_w, 'padded width')

    latent_shapes, lengths = _read_shapes_and_lengths(reader)
    if reader.pos != header_size:
        raise BitstreamError(f'corrupt header: fields end at offset {reader.pos}, header '
                             f'size says {header_size}')
    if sum(map(sum, lengths)) != payload_size:
        raise BitstreamError(f'corrupt header: string lengths add up to '
                             f'{sum(map(sum, lengths))} bytes, payload size says '
                             f'{payload_size}')

    if expected is not None and fingerprint != expected:
        raise BitstreamError(f'model fingerprint mismatch: file was written by model '
                             f'{fingerprint.hex()}, this model is {expected.hex()}')

    pos = header_size
    sections = []
    for section_lengths in lengths:
        section = []
        for length in section_lengths:
            section.append(buf[pos:pos + length].tobytes())
            pos += length
        sections.append(section)
    try:
        return DICMBitstream(fingerprint, (image_h, image_w), latent_shapes, sections,
                             (padded_h, padded_w))
    except (TypeError, ValueError) as e:  # unreachable if the checks above are complete
        raise BitstreamError(f'corrupt header: {e}') from e
