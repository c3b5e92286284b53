"""The top-level structure of an MP4/MOV file (ISO base media file format), read from box headers only.

:mod:`.reader` asks this module, before FFmpeg decodes anything, whether a file was cut short
(:func:`find_truncation`: a box that runs past the end of the file, or no ``moov`` index), and, when FFmpeg will
not open a file, whether that is because it holds no frames (:func:`why_empty`). Files that are not MP4/MOV (their
first box is not one of :data:`FIRST_BOXES`) get ``None`` from both. Only headers and the sample-size box are read,
never the media data.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

FIRST_BOXES = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"styp"}


def iter_boxes(data: bytes | None, f: BinaryIO | None, start: int, end: int) -> Iterator[tuple[bytes, int, int, int]]:
    """(type, offset, header size, box size) of the boxes in [start, end), from ``data`` or file ``f``.

    Stops at the first box that does not fit, yielding it with its declared size so the caller can tell.
    """
    offset = start
    while offset + 8 <= end:
        if data is not None:
            header = data[offset:offset + 16]
        else:
            assert f is not None
            f.seek(offset)
            header = f.read(16)
        size, kind = struct.unpack(">I4s", header[:8])
        header_size = 8
        if size == 1:
            if len(header) < 16:
                yield kind, offset, 16, 16 + (end - offset)  # does not fit
                return
            size = struct.unpack(">Q", header[8:16])[0]
            header_size = 16
        elif size == 0:
            size = end - offset
        yield kind, offset, header_size, size
        if size < header_size:
            return
        offset += size


def find_truncation(path: Path, file_size: int) -> str | None:
    """A truncation found in an MP4/MOV file's top-level boxes, or None (also for other formats)."""
    with path.open("rb") as f:
        head = f.read(8)
        if len(head) < 8 or head[4:8] not in FIRST_BOXES:
            return None
        seen = set()
        for kind, offset, header_size, size in iter_boxes(None, f, 0, file_size):
            name = kind.decode("latin-1")
            if size < header_size:
                return f"is corrupt: box {name!r} at byte {offset} has an invalid size {size}"
            if offset + size > file_size:
                return (f"is truncated: its {name!r} box needs {offset + size} bytes and the file has "
                        f"{file_size} ({100 * file_size / (offset + size):.0f}%)")
            seen.add(kind)
        if b"moov" not in seen and b"moof" not in seen:
            return "is truncated or an unfinished recording: it has no 'moov' index"
    return None


def why_empty(path: Path) -> str | None:
    """Why an MP4/MOV file that FFmpeg would not open has no frames, or None if that is not the reason."""
    with path.open("rb") as f:
        size = path.stat().st_size
        head = f.read(8)
        if len(head) < 8 or head[4:8] not in FIRST_BOXES:
            return None
        for kind, offset, header_size, box_size in iter_boxes(None, f, 0, size):
            if kind == b"moov" and box_size < 64 * 2**20:
                f.seek(offset + header_size)
                moov = f.read(box_size - header_size)
                tracks = [(o + h, o + s) for k, o, h, s in iter_boxes(moov, None, 0, len(moov)) if k == b"trak"]
                if not tracks:
                    return "is an empty video: it has no tracks"
                try:
                    if all(track_sample_count(moov, *span) == 0 for span in tracks):
                        return "is an empty video: 0 frames"
                except struct.error:  # a damaged index: no diagnosis beyond "cannot be read"
                    return None
    return None


def track_sample_count(moov: bytes, start: int, end: int) -> int | None:
    """Sample count of a track (from stsz/stz2), or None when not found."""
    path = [b"mdia", b"minf", b"stbl"]
    for level in path:
        found = [(o + h, o + s) for k, o, h, s in iter_boxes(moov, None, start, end) if k == level]
        if not found:
            return None
        start, end = found[0]
    for kind, offset, header_size, _ in iter_boxes(moov, None, start, end):
        if kind in (b"stsz", b"stz2"):
            payload = offset + header_size
            return struct.unpack(">I", moov[payload + 8:payload + 12])[0]
    return None
