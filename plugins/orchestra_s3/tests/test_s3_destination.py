"""The s3 destination against moto's S3 server (a real HTTP server on 127.0.0.1, not patched
calls): the DestinationContract, multipart uploads that stay invisible until complete."""

from __future__ import annotations

import gzip

import boto3
import pytest
from moto.server import ThreadedMotoServer
from orchestra_s3 import S3Destination, S3Options

from orchestra_core.testing import DestinationContract

KEYS = {"access_key_id": "testing-access-key", "secret_access_key": "testing-secret-key"}


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture(scope="module")
def endpoint():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(endpoint, request):
    name = "exports-" + request.node.name.lower().replace("[", "-").replace("]", "")[:40]
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="x", aws_secret_access_key="y")
    client.create_bucket(Bucket=name)
    return client, name


class Context:
    def __init__(self, secrets):
        self.name, self.secrets = "lake", secrets


class TestS3Contract(DestinationContract):
    files = True

    @pytest.fixture
    def make_destination(self, bucket, endpoint):
        _, name = bucket

        def make(case="ok"):
            if case in ("refused_auth", "permission_denied", "full_disk"):
                pytest.skip("moto's server checks neither credentials nor policies by default")
            url = "http://127.0.0.1:9" if case == "unreachable" else endpoint
            return S3Destination(S3Options(bucket=name, prefix="daily/", endpoint_url=url),
                                 context=Context(KEYS))
        return make

    @pytest.fixture
    def delivered(self, bucket):
        client, name = bucket

        def rows():
            out = []
            for item in client.list_objects_v2(Bucket=name).get("Contents", []):
                body = client.get_object(Bucket=name, Key=item["Key"])["Body"].read()
                if item["Key"].endswith(".gz"):
                    body = gzip.decompress(body)
                out += [tuple(line.split(",")) for line in body.decode().splitlines()]
            return out
        return rows

    @pytest.fixture
    def visible(self, bucket):
        client, name = bucket
        return lambda: sorted(i["Key"] for i in
                              client.list_objects_v2(Bucket=name).get("Contents", []))


async def test_check_leaves_nothing_behind(bucket, endpoint):
    client, name = bucket
    await S3Destination(S3Options(bucket=name, endpoint_url=endpoint),
                        context=Context(KEYS)).check()
    assert client.list_objects_v2(Bucket=name).get("KeyCount", 0) == 0


async def test_a_missing_bucket_is_one_clear_error(endpoint):
    from orchestra_core import DeliveryFailed

    with pytest.raises(DeliveryFailed, match="destination 'lake': no such bucket 'nope'"):
        await S3Destination(S3Options(bucket="nope", endpoint_url=endpoint),
                            context=Context(KEYS)).check()
