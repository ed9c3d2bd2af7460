"""A client test suite written for the official MLMD server image.

This is how a project that talks to MLMD (the Kubeflow model registry's
Python client, say) tests against the official image with
testcontainers-python: the image
gcr.io/tfx-oss-public/ml_metadata_store_server:<version>, configured as its
documentation says (GRPC_PORT, METADATA_STORE_SERVER_CONFIG_FILE naming a
SQLite file under /tmp/shared), its gRPC port mapped to a random host port,
and the SQLite file deleted before each test so every test starts from an
empty database. Nothing here knows about mlmd-remote: run it against the
official image, or against an image retagged with the official name.

Environment: MLMD_IMAGE (default: the official 1.14.0 image).
"""

import os
from pathlib import Path

import pytest
from testcontainers.core.container import DockerContainer
from testcontainers.core.wait_strategies import LogMessageWaitStrategy

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

IMAGE = os.environ.get("MLMD_IMAGE", "gcr.io/tfx-oss-public/ml_metadata_store_server:1.14.0")
GRPC_PORT = 8080
DB_NAME = "metadata.sqlite.db"
CONFIG = f"""connection_config {{
  sqlite {{
    filename_uri: '/tmp/shared/{DB_NAME}'
    connection_mode: READWRITE_OPENCREATE
  }}
}}
"""


@pytest.fixture(scope="session")
def shared_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("shared")
    directory.chmod(0o777)
    (directory / "server_config.pbtxt").write_text(CONFIG)
    return directory


@pytest.fixture(scope="session")
def mlmd_container(shared_dir):
    container = (
        DockerContainer(IMAGE)
        .with_env("METADATA_STORE_SERVER_CONFIG_FILE", "/tmp/shared/server_config.pbtxt")
        .with_volume_mapping(str(shared_dir), "/tmp/shared", "rw")
        .with_exposed_ports(GRPC_PORT)
        .waiting_for(LogMessageWaitStrategy("Server listening on").with_startup_timeout(120))
    )
    container.start()
    try:
        yield container
    finally:
        container.stop()


@pytest.fixture
def store(mlmd_container, shared_dir):
    """A client of the container, on an empty database."""
    for leftover in shared_dir.glob(DB_NAME + "*"):
        leftover.unlink()
    config = metadata_store_pb2.MetadataStoreClientConfig(
        host=mlmd_container.get_container_host_ip(),
        port=int(mlmd_container.get_exposed_port(GRPC_PORT)),
        client_timeout_sec=30,
    )
    return metadata_store.MetadataStore(config)
