"""Bodies shared by the APIs."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import Meta, Struct


class Empty(Struct, forbid_unknown_fields=True):
    """`{}`"""


class Error(Struct, forbid_unknown_fields=True):
    """Every error: `{"error": "<message>"}`."""

    error: Annotated[str, Meta(description="The message; each response lists its own.")]


class OpenApiDocument(Struct):
    """An OpenAPI 3.1 document (this one)."""

    openapi: Annotated[str, Meta(pattern=r"^3\.1\.\d+$")]
    info: dict[str, Any]
    paths: dict[str, Any]
    components: dict[str, Any]


DocsAssetName = Literal["swagger-ui.css", "swagger-ui-bundle.js", "swagger-initializer.js"]


class DocsAsset(Struct):
    """The path of a file of the documentation page: Swagger UI's, and the script that starts it."""

    asset: Annotated[DocsAssetName, Meta(description="The file's name; no other is served.")]
