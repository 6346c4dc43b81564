from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.create_topic import CreateTopic
from ...models.problem import Problem
from ...models.topic import Topic
from ...types import UNSET, Response, Unset


def _get_kwargs(
    tenant_id: str,
    cluster_id: str,
    *,
    body: CreateTopic,
    idempotency_key: None | str | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(idempotency_key, Unset):
        headers["Idempotency-Key"] = idempotency_key

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/tenants/{tenant_id}/clusters/{cluster_id}/topics".format(
            tenant_id=quote(str(tenant_id), safe=""),
            cluster_id=quote(str(cluster_id), safe=""),
        ),
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Problem | Topic | None:
    if response.status_code == 201:
        response_201 = Topic.from_dict(response.json())

        return response_201

    if response.status_code == 400:
        response_400 = Problem.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = Problem.from_dict(response.json())

        return response_401

    if response.status_code == 403:
        response_403 = Problem.from_dict(response.json())

        return response_403

    if response.status_code == 404:
        response_404 = Problem.from_dict(response.json())

        return response_404

    if response.status_code == 409:
        response_409 = Problem.from_dict(response.json())

        return response_409

    if response.status_code == 415:
        response_415 = Problem.from_dict(response.json())

        return response_415

    if response.status_code == 422:
        response_422 = Problem.from_dict(response.json())

        return response_422

    if response.status_code == 500:
        response_500 = Problem.from_dict(response.json())

        return response_500

    if response.status_code == 502:
        response_502 = Problem.from_dict(response.json())

        return response_502

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
    *,
    client: AuthenticatedClient,
    body: CreateTopic,
    idempotency_key: None | str | Unset = UNSET,
) -> Response[Problem | Topic]:
    """Create a topic. Send an `Idempotency-Key` to retry safely.

    Args:
        tenant_id (str):
        cluster_id (str):
        idempotency_key (None | str | Unset):
        body (CreateTopic): A topic to create.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | Topic]
    """

    kwargs = _get_kwargs(
        tenant_id=tenant_id,
        cluster_id=cluster_id,
        body=body,
        idempotency_key=idempotency_key,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    tenant_id: str,
    cluster_id: str,
    *,
    client: AuthenticatedClient,
    body: CreateTopic,
    idempotency_key: None | str | Unset = UNSET,
) -> Problem | Topic | None:
    """Create a topic. Send an `Idempotency-Key` to retry safely.

    Args:
        tenant_id (str):
        cluster_id (str):
        idempotency_key (None | str | Unset):
        body (CreateTopic): A topic to create.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | Topic
    """

    return sync_detailed(
        tenant_id=tenant_id,
        cluster_id=cluster_id,
        client=client,
        body=body,
        idempotency_key=idempotency_key,
    ).parsed


async def asyncio_detailed(
    tenant_id: str,
    cluster_id: str,
    *,
    client: AuthenticatedClient,
    body: CreateTopic,
    idempotency_key: None | str | Unset = UNSET,
) -> Response[Problem | Topic]:
    """Create a topic. Send an `Idempotency-Key` to retry safely.

    Args:
        tenant_id (str):
        cluster_id (str):
        idempotency_key (None | str | Unset):
        body (CreateTopic): A topic to create.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | Topic]
    """

    kwargs = _get_kwargs(
        tenant_id=tenant_id,
        cluster_id=cluster_id,
        body=body,
        idempotency_key=idempotency_key,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    tenant_id: str,
    cluster_id: str,
    *,
    client: AuthenticatedClient,
    body: CreateTopic,
    idempotency_key: None | str | Unset = UNSET,
) -> Problem | Topic | None:
    """Create a topic. Send an `Idempotency-Key` to retry safely.

    Args:
        tenant_id (str):
        cluster_id (str):
        idempotency_key (None | str | Unset):
        body (CreateTopic): A topic to create.

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
            client=client,
            body=body,
            idempotency_key=idempotency_key,
        )
    ).parsed
