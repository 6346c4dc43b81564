"""The generated Python SDK (openapi/python, package ``fjord_client``): it is what
``bash openapi/generate.sh`` makes of openapi/openapi.json today, and it drives a live
``fjord dev`` from sign-up to a deleted cluster.

tests/run.sh installs it into the test venv with pip (``pip install ./openapi/python``), which
also proves it is pip-installable."""

import os
import subprocess
import sys
import time

import pytest

from conftest import REPO_ROOT
from test_control_plane import FjordDev

fjord_client = pytest.importorskip(
    "fjord_client", reason="the Python SDK is not installed: pip install ./openapi/python")

from fjord_client import AuthenticatedClient, Client  # noqa: E402
from fjord_client.api.auth import exchange_token  # noqa: E402
from fjord_client.api.clusters import create_cluster, delete_cluster, get_cluster, list_clusters  # noqa: E402
from fjord_client.api.credentials import create_credential, list_credentials, revoke_credential  # noqa: E402
from fjord_client.api.tenants import create_tenant  # noqa: E402
from fjord_client.api.topics import create_topic, delete_topic, get_topic, list_topics  # noqa: E402
from fjord_client.api.usage import get_usage  # noqa: E402
from fjord_client.models import (  # noqa: E402
    Cluster, CreateCluster, CreateCredential, CreateTenant, CreateTopic, CreateTopicConfigs,
    Problem, TokenRequest)

TIMEOUT_S = 60


def test_python_sdk_is_generated_from_the_current_spec():
    """A route or schema changed without `bash openapi/generate.sh` fails here."""
    result = subprocess.run(
        ["bash", str(REPO_ROOT / "openapi" / "generate.sh"), "--check", "--only", "python"],
        env={**os.environ, "FJORD_GEN_PYTHON": sys.executable},
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"openapi/python is stale:\n{result.stdout}\n{result.stderr}"


@pytest.fixture
def fjord_dev(tmp_path):
    dev = FjordDev(tmp_path)
    dev.start()
    try:
        yield dev
    finally:
        dev.stop()


def wait_for(client, tenant_id, cluster_id, state) -> Cluster:
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        cluster = get_cluster.sync(tenant_id, cluster_id, client=client)
        assert isinstance(cluster, Cluster), cluster
        if cluster.state.value == state:
            return cluster
        assert cluster.state.value != "failed", cluster.state_reason
        assert time.monotonic() < deadline, f"cluster stuck in {cluster.state}"
        time.sleep(0.2)


def test_python_sdk_against_fjord_dev(fjord_dev, unique):
    anonymous = Client(base_url=fjord_dev.url, raise_on_unexpected_status=True)
    wrong = exchange_token.sync_detailed(client=anonymous, body=TokenRequest(api_key="fjk_wrong"))
    assert wrong.status_code == 401
    assert isinstance(wrong.parsed, Problem) and wrong.parsed.status == 401

    token = exchange_token.sync(client=anonymous, body=TokenRequest(api_key=fjord_dev.admin_key))
    assert token.expires_in > 0
    client = AuthenticatedClient(base_url=fjord_dev.url, token=token.access_token,
                                 raise_on_unexpected_status=True, timeout=None)

    tenant = create_tenant.sync(client=client, body=CreateTenant(name=unique("py-sdk")))
    created = create_cluster.sync_detailed(tenant.id, client=client, body=CreateCluster(name="orders"))
    assert created.status_code == 202, created.content
    cluster = wait_for(client, tenant.id, created.parsed.id, "ready")
    assert cluster.bootstrap and cluster.bootstrap.startswith("127.0.0.1:")
    assert [c.id for c in list_clusters.sync(tenant.id, client=client).items] == [cluster.id]

    missing = get_cluster.sync_detailed(tenant.id, "no-such-cluster", client=client)
    assert missing.status_code == 404 and isinstance(missing.parsed, Problem)

    configs = CreateTopicConfigs.from_dict({"retention.ms": "3600000"})
    topic = create_topic.sync(tenant.id, cluster.id, client=client,
                              body=CreateTopic(name="payments", partitions=3, configs=configs))
    assert topic.partitions == 3
    described = get_topic.sync(tenant.id, cluster.id, "payments", client=client)
    assert described.configs.additional_properties["retention.ms"] == "3600000"
    assert [t.name for t in list_topics.sync(tenant.id, cluster.id, client=client).items] == ["payments"]

    credential = create_credential.sync(tenant.id, cluster.id, client=client, body=CreateCredential(name="app"))
    assert credential.username and len(credential.password) >= 16
    revoked = revoke_credential.sync_detailed(tenant.id, cluster.id, credential.id, client=client)
    assert revoked.status_code == 204
    assert list_credentials.sync(tenant.id, cluster.id, client=client).items == []

    assert delete_topic.sync_detailed(tenant.id, cluster.id, "payments", client=client).status_code == 204
    usage = get_usage.sync(tenant.id, client=client)
    assert usage.items is not None

    refused = delete_cluster.sync_detailed(tenant.id, cluster.id, client=client, confirm="not-its-name")
    assert 400 <= refused.status_code < 500 and isinstance(refused.parsed, Problem)
    deleting = delete_cluster.sync_detailed(tenant.id, cluster.id, client=client, confirm="orders")
    assert deleting.status_code == 202
    wait_for(client, tenant.id, cluster.id, "deleted")
