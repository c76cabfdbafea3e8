"""Container files: :func:`write` one, :func:`read` and verify one (stdlib only)."""
from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence
from typing import Union

from .bitstream import (MAX_FILE_SIZE, BitstreamError, DICMBitstream, check_expected_fingerprint,
                        pack, unpack)

__all__ = ['read', 'write']

PathLike = Union[str, 'os.PathLike[str]']


def write(path: PathLike,
          fingerprint: bytes,
          image_size: tuple[int, int],
          latent_shapes: Sequence[Sequence[int]],
          sections: Sequence[Sequence[bytes]],
          padded_size: tuple[int, int] | None = None) -> int:
    """Pack a bitstream (see :func:`pack`) and write it to ``path``.

    Args:
        path (str | os.PathLike): Output file; overwritten if it exists.
        fingerprint (bytes): 16-byte model fingerprint.
        image_size (tuple[int, int]): Original image ``(height, width)``.
        latent_shapes (Sequence[Sequence[int]]): Latent shapes, stored as given.
        sections (Sequence[Sequence[bytes]]): Byte strings per entropy model.
        padded_size (tuple[int, int], optional): Padded input ``(height, width)``.
            Defaults to None (same as ``image_size``).

    Returns:
        int: Number of bytes written (the real file size, for bits-per-pixel).
    """
    data = pack(fingerprint, image_size, latent_shapes, sections, padded_size)
    with open(path, 'wb') as f:
        f.write(data)
    return len(data)


def read(path: PathLike, expected_fingerprint: bytes | None = None) -> DICMBitstream:
    """Read and verify a bitstream file.

    Args:
        path (str | os.PathLike): The file.
        expected_fingerprint (bytes, optional): See :func:`unpack`. Defaults to None.

    Returns:
        DICMBitstream: The verified content.

    Raises:
        BitstreamError: If the content is malformed (message prefixed with the path), the
            path is not a regular file (a device or pipe), or the file is larger than any
            valid bitstream (``MAX_FILE_SIZE``).
        FileNotFoundError: If ``path`` does not exist.
        IsADirectoryError: If ``path`` is a directory.
        PermissionError: If ``path`` is not readable.
    """
    expected = check_expected_fingerprint(expected_fingerprint)
    fspath = os.fspath(path)
    # stat before open: opening a FIFO would block, reading a device might never end.
    info = os.stat(fspath)  # FileNotFoundError / PermissionError name the path
    if stat.S_ISDIR(info.st_mode):
        raise IsADirectoryError(errno.EISDIR,
                                'Is a directory, expected an mmdicm bitstream file', fspath)
    if not stat.S_ISREG(info.st_mode):
        raise BitstreamError(f'{fspath}: not a regular file')
    if info.st_size > MAX_FILE_SIZE:
        raise BitstreamError(f'{fspath}: {info.st_size} bytes is larger than any mmdicm '
                             f'bitstream ({MAX_FILE_SIZE})')
    with open(fspath, 'rb') as f:
        data = f.read(MAX_FILE_SIZE + 1)
    try:
        return unpack(data, expected)
    except BitstreamError as e:
        raise BitstreamError(f'{fspath}: {e}') from None
