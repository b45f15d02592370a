"""API keys (admin scope)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from aifactory.api.deps import AdminKey, ServicesDep
from aifactory.api.links import link, linked
from aifactory.api.schemas import KeyCreate, KeyCreated, KeyPublic
from aifactory.domain.paging import Page

router = APIRouter(prefix="/api/v1/keys", tags=["keys"])


@router.post(
    "",
    response_model=KeyCreated,
    status_code=201,
    operation_id="createKey",
    responses={
        201: linked(
            "The key with its secret.",
            {
                "RevokeKey": link(
                    "revokeKey", "Revoke the key.", parameters={"key_id": "$response.body#/id"}
                )
            },
        )
    },
)
async def create_key(body: KeyCreate, services: ServicesDep, _: AdminKey) -> KeyCreated:
    """Make a key; its secret is in this answer only."""
    record, secret = await services.keys.create(body.name, body.scopes)
    return KeyCreated.of_new(record, secret)


@router.get("", response_model=Page[KeyPublic], operation_id="listKeys")
async def list_keys(
    services: ServicesDep,
    _: AdminKey,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[KeyPublic]:
    return (await services.keys.list(limit=limit, offset=offset)).map(KeyPublic.of)


@router.delete("/{key_id}", status_code=204, operation_id="revokeKey", response_class=Response)
async def revoke_key(key_id: str, services: ServicesDep, _: AdminKey) -> Response:
    await services.keys.revoke(key_id)
    return Response(status_code=204)
