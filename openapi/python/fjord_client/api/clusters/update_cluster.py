from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.cluster import Cluster
from ...models.problem import Problem
from ...models.update_cluster import UpdateCluster
from ...types import UNSET, Response, Unset


def _get_kwargs(
    tenant_id: str,
    cluster_id: str,
    *,
    body: UpdateCluster,
    if_match: None | str | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(if_match, Unset):
        headers["If-Match"] = if_match

    _kwargs: dict[str, Any] = {
        "method": "patch",
        "url": "/v1/tenants/{tenant_id}/clusters/{cluster_id}".format(
            tenant_id=quote(str(tenant_id), safe=""),
            cluster_id=quote(str(cluster_id), safe=""),
        ),
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Cluster | Problem | None:
    if response.status_code == 202:
        response_202 = Cluster.from_dict(response.json())

        return response_202

    if response.status_code == 400:
        response_400 = Problem.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = Problem.from_dict(response.json())

        return response_401

    if response.status_code == 404:
        response_404 = Problem.from_dict(response.json())

        return response_404

    if response.status_code == 409:
        response_409 = Problem.from_dict(response.json())

        return response_409

    if response.status_code == 412:
        response_412 = Problem.from_dict(response.json())

        return response_412

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


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[Cluster | Problem]:
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
    body: UpdateCluster,
    if_match: None | str | Unset = UNSET,
) -> Response[Cluster | Problem]:
    """Change a cluster's limits. Honours `If-Match` (412 when the cluster changed since).

    Args:
        tenant_id (str):
        cluster_id (str):
        if_match (None | str | Unset):
        body (UpdateCluster): A change of limits.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Cluster | Problem]
    """

    kwargs = _get_kwargs(
        tenant_id=tenant_id,
        cluster_id=cluster_id,
        body=body,
        if_match=if_match,
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
    body: UpdateCluster,
    if_match: None | str | Unset = UNSET,
) -> Cluster | Problem | None:
    """Change a cluster's limits. Honours `If-Match` (412 when the cluster changed since).

    Args:
        tenant_id (str):
        cluster_id (str):
        if_match (None | str | Unset):
        body (UpdateCluster): A change of limits.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Cluster | Problem
    """

    return sync_detailed(
        tenant_id=tenant_id,
        cluster_id=cluster_id,
        client=client,
        body=body,
        if_match=if_match,
    ).parsed


async def asyncio_detailed(
    tenant_id: str,
    cluster_id: str,
    *,
    client: AuthenticatedClient,
    body: UpdateCluster,
    if_match: None | str | Unset = UNSET,
) -> Response[Cluster | Problem]:
    """Change a cluster's limits. Honours `If-Match` (412 when the cluster changed since).

    Args:
        tenant_id (str):
        cluster_id (str):
        if_match (None | str | Unset):
        body (UpdateCluster): A change of limits.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Cluster | Problem]
    """

    kwargs = _get_kwargs(
        tenant_id=tenant_id,
        cluster_id=cluster_id,
        body=body,
        if_match=if_match,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    tenant_id: str,
    cluster_id: str,
    *,
    client: AuthenticatedClient,
    body: UpdateCluster,
    if_match: None | str | Unset = UNSET,
) -> Cluster | Problem | None:
    """Change a cluster's limits. Honours `If-Match` (412 when the cluster changed since).

    Args:
        tenant_id (str):
        cluster_id (str):
        if_match (None | str | Unset):
        body (UpdateCluster): A change of limits.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Cluster | Problem
    """

    return (
        await asyncio_detailed(
            tenant_id=tenant_id,
            cluster_id=cluster_id,
            client=client,
            body=body,
            if_match=if_match,
        )
    ).parsed
