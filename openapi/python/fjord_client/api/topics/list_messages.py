from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.message_page import MessagePage
from ...models.problem import Problem
from ...types import UNSET, Response, Unset


def _get_kwargs(
    tenant_id: str,
    cluster_id: str,
    topic: str,
    *,
    partition: int | Unset = UNSET,
    offset: int | Unset = UNSET,
    limit: int | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    params["partition"] = partition

    params["offset"] = offset

    params["limit"] = limit

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/tenants/{tenant_id}/clusters/{cluster_id}/topics/{topic}/messages".format(
            tenant_id=quote(str(tenant_id), safe=""),
            cluster_id=quote(str(cluster_id), safe=""),
            topic=quote(str(topic), safe=""),
        ),
        "params": params,
    }

    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> MessagePage | Problem | None:
    if response.status_code == 200:
        response_200 = MessagePage.from_dict(response.json())

        return response_200

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


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[MessagePage | Problem]:
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
    partition: int | Unset = UNSET,
    offset: int | Unset = UNSET,
    limit: int | Unset = UNSET,
) -> Response[MessagePage | Problem]:
    """Read recent messages of a topic's partition (bounded: see the limits in the description).
    Nothing is committed and no consumer group is joined.

    Args:
        tenant_id (str):
        cluster_id (str):
        topic (str):
        partition (int | Unset):
        offset (int | Unset):
        limit (int | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[MessagePage | Problem]
    """

    kwargs = _get_kwargs(
        tenant_id=tenant_id,
        cluster_id=cluster_id,
        topic=topic,
        partition=partition,
        offset=offset,
        limit=limit,
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
    partition: int | Unset = UNSET,
    offset: int | Unset = UNSET,
    limit: int | Unset = UNSET,
) -> MessagePage | Problem | None:
    """Read recent messages of a topic's partition (bounded: see the limits in the description).
    Nothing is committed and no consumer group is joined.

    Args:
        tenant_id (str):
        cluster_id (str):
        topic (str):
        partition (int | Unset):
        offset (int | Unset):
        limit (int | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        MessagePage | Problem
    """

    return sync_detailed(
        tenant_id=tenant_id,
        cluster_id=cluster_id,
        topic=topic,
        client=client,
        partition=partition,
        offset=offset,
        limit=limit,
    ).parsed


async def asyncio_detailed(
    tenant_id: str,
    cluster_id: str,
    topic: str,
    *,
    client: AuthenticatedClient,
    partition: int | Unset = UNSET,
    offset: int | Unset = UNSET,
    limit: int | Unset = UNSET,
) -> Response[MessagePage | Problem]:
    """Read recent messages of a topic's partition (bounded: see the limits in the description).
    Nothing is committed and no consumer group is joined.

    Args:
        tenant_id (str):
        cluster_id (str):
        topic (str):
        partition (int | Unset):
        offset (int | Unset):
        limit (int | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[MessagePage | Problem]
    """

    kwargs = _get_kwargs(
        tenant_id=tenant_id,
        cluster_id=cluster_id,
        topic=topic,
        partition=partition,
        offset=offset,
        limit=limit,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    tenant_id: str,
    cluster_id: str,
    topic: str,
    *,
    client: AuthenticatedClient,
    partition: int | Unset = UNSET,
    offset: int | Unset = UNSET,
    limit: int | Unset = UNSET,
) -> MessagePage | Problem | None:
    """Read recent messages of a topic's partition (bounded: see the limits in the description).
    Nothing is committed and no consumer group is joined.

    Args:
        tenant_id (str):
        cluster_id (str):
        topic (str):
        partition (int | Unset):
        offset (int | Unset):
        limit (int | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        MessagePage | Problem
    """

    return (
        await asyncio_detailed(
            tenant_id=tenant_id,
            cluster_id=cluster_id,
            topic=topic,
            client=client,
            partition=partition,
            offset=offset,
            limit=limit,
        )
    ).parsed
