"""Where code indexes live: one S3 object per project, `search/<tenant>/<project id>/code.sqlite`
in Settings.bucket_name. The scanner uploads, the API downloads with a conditional GET."""

from __future__ import annotations

import os
from typing import Any

from chalicelib import aws
from chalicelib.config import get_settings

CHUNK = 1024 * 1024


def index_key(tenant: str, project_id: int) -> str:
    return f"search/{tenant}/{project_id}/code.sqlite"


def upload(tenant: str, project_id: int, path: str) -> dict[str, Any]:
    """Store a project's index; returns the reference the project keeps: key, etag, size."""
    key = index_key(tenant, project_id)
    with open(path, "rb") as body:
        response = aws.client("s3").put_object(Bucket=get_settings().bucket_name, Key=key, Body=body)
    return {"key": key, "etag": response["ETag"], "size": os.path.getsize(path)}


def delete(key: str) -> None:
    """Remove an index (S3 deletes are idempotent: a missing key is fine)."""
    aws.client("s3").delete_object(Bucket=get_settings().bucket_name, Key=key)


def download(key: str, destination: str, *, if_none_match: str | None = None) -> str | None:
    """Write the object to `destination` and return its ETag; None when it still has the ETag we
    hold (304) or does not exist, in which case `destination` is untouched."""
    s3 = aws.client("s3")
    request: dict[str, Any] = {"Bucket": get_settings().bucket_name, "Key": key}
    if if_none_match:
        request["IfNoneMatch"] = if_none_match
    try:
        response = s3.get_object(**request)
    except s3.exceptions.NoSuchKey:
        return None
    except Exception as exc:  # botocore raises a bare ClientError for 304
        if getattr(exc, "response", {}).get("Error", {}).get("Code") in ("304", "NotModified"):
            return None
        raise
    partial = f"{destination}.part"
    with open(partial, "wb") as out:
        for chunk in response["Body"].iter_chunks(CHUNK):
            out.write(chunk)
    os.replace(partial, destination)  # readers never see half a file
    return str(response["ETag"])
