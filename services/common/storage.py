"""Object storage behind one small interface, two backends chosen by ``STORAGE_URL``.

* ``nats-objects://BUCKET`` — JetStream's object store: no extra server, the default for ``make run``.
* ``s3://ACCESS:SECRET@HOST:PORT/BUCKET?secure=0&region=us-east-1`` — any S3 server (MinIO in compose)
  through the ``minio`` SDK. The SDK is synchronous, so every call runs in a worker thread.

Keys are plain paths: ``uploads/<job>.pdf``, ``pages/<job>/<page>``, ``results/<job>.md``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import io
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlparse

from nats.js import JetStreamContext
from nats.js.api import ObjectMeta, ObjectMetaOptions, ObjectStoreConfig, StorageType
from nats.js.errors import BucketNotFoundError, NotFoundError, ObjectNotFoundError
from nats.js.object_store import ObjectStore


class BlobNotFound(KeyError):
    pass


class BlobStore(Protocol):
    async def put_bytes(self, key: str, data: bytes, content_type: str) -> None: ...

    async def put_file(self, key: str, path: Path, content_type: str) -> None: ...

    async def get_bytes(self, key: str) -> bytes: ...

    async def get_to_file(self, key: str, path: Path) -> None: ...

    async def delete(self, key: str) -> None:
        """Delete ``key``; a missing key is not an error (deletes are retried after crashes)."""
        ...

    async def exists(self, key: str) -> bool: ...

    async def ping(self) -> None: ...


# below NATS's default max_payload (1 MiB), with room for the protocol
SINGLE_CHUNK = 1_000_000


class NatsObjectStore:
    def __init__(self, js: JetStreamContext, bucket: str) -> None:
        self._js = js
        self._bucket = bucket
        self._store: ObjectStore | None = None

    async def open(self) -> NatsObjectStore:
        try:
            self._store = await self._js.object_store(self._bucket)
        except (BucketNotFoundError, NotFoundError):
            try:
                self._store = await self._js.create_object_store(
                    self._bucket,
                    config=ObjectStoreConfig(
                        description="pagewise uploads, page images and results",
                        storage=StorageType.FILE,
                    ),
                )
            except Exception:
                # another service created it between our two calls
                self._store = await self._js.object_store(self._bucket)
        return self

    @property
    def _obs(self) -> ObjectStore:
        assert self._store is not None, "call open() first"
        return self._store

    async def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        # One chunk for anything that fits a message (page images, results): one publish instead of one per
        # 128 KiB, and ``get_bytes`` can fetch it with a single direct get.
        meta = ObjectMeta(
            name=key, options=ObjectMetaOptions(max_chunk_size=max(1, min(len(data), SINGLE_CHUNK)))
        )
        await self._obs.put(key, data, meta=meta)

    async def put_file(self, key: str, path: Path, content_type: str) -> None:
        with path.open("rb") as fh:
            await self._obs.put(key, fh)

    async def get_bytes(self, key: str) -> bytes:
        try:
            info = await self._obs.get_info(key)
            if info.chunks == 1 and info.nuid and info.digest:
                # nats-py's get() creates an ordered consumer per object (~4 ms); a one-chunk object is one
                # direct get (~0.5 ms). The digest is checked as get() would.
                raw = await self._js.get_msg(
                    f"OBJ_{self._bucket}", subject=f"$O.{self._bucket}.C.{info.nuid}", direct=True
                )
                data = raw.data or b""
                digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode()
                if info.digest.split("=", 1)[-1].rstrip("=") == digest.rstrip("="):
                    return data
            result = await self._obs.get(key)
        except (ObjectNotFoundError, NotFoundError) as exc:
            raise BlobNotFound(key) from exc
        return bytes(result.data or b"")

    async def get_to_file(self, key: str, path: Path) -> None:
        try:
            with path.open("wb") as fh:
                await self._obs.get(key, writeinto=fh)
        except (ObjectNotFoundError, NotFoundError) as exc:
            raise BlobNotFound(key) from exc

    async def delete(self, key: str) -> None:
        try:
            await self._obs.delete(key)
        except (ObjectNotFoundError, NotFoundError):
            pass

    async def exists(self, key: str) -> bool:
        try:
            info = await self._obs.get_info(key)
        except (ObjectNotFoundError, NotFoundError):
            return False
        return not info.deleted

    async def ping(self) -> None:
        await self._obs.status()


class S3Store:
    def __init__(self, url: str) -> None:
        from minio import Minio

        parsed = urlparse(url)
        query = parse_qs(parsed.query)
        secure = query.get("secure", ["0"])[0].lower() in ("1", "true", "yes")
        self._bucket = parsed.path.strip("/") or "pagewise"
        self._region = query.get("region", ["us-east-1"])[0]
        self._client = Minio(
            f"{parsed.hostname}:{parsed.port or (443 if secure else 80)}",
            access_key=unquote(parsed.username or ""),
            secret_key=unquote(parsed.password or ""),
            secure=secure,
            region=self._region,
        )

    async def open(self) -> S3Store:
        def ensure_bucket() -> None:
            if not self._client.bucket_exists(self._bucket):
                try:
                    self._client.make_bucket(self._bucket, location=self._region)
                except Exception:
                    if not self._client.bucket_exists(self._bucket):
                        raise

        await asyncio.to_thread(ensure_bucket)
        return self

    async def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(
            self._client.put_object, self._bucket, key, io.BytesIO(data), len(data), content_type=content_type
        )

    async def put_file(self, key: str, path: Path, content_type: str) -> None:
        # multipart upload, one 8 MiB part in memory at a time: bounded whatever the file size
        def upload() -> None:
            self._client.fput_object(
                self._bucket,
                key,
                str(path),
                content_type=content_type,
                part_size=8 * 1024 * 1024,
                num_parallel_uploads=1,
            )

        await asyncio.to_thread(upload)

    async def get_bytes(self, key: str) -> bytes:
        def read() -> bytes:
            from minio.error import S3Error

            try:
                response = self._client.get_object(self._bucket, key)
            except S3Error as exc:
                if exc.code in ("NoSuchKey", "NoSuchObject"):
                    raise BlobNotFound(key) from exc
                raise
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

        return await asyncio.to_thread(read)

    async def get_to_file(self, key: str, path: Path) -> None:
        def fetch() -> None:
            from minio.error import S3Error

            try:
                self._client.fget_object(self._bucket, key, str(path))
            except S3Error as exc:
                if exc.code in ("NoSuchKey", "NoSuchObject"):
                    raise BlobNotFound(key) from exc
                raise

        await asyncio.to_thread(fetch)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._client.remove_object, self._bucket, key)

    async def exists(self, key: str) -> bool:
        def stat() -> bool:
            from minio.error import S3Error

            try:
                self._client.stat_object(self._bucket, key)
            except S3Error as exc:
                if exc.code in ("NoSuchKey", "NoSuchObject"):
                    return False
                raise
            return True

        return await asyncio.to_thread(stat)

    async def ping(self) -> None:
        await asyncio.to_thread(self._client.bucket_exists, self._bucket)


async def open_store(url: str, js: JetStreamContext) -> BlobStore:
    scheme = urlparse(url).scheme
    if scheme == "nats-objects":
        bucket = urlparse(url).netloc or "pagewise"
        return await NatsObjectStore(js, bucket).open()
    if scheme in ("s3", "minio"):
        return await S3Store(url).open()
    raise ValueError(f"STORAGE_URL scheme {scheme!r} is not supported (use nats-objects:// or s3://)")


def upload_key(job_id: str) -> str:
    return f"uploads/{job_id}.pdf"


def page_image_key(job_id: str, page_no: int) -> str:
    """No extension: the media type travels in ``PageRendered``, and whoever cleans up needs only the page
    numbers, not the splitter's format setting."""
    return f"pages/{job_id}/{page_no:05d}"


async def delete_page_images(store: BlobStore, job_id: str, page_numbers: Iterable[int]) -> None:
    """Page images are temporary: removed when their job ends (best effort; a crash here leaves them)."""
    for page_no in page_numbers:
        with contextlib.suppress(Exception):
            await store.delete(page_image_key(job_id, page_no))


def result_key(job_id: str) -> str:
    return f"results/{job_id}.md"
