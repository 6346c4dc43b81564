from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.add_partitions import AddPartitions
from ...models.problem import Problem
from ...models.topic import Topic
from ...types import Response


def _get_kwargs(
    tenant_id: str,
    cluster_id: str,
    topic: str,
    *,
    body: AddPartitions,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/tenants/{tenant_id}/clusters/{cluster_id}/topics/{topic}/partitions".format(
            tenant_id=quote(str(tenant_id), safe=""),
            cluster_id=quote(str(cluster_id), safe=""),
            topic=quote(str(topic), safe=""),
        ),
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Problem | Topic | None:
    if response.status_code == 200:
        response_200 = Topic.from_dict(response.json())

        return response_200

    if response.status_code == 400:
        response_400 = Problem.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = Problem.from_dict(response.json())

        return response_401

    if response.status_code == 404:
        response_404 = Problem.from_dict(response.json())

        return response_404

    if response.status_code == 415:
        response_415 = Problem.from_dict(response.json())

        return response_415

    if response.status_code == 422:
        response_422 = Problem.from_dict(response.json())

        return response_422

    if response.status_code == 500:
        response_500 = Problem.from_dict(response.json())

        return response_500

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[Problem | Topic]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    tenant_id: str,
    cluster_id: str,
    topic: str,
    *,
    client: AuthenticatedClient,
    body: AddPartitions,
) -> Response[Problem | Topic]:
    """Grow a topic to a new total number of partitions.

    Args:
        tenant_id (str):
        cluster_id (str):
        topic (str):
        body (AddPartitions): Grow a topic.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | Topic]
    """

    kwargs = _get_kwargs(
        tenant_id=tenant_id,
        cluster_id=cluster_id,
        topic=topic,
        body=body,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    tenant_id: str,
    cluster_id: str,
    topic: str,
    *,
    client: AuthenticatedClient,
    body: AddPartitions,
) -> Problem | Topic | None:
    """Grow a topic to a new total number of partitions.

    Args:
        tenant_id (str):
        cluster_id (str):
        topic (str):
        body (AddPartitions): Grow a topic.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | Topic
    """

    return sync_detailed(
        tenant_id=tenant_id,
        cluster_id=cluster_id,
        topic=topic,
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    tenant_id: str,
    cluster_id: str,
    topic: str,
    *,
    client: AuthenticatedClient,
    body: AddPartitions,
) -> Response[Problem | Topic]:
    """Grow a topic to a new total number of partitions.

    Args:
        tenant_id (str):
        cluster_id (str):
        topic (str):
        body (AddPartitions): Grow a topic.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | Topic]
    """

    kwargs = _get_kwargs(
        tenant_id=tenant_id,
        cluster_id=cluster_id,
        topic=topic,
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    tenant_id: str,
    cluster_id: str,
    topic: str,
    *,
    client: AuthenticatedClient,
    body: AddPartitions,
) -> Problem | Topic | None:
    """Grow a topic to a new total number of partitions.

    Args:
        tenant_id (str):
        cluster_id (str):
        topic (str):
        body (AddPartitions): Grow a topic.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | Topic
    """

    return (
        await asyncio_detailed(
            tenant_id=tenant_id,
            cluster_id=cluster_id,
            topic=topic,
            client=client,
            body=body,
        )
    ).parsed
