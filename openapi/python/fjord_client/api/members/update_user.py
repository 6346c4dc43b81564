from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.member import Member
from ...models.problem import Problem
from ...models.update_member import UpdateMember
from ...types import UNSET, Response, Unset


def _get_kwargs(
    tenant_id: str,
    member_id: str,
    *,
    body: UpdateMember,
    if_match: None | str | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(if_match, Unset):
        headers["If-Match"] = if_match

    _kwargs: dict[str, Any] = {
        "method": "patch",
        "url": "/v1/tenants/{tenant_id}/users/{member_id}".format(
            tenant_id=quote(str(tenant_id), safe=""),
            member_id=quote(str(member_id), safe=""),
        ),
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Member | Problem | None:
    if response.status_code == 200:
        response_200 = Member.from_dict(response.json())

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


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[Member | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    tenant_id: str,
    member_id: str,
    *,
    client: AuthenticatedClient,
    body: UpdateMember,
    if_match: None | str | Unset = UNSET,
) -> Response[Member | Problem]:
    """Change the role of a user (tenant-admin); honours If-Match.

    Args:
        tenant_id (str):
        member_id (str):
        if_match (None | str | Unset):
        body (UpdateMember): A change of role.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Member | Problem]
    """

    kwargs = _get_kwargs(
        tenant_id=tenant_id,
        member_id=member_id,
        body=body,
        if_match=if_match,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    tenant_id: str,
    member_id: str,
    *,
    client: AuthenticatedClient,
    body: UpdateMember,
    if_match: None | str | Unset = UNSET,
) -> Member | Problem | None:
    """Change the role of a user (tenant-admin); honours If-Match.

    Args:
        tenant_id (str):
        member_id (str):
        if_match (None | str | Unset):
        body (UpdateMember): A change of role.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Member | Problem
    """

    return sync_detailed(
        tenant_id=tenant_id,
        member_id=member_id,
        client=client,
        body=body,
        if_match=if_match,
    ).parsed


async def asyncio_detailed(
    tenant_id: str,
    member_id: str,
    *,
    client: AuthenticatedClient,
    body: UpdateMember,
    if_match: None | str | Unset = UNSET,
) -> Response[Member | Problem]:
    """Change the role of a user (tenant-admin); honours If-Match.

    Args:
        tenant_id (str):
        member_id (str):
        if_match (None | str | Unset):
        body (UpdateMember): A change of role.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Member | Problem]
    """

    kwargs = _get_kwargs(
        tenant_id=tenant_id,
        member_id=member_id,
        body=body,
        if_match=if_match,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    tenant_id: str,
    member_id: str,
    *,
    client: AuthenticatedClient,
    body: UpdateMember,
    if_match: None | str | Unset = UNSET,
) -> Member | Problem | None:
    """Change the role of a user (tenant-admin); honours If-Match.

    Args:
        tenant_id (str):
        member_id (str):
        if_match (None | str | Unset):
        body (UpdateMember): A change of role.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Member | Problem
    """

    return (
        await asyncio_detailed(
            tenant_id=tenant_id,
            member_id=member_id,
            client=client,
            body=body,
            if_match=if_match,
        )
    ).parsed
