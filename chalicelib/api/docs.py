"""The API's own description: GET /openapi.json (the OpenAPI 3.1 document beside this module, generated from
the operations' declarations by `python -m chalicelib.api.openapi`) and GET /docs, Swagger UI reading it.

The page's files are served by the app itself (GET /docs/{asset}): Swagger UI's from the swagger-ui-bundle-v2
package, and the script that starts it from chalicelib/static. Nothing is loaded from elsewhere (the page works
offline), and its Content-Security-Policy lets it run the app's own scripts only.

Every file is read on the first request that needs it, not at import (cold starts stay as they are), and kept
for the life of the process.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path, PurePath
from typing import Any, get_args

from chalice import Blueprint, Response

from chalicelib.api.contract import Operation
from chalicelib.api.fallback import COMMON_FRAMEWORK_ERRORS, NOT_FOUND, not_found
from chalicelib.api.models.common import DocsAsset, DocsAssetName, OpenApiDocument

DOCUMENT_PATH = Path(__file__).with_name("openapi.json")
TEMPLATES_DIR = Path(__file__).parents[1] / "templates"
STATIC_DIR = Path(__file__).parents[1] / "static"
TAG = "Documentation"

OWN_ASSETS = {"swagger-initializer.js"}  # in STATIC_DIR; the others are Swagger UI's
_MEDIA_TYPES = {".css": "text/css", ".js": "text/javascript"}
ASSET_MEDIA_TYPES = {name: _MEDIA_TYPES[PurePath(name).suffix] for name in get_args(DocsAssetName)}
ASSET_CACHE_CONTROL = "public, max-age=86400"
# Scripts and styles from the app only (hence the initializer in a file, not inline); Swagger UI sets inline
# styles and draws its icons as data: URLs, and fetches the document and the calls a user tries.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:;"
    " connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)

OPENAPI = Operation(
    "GET",
    "/openapi.json",
    "openapi",
    TAG,
    summary="This OpenAPI 3.1 document",
    description="The whole document, whatever the stage: operations marked `x-contest-compat` exist only where"
    " `BANK_CONTEST_COMPAT` is on.",
    ok="The OpenAPI 3.1 document.",
    ok_body=OpenApiDocument,
    errors=COMMON_FRAMEWORK_ERRORS,
)
DOCS = Operation(
    "GET",
    "/docs",
    "docs",
    TAG,
    summary="This document in Swagger UI",
    description="An interactive page reading `/openapi.json`: every operation with its parameters, bodies,"
    " responses and examples; **Authorize** takes the credentials of the security schemes and **Try it out**"
    " sends a call. Its files come from this app (`/docs/{asset}`), nothing from elsewhere: it works offline.",
    ok="The HTML page.",
    ok_body=None,
    ok_media=("text/html",),
    errors=COMMON_FRAMEWORK_ERRORS,
)
DOCS_ASSET = Operation(
    "GET",
    "/docs/{asset}",
    "docsAsset",
    TAG,
    summary="A file of the `/docs` page",
    description="Swagger UI's stylesheet and script (from the swagger-ui-bundle-v2 package) and the script that"
    " starts it. Cacheable for a day (`Cache-Control: public, max-age=86400`).",
    ok="The file.",
    ok_body=None,
    ok_media=tuple(dict.fromkeys(ASSET_MEDIA_TYPES.values())),
    path_params=DocsAsset,
    errors=(NOT_FOUND.when("`asset` is none of the files listed"), *COMMON_FRAMEWORK_ERRORS),
)
OPERATIONS = (OPENAPI, DOCS, DOCS_ASSET)


@functools.cache
def document() -> dict[str, Any]:
    return json.loads(DOCUMENT_PATH.read_text(encoding="utf-8"))


@functools.cache
def document_json() -> str:
    return json.dumps(document(), ensure_ascii=False, separators=(",", ":"))


@functools.cache
def docs_html() -> str:
    # A template rather than a static file: the page's title is the document's. Imported on first use, as
    # nothing else at a cold start needs it.
    import jinja2

    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR), autoescape=True)
    return environment.get_template("docs.html").render(title=document()["info"]["title"])


@functools.cache
def asset_text(name: str) -> str:
    if name in OWN_ASSETS:
        return (STATIC_DIR / name).read_text(encoding="utf-8")
    from swagger_ui_bundle import swagger_ui_path  # on first use: it looks up the package's files

    return (swagger_ui_path / name).read_text(encoding="utf-8")


def blueprint() -> Blueprint:
    bp = Blueprint(__name__)

    @OPENAPI.route(bp)
    def openapi() -> Response:
        return Response(body=document_json(), status_code=200, headers={"Content-Type": "application/json"})

    @DOCS.route(bp)
    def docs() -> Response:
        headers = {"Content-Type": "text/html; charset=utf-8", "Content-Security-Policy": CONTENT_SECURITY_POLICY}
        return Response(body=docs_html(), status_code=200, headers=headers)

    @DOCS_ASSET.route(bp)
    def docs_asset(asset: str) -> Response:
        if asset not in ASSET_MEDIA_TYPES:
            return not_found()
        headers = {"Content-Type": f"{ASSET_MEDIA_TYPES[asset]}; charset=utf-8", "Cache-Control": ASSET_CACHE_CONTROL}
        return Response(body=asset_text(asset), status_code=200, headers=headers)

    return bp
