from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.invoice import Invoice
from ...models.invoice_format import InvoiceFormat
from ...models.problem import Problem
from ...types import UNSET, Response, Unset


def _get_kwargs(
    tenant_id: str,
    invoice_id: str,
    *,
    format_: InvoiceFormat | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    json_format_: str | Unset = UNSET
    if not isinstance(format_, Unset):
        json_format_ = format_.value

    params["format"] = json_format_

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/tenants/{tenant_id}/invoices/{invoice_id}".format(
            tenant_id=quote(str(tenant_id), safe=""),
            invoice_id=quote(str(invoice_id), safe=""),
        ),
        "params": params,
    }

    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Invoice | Problem | None:
    if response.status_code == 200:
        response_200 = Invoice.from_dict(response.json())

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


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[Invoice | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    tenant_id: str,
    invoice_id: str,
    *,
    client: AuthenticatedClient,
    format_: InvoiceFormat | Unset = UNSET,
) -> Response[Invoice | Problem]:
    """One invoice, as JSON or CSV (`?format=csv` or `Accept: text/csv`). `YYYY-MM` is the
    month's invoice (a draft while the month is open), `YYYY-MM-A<n>` an adjustment.

    Args:
        tenant_id (str):
        invoice_id (str):
        format_ (InvoiceFormat | Unset): Output format of an invoice.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Invoice | Problem]
    """

    kwargs = _get_kwargs(
        tenant_id=tenant_id,
        invoice_id=invoice_id,
        format_=format_,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    tenant_id: str,
    invoice_id: str,
    *,
    client: AuthenticatedClient,
    format_: InvoiceFormat | Unset = UNSET,
) -> Invoice | Problem | None:
    """One invoice, as JSON or CSV (`?format=csv` or `Accept: text/csv`). `YYYY-MM` is the
    month's invoice (a draft while the month is open), `YYYY-MM-A<n>` an adjustment.

    Args:
        tenant_id (str):
        invoice_id (str):
        format_ (InvoiceFormat | Unset): Output format of an invoice.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Invoice | Problem
    """

    return sync_detailed(
        tenant_id=tenant_id,
        invoice_id=invoice_id,
        client=client,
        format_=format_,
    ).parsed


async def asyncio_detailed(
    tenant_id: str,
    invoice_id: str,
    *,
    client: AuthenticatedClient,
    format_: InvoiceFormat | Unset = UNSET,
) -> Response[Invoice | Problem]:
    """One invoice, as JSON or CSV (`?format=csv` or `Accept: text/csv`). `YYYY-MM` is the
    month's invoice (a draft while the month is open), `YYYY-MM-A<n>` an adjustment.

    Args:
        tenant_id (str):
        invoice_id (str):
        format_ (InvoiceFormat | Unset): Output format of an invoice.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Invoice | Problem]
    """

    kwargs = _get_kwargs(
        tenant_id=tenant_id,
        invoice_id=invoice_id,
        format_=format_,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    tenant_id: str,
    invoice_id: str,
    *,
    client: AuthenticatedClient,
    format_: InvoiceFormat | Unset = UNSET,
) -> Invoice | Problem | None:
    """One invoice, as JSON or CSV (`?format=csv` or `Accept: text/csv`). `YYYY-MM` is the
    month's invoice (a draft while the month is open), `YYYY-MM-A<n>` an adjustment.

    Args:
        tenant_id (str):
        invoice_id (str):
        format_ (InvoiceFormat | Unset): Output format of an invoice.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Invoice | Problem
    """

    return (
        await asyncio_detailed(
            tenant_id=tenant_id,
            invoice_id=invoice_id,
            client=client,
            format_=format_,
        )
    ).parsed
