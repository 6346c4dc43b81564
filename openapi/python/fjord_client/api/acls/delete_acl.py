from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.problem import Problem
from ...types import Response


def _get_kwargs(
    tenant_id: str,
    cluster_id: str,
    acl_id: str,
) -> dict[str, Any]:

    _kwargs: dict[str, Any] = {
        "method": "delete",
        "url": "/v1/tenants/{tenant_id}/clusters/{cluster_id}/acls/{acl_id}".format(
            tenant_id=quote(str(tenant_id), safe=""),
            cluster_id=quote(str(cluster_id), safe=""),
            acl_id=quote(str(acl_id), safe=""),
        ),
    }

    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Any | Problem | None:
    if response.status_code == 204:
        response_204 = cast(Any, None)
        return response_204

    if response.status_code == 400:
        response_400 = Problem.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = Problem.from_dict(response.json())

        return response_401

    if response.status_code == 404:
        response_404 = Problem.from_dict(response.json())

        return response_404

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


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[Any | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    tenant_id: str,
    cluster_id: str,
    acl_id: str,
    *,
    client: AuthenticatedClient,
) -> Response[Any | Problem]:
    """Delete an ACL.

    Args:
        tenant_id (str):
        cluster_id (str):
        acl_id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | Problem]
    """

    kwargs = _get_kwargs(
        tenant_id=tenant_id,
        cluster_id=cluster_id,
        acl_id=acl_id,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    tenant_id: str,
    cluster_id: str,
    acl_id: str,
    *,
    client: AuthenticatedClient,
) -> Any | Problem | None:
    """Delete an ACL.

    Args:
        tenant_id (str):
        cluster_id (str):
        acl_id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | Problem
    """

    return sync_detailed(
        tenant_id=tenant_id,
        cluster_id=cluster_id,
        acl_id=acl_id,
        client=client,
    ).parsed


async def asyncio_detailed(
    tenant_id: str,
    cluster_id: str,
    acl_id: str,
    *,
    client: AuthenticatedClient,
) -> Response[Any | Problem]:
    """Delete an ACL.

    Args:
        tenant_id (str):
        cluster_id (str):
        acl_id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | Problem]
    """

    kwargs = _get_kwargs(
        tenant_id=tenant_id,
        cluster_id=cluster_id,
        acl_id=acl_id,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    tenant_id: str,
    cluster_id: str,
    acl_id: str,
    *,
    client: AuthenticatedClient,
) -> Any | Problem | None:
    """Delete an ACL.

    Args:
        tenant_id (str):
        cluster_id (str):
        acl_id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | Problem
    """

    return (
        await asyncio_detailed(
            tenant_id=tenant_id,
            cluster_id=cluster_id,
            acl_id=acl_id,
            client=client,
        )
    ).parsed
