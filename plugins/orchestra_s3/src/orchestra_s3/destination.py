"""The ``s3`` destination: one multipart upload per file, visible only once completed."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Mapping
from typing import Any

import anyio
from attrs import frozen

from orchestra_core import Delivery, DeliveryFailed, DeliveryReceipt, parameter

MIN_PART = 5 * 1024 * 1024


@frozen(kw_only=True)
class S3Options:
    """Options of an ``s3`` destination."""

    bucket: str = parameter(help="the bucket")
    prefix: str = parameter(default="", help="prepended to every file name")
    region: str = parameter(default="us-east-1", help="the bucket's region")
    endpoint_url: str | None = parameter(default=None, help="an S3-compatible endpoint")
    part_size: int = parameter(default=8 * 1024 * 1024, help="bytes per part (>= 5 MiB)")


class S3Destination:
    """Delivers ``delivery.files()`` to ``s3://bucket/prefix``."""

    def __init__(self, options: S3Options, context: Any = None) -> None:
        if options.part_size < MIN_PART:
            raise DeliveryFailed("s3 destination: part_size must be at least 5 MiB")
        self.options = options
        self.name = getattr(context, "name", None) or "s3"
        self.secrets: dict[str, str] = dict(getattr(context, "secrets", None) or {})

    def _client(self, secrets: Mapping[str, str]) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3", region_name=self.options.region, endpoint_url=self.options.endpoint_url,
            aws_access_key_id=secrets.get("access_key_id"),
            aws_secret_access_key=secrets.get("secret_access_key"),
            aws_session_token=secrets.get("session_token"),
            config=Config(retries={"max_attempts": 3, "mode": "standard"},
                          connect_timeout=5, read_timeout=60))

    def _fail(self, exc: BaseException, action: str) -> DeliveryFailed:
        from botocore.exceptions import ClientError, EndpointConnectionError

        where = f"s3://{self.options.bucket}/{self.options.prefix}"
        if isinstance(exc, EndpointConnectionError):
            return DeliveryFailed(f"destination {self.name!r}: host unreachable "
                                  f"({self.options.endpoint_url or 'AWS'})", retryable=True)
        if isinstance(exc, ClientError):
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken"):
                why, retry = "authentication refused", False
            elif code in ("AccessDenied", "AllAccessDisabled"):
                why, retry = "permission denied", False
            elif code == "NoSuchBucket":
                why, retry = f"no such bucket {self.options.bucket!r}", False
            elif code in ("EntityTooLarge", "QuotaExceeded", "InsufficientStorage"):
                why, retry = "the storage is full", True
            else:
                why, retry = f"{code or 'failed'}", True
            return DeliveryFailed(f"destination {self.name!r}: {why} while {action} {where}",
                                  retryable=retry)
        return DeliveryFailed(f"destination {self.name!r}: {exc} while {action} {where}")

    async def check(self) -> None:
        """The bucket is reachable and the credential may write in it (an upload that is
        started and aborted: nothing becomes visible)."""
        client = self._client(self.secrets)
        key = f"{self.options.prefix}.orchestra-check-{uuid.uuid4().hex}"

        def probe() -> None:
            upload = client.create_multipart_upload(Bucket=self.options.bucket, Key=key)
            client.abort_multipart_upload(Bucket=self.options.bucket, Key=key,
                                          UploadId=upload["UploadId"])
        try:
            await anyio.to_thread.run_sync(probe)
        except Exception as exc:
            raise self._fail(exc, "checking") from exc

    async def deliver(self, delivery: Delivery) -> DeliveryReceipt:
        """Upload every file; a file becomes visible when its upload completes."""
        client = self._client(dict(delivery.secrets) or self.secrets)
        bucket, names, rows, size = self.options.bucket, [], 0, 0
        async for file in delivery.files():
            key = f"{self.options.prefix}{file.name}"
            try:
                upload = await anyio.to_thread.run_sync(
                    lambda k=key: client.create_multipart_upload(Bucket=bucket, Key=k))
            except Exception as exc:
                raise self._fail(exc, f"starting {key} in") from exc
            upload_id, parts, buffer = upload["UploadId"], [], bytearray()

            async def send(data: bytes, k: str = key, u: str = upload_id,
                           done: list[Any] = parts) -> None:
                number = len(done) + 1
                answer = await anyio.to_thread.run_sync(lambda: client.upload_part(
                    Bucket=bucket, Key=k, UploadId=u, PartNumber=number, Body=data))
                done.append({"PartNumber": number, "ETag": answer["ETag"]})
            try:
                async for chunk in file.chunks:
                    buffer += chunk
                    if len(buffer) >= self.options.part_size:
                        await send(bytes(buffer))
                        buffer.clear()
                if buffer or not parts:
                    await send(bytes(buffer))
                await anyio.to_thread.run_sync(lambda k=key, u=upload_id, p=parts: (
                    client.complete_multipart_upload(Bucket=bucket, Key=k, UploadId=u,
                                                     MultipartUpload={"Parts": p})))
            except BaseException as exc:
                # best effort: an upload never completed stays invisible anyway
                with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                    await anyio.to_thread.run_sync(lambda k=key, u=upload_id: (
                        client.abort_multipart_upload(Bucket=bucket, Key=k, UploadId=u)))
                if isinstance(exc, Exception) and not isinstance(exc, DeliveryFailed) and \
                        type(exc).__module__.startswith("botocore"):
                    raise self._fail(exc, f"uploading {key} to") from exc
                raise
            names.append(file.name)
            rows += file.stats.get("rows", 0)
            size += file.stats.get("bytes", 0)
            delivery.log(f"{self.name}: uploaded s3://{bucket}/{key}")
        return DeliveryReceipt(delivered=rows, files=tuple(names), bytes=size,
                               location=f"s3://{bucket}/{self.options.prefix}")
