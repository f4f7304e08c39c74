"""Receive an upload without holding it in memory.

Litestar parses multipart forms from the whole buffered body; a 500 MB scan would sit in RAM. Here the body
is read chunk by chunk, fed to python-multipart's streaming parser, and the file part is written to a
temporary file as it arrives. The first bytes decide whether it is a PDF, so a wrong file fails fast.
Also accepted: a raw body with ``Content-Type: application/pdf`` (``curl --data-binary``).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from python_multipart.multipart import MultipartParser, parse_options_header

from services.common.pdf import looks_like_pdf
from services.gateway.errors import ApiError

MAX_FIELD_BYTES = 64 * 1024
HEAD_BYTES = 1024


@dataclass
class ReceivedUpload:
    path: Path
    filename: str
    size: int
    fields: dict[str, str] = field(default_factory=dict)

    def discard(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


class _FileSink:
    """Writes the file part, enforcing the size limit and the PDF magic on the way."""

    def __init__(self, directory: str | None, max_bytes: int) -> None:
        fd, name = tempfile.mkstemp(prefix="pagewise-upload-", suffix=".pdf", dir=directory or None)
        self.path = Path(name)
        self.fh: IO[bytes] = os.fdopen(fd, "wb")
        self.max_bytes = max_bytes
        self.size = 0
        self.head = b""
        self.checked = False

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.max_bytes:
            raise ApiError(
                413,
                "too_large",
                f"the upload is larger than the limit of {self.max_bytes // (1024 * 1024)} MB",
            )
        if not self.checked:
            self.head += data[: HEAD_BYTES - len(self.head)]
            if len(self.head) >= HEAD_BYTES:
                self.check_magic()
        self.fh.write(data)

    def check_magic(self) -> None:
        self.checked = True
        if not looks_like_pdf(self.head):
            raise ApiError(415, "not_pdf", "the file is not a PDF (its first bytes have no %PDF- header)")

    def close(self) -> None:
        self.fh.close()
        if not self.checked and self.size:
            self.check_magic()


async def receive_upload(
    chunks: AsyncIterator[bytes], content_type: str, *, directory: str | None, max_bytes: int
) -> ReceivedUpload:
    ctype, params = parse_options_header(content_type or "")
    if ctype == b"application/pdf":
        return await _receive_raw(chunks, directory, max_bytes)
    if ctype != b"multipart/form-data" or b"boundary" not in params:
        raise ApiError(
            415,
            "unsupported_media_type",
            "send the PDF as multipart/form-data (field 'file') or as a raw application/pdf body",
        )
    return await _receive_multipart(chunks, params[b"boundary"], directory, max_bytes)


async def _receive_raw(chunks: AsyncIterator[bytes], directory: str | None, max_bytes: int) -> ReceivedUpload:
    sink = _FileSink(directory, max_bytes)
    try:
        async for chunk in chunks:
            sink.write(chunk)
        sink.close()
    except BaseException:
        sink.fh.close()
        sink.path.unlink(missing_ok=True)
        raise
    if sink.size == 0:
        sink.path.unlink(missing_ok=True)
        raise ApiError(400, "empty_file", "the upload is empty")
    return ReceivedUpload(sink.path, "document.pdf", sink.size)


async def _receive_multipart(
    chunks: AsyncIterator[bytes], boundary: bytes, directory: str | None, max_bytes: int
) -> ReceivedUpload:
    fields: dict[str, str] = {}
    part = _PartState()
    sink: _FileSink | None = None
    filename = "document.pdf"

    def on_part_begin() -> None:
        part.reset()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        part.header_field += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        part.header_value += data[start:end]

    def on_header_end() -> None:
        part.headers[bytes(part.header_field).lower()] = bytes(part.header_value)
        part.header_field.clear()
        part.header_value.clear()

    def on_headers_finished() -> None:
        nonlocal sink, filename
        _, options = parse_options_header(part.headers.get(b"content-disposition", b""))
        part.name = options.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" in options and part.name == "file":
            if sink is not None:
                raise ApiError(400, "too_many_files", "send one file per request (field 'file')")
            filename = _clean_filename(options[b"filename"].decode("utf-8", "replace"))
            sink = _FileSink(directory, max_bytes)
            part.is_file = True

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if part.is_file:
            assert sink is not None
            sink.write(data[start:end])
        else:
            if len(part.value) + (end - start) > MAX_FIELD_BYTES:
                raise ApiError(413, "field_too_large", f"form field {part.name!r} is over 64 KB")
            part.value += data[start:end]

    def on_part_end() -> None:
        if not part.is_file and part.name:
            fields[part.name] = part.value.decode("utf-8", "replace")

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
        },
    )
    try:
        async for chunk in chunks:
            parser.write(chunk)
        parser.finalize()
        if sink is not None:
            sink.close()
    except BaseException:
        if sink is not None:
            sink.fh.close()
            sink.path.unlink(missing_ok=True)
        raise
    if sink is None:
        raise ApiError(400, "missing_file", "no file in the form: send the PDF in a field named 'file'")
    if sink.size == 0:
        sink.path.unlink(missing_ok=True)
        raise ApiError(400, "empty_file", "the uploaded file is empty")
    return ReceivedUpload(sink.path, filename, sink.size, fields)


@dataclass
class _PartState:
    """What the streaming parser has told us about the part it is in."""

    header_field: bytearray = field(default_factory=bytearray)
    header_value: bytearray = field(default_factory=bytearray)
    headers: dict[bytes, bytes] = field(default_factory=dict)
    name: str | None = None
    is_file: bool = False
    value: bytearray = field(default_factory=bytearray)

    def reset(self) -> None:
        self.headers = {}
        self.name = None
        self.is_file = False
        self.value = bytearray()


def _clean_filename(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    base = "".join(ch for ch in base if ch.isprintable())[:255]
    return base or "document.pdf"
