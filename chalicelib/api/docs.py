"""The API's own description: GET /openapi.json (the OpenAPI 3.1 document beside this module, generated from
the operations' declarations by `python -m chalicelib.api.openapi`) and GET /docs (the same document as an
HTML page rendered here, with inline CSS only: no script, no CDN).

The document is read on the first request that needs it, not at import (cold starts stay as they are),
and kept for the life of the process.
"""

from __future__ import annotations

import functools
import json
import re
from html import escape
from pathlib import Path
from typing import Any

from chalice import Blueprint, Response

from chalicelib.api.contract import Operation
from chalicelib.api.fallback import COMMON_FRAMEWORK_ERRORS
from chalicelib.api.models.common import OpenApiDocument

DOCUMENT_PATH = Path(__file__).with_name("openapi.json")
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
TAG = "Documentation"

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
    summary="This document as a readable HTML page",
    description="Rendered on the server from `/openapi.json`: operations, parameters, request and response schemas,"
    " examples. No script, no external resource.",
    ok="The HTML page.",
    ok_body=None,
    ok_media="text/html",
    errors=COMMON_FRAMEWORK_ERRORS,
)
OPERATIONS = (OPENAPI, DOCS)


@functools.cache
def document() -> dict[str, Any]:
    return json.loads(DOCUMENT_PATH.read_text(encoding="utf-8"))


@functools.cache
def document_json() -> str:
    return json.dumps(document(), ensure_ascii=False, separators=(",", ":"))


@functools.cache
def docs_html() -> str:
    return _Renderer(document()).page()


def blueprint() -> Blueprint:
    bp = Blueprint(__name__)

    @OPENAPI.route(bp)
    def openapi() -> Response:
        return Response(body=document_json(), status_code=200, headers={"Content-Type": "application/json"})

    @DOCS.route(bp)
    def docs() -> Response:
        return Response(body=docs_html(), status_code=200, headers={"Content-Type": "text/html; charset=utf-8"})

    return bp


# --- rendering --------------------------------------------------------------------------------------

_CSS = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;max-width:70rem;margin:0 auto;padding:1rem 2rem;
color:#1b1f24;background:#fff}
h1{margin-bottom:.2rem}h2{border-bottom:2px solid #d0d7de;padding-bottom:.2rem;margin-top:2.5rem}
h3{margin:0;font-size:1.05rem}h4{margin:1rem 0 .3rem}
code,pre{font:13px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f6f8fa;border-radius:4px}
code{padding:.05rem .3rem}pre{padding:.6rem .8rem;overflow-x:auto;margin:.3rem 0}
.op{border:1px solid #d0d7de;border-radius:6px;margin:1rem 0;padding:.8rem 1rem}
.method{display:inline-block;min-width:3.6rem;text-align:center;font-weight:700;color:#fff;border-radius:4px;
padding:.1rem .4rem;margin-right:.5rem;background:#57606a}
.get{background:#0969da}.post{background:#1a7f37}.put{background:#9a6700}.delete{background:#cf222e}
.badge{font-size:.8rem;border:1px solid #bf8700;color:#7d4e00;border-radius:1rem;padding:0 .5rem;margin-left:.5rem}
.desc{white-space:pre-line}.muted{color:#57606a}
table{border-collapse:collapse;width:100%;margin:.3rem 0}th,td{border:1px solid #d0d7de;padding:.3rem .5rem;
text-align:left;vertical-align:top}th{background:#f6f8fa}
ul.schema{margin:.2rem 0;padding-left:1.2rem}nav ul{columns:2}
"""

_CODE = re.compile(r"`([^`]+)`")
_CONSTRAINTS = (
    ("minLength", "min length"),
    ("maxLength", "max length"),
    ("minimum", "≥"),
    ("maximum", "≤"),
    ("exclusiveMinimum", ">"),
    ("exclusiveMaximum", "<"),
    ("minItems", "min items"),
    ("maxItems", "max items"),
    ("maxProperties", "max members"),
    ("pattern", "pattern"),
    ("format", "format"),
)


def _text(value: Any) -> str:
    """Escaped prose, with `code` spans."""
    return _CODE.sub(r"<code>\1</code>", escape(str(value)))


def _json(value: Any) -> str:
    return escape(json.dumps(value, ensure_ascii=False, indent=2))


def _anchor(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "-", "-".join(parts)).strip("-")


class _Renderer:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc

    def resolve(self, node: Any) -> Any:
        while isinstance(node, dict) and "$ref" in node:
            target: Any = self.doc
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return node

    def page(self) -> str:
        info = self.doc.get("info", {})
        title = escape(str(info.get("title", "API")))
        body = [
            f"<h1>{title}</h1>",
            f'<p class="muted">OpenAPI {escape(str(self.doc.get("openapi", "")))} · version '
            f'{escape(str(info.get("version", "")))} · <a href="/openapi.json">/openapi.json</a></p>',
        ]
        if info.get("summary"):
            body.append(f"<p>{_text(info['summary'])}</p>")
        if info.get("description"):
            body.append(f'<div class="desc">{_text(info["description"])}</div>')
        body.append(self.contents())
        for tag, operations in self.by_tag().items():
            body.append(f'<h2 id="{_anchor("tag", tag)}">{escape(tag)}</h2>')
            description = self.tag_description(tag)
            if description:
                body.append(f"<p>{_text(description)}</p>")
            body.extend(self.operation(path, method, operation) for path, method, operation in operations)
        body.append(self.security_schemes())
        body.append(self.schemas())
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{title}</title><style>{_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
        )

    def operations(self) -> list[tuple[str, str, dict[str, Any]]]:
        return [
            (path, method, operation)
            for path, item in self.doc.get("paths", {}).items()
            for method, operation in item.items()
            if method in METHODS
        ]

    def by_tag(self) -> dict[str, list[tuple[str, str, dict[str, Any]]]]:
        groups: dict[str, list[tuple[str, str, dict[str, Any]]]] = {tag["name"]: [] for tag in self.doc.get("tags", [])}
        for path, method, operation in self.operations():
            groups.setdefault((operation.get("tags") or ["Other"])[0], []).append((path, method, operation))
        return {tag: operations for tag, operations in groups.items() if operations}

    def tag_description(self, name: str) -> str | None:
        return next((tag.get("description") for tag in self.doc.get("tags", []) if tag["name"] == name), None)

    def contents(self) -> str:
        items = "".join(
            f'<li><a href="#{_anchor(method, path)}"><code>{escape(method.upper())} {escape(path)}</code></a> '
            f"{_text(operation.get('summary', ''))}</li>"
            for path, method, operation in self.operations()
        )
        return f"<nav><h2>Operations</h2><ul>{items}</ul></nav>"

    def operation(self, path: str, method: str, operation: dict[str, Any]) -> str:
        parts = [
            f'<section class="op" id="{_anchor(method, path)}"><h3><span class="method {escape(method)}">'
            f"{escape(method.upper())}</span><code>{escape(path)}</code>"
        ]
        if operation.get("x-contest-compat"):
            parts.append('<span class="badge">x-contest-compat: only with BANK_CONTEST_COMPAT on</span>')
        parts.append("</h3>")
        if operation.get("summary"):
            parts.append(f"<p><strong>{_text(operation['summary'])}</strong></p>")
        if operation.get("description"):
            parts.append(f'<div class="desc">{_text(operation["description"])}</div>')
        parts.append(self.security(operation))
        parameters = [self.resolve(parameter) for parameter in operation.get("parameters", [])]
        if parameters:
            rows = "".join(
                f"<tr><td><code>{escape(str(p.get('name')))}</code></td><td>{escape(str(p.get('in')))}</td>"
                f"<td>{'yes' if p.get('required') else 'no'}</td><td>{self.schema(p.get('schema', {}))}</td>"
                f"<td>{_text(p.get('description', ''))}"
                f"{self.example_block(p)}</td></tr>"
                for p in parameters
            )
            parts.append(
                "<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>required</th><th>schema</th>"
                f"<th>description</th></tr>{rows}</table>"
            )
        if "requestBody" in operation:
            body = self.resolve(operation["requestBody"])
            required = " (required)" if body.get("required") else ""
            parts.append(f"<h4>Request body{required}</h4>")
            if body.get("description"):
                parts.append(f"<p>{_text(body['description'])}</p>")
            parts.append(self.content(body.get("content", {})))
        parts.append("<h4>Responses</h4>")
        for status, response in sorted(operation.get("responses", {}).items()):
            parts.append(self.response(status, self.resolve(response)))
        parts.append("</section>")
        return "".join(parts)

    def security(self, operation: dict[str, Any]) -> str:
        requirements = operation.get("security", self.doc.get("security", []))
        names = [name for requirement in requirements for name in requirement]
        if not names:
            return "<p><strong>Auth:</strong> none</p>"
        links = ", ".join(f'<a href="#{_anchor("security", name)}"><code>{escape(name)}</code></a>' for name in names)
        return f"<p><strong>Auth:</strong> {links}</p>"

    def response(self, status: str, response: dict[str, Any]) -> str:
        parts = [f"<h4><code>{escape(status)}</code></h4>", f"<p>{_text(response.get('description', ''))}</p>"]
        headers = {name: self.resolve(header) for name, header in response.get("headers", {}).items()}
        if headers:
            rows = "".join(
                f"<tr><td><code>{escape(name)}</code></td><td>{'yes' if header.get('required') else 'no'}</td>"
                f"<td>{self.schema(header.get('schema', {}))}</td><td>{_text(header.get('description', ''))}</td></tr>"
                for name, header in headers.items()
            )
            parts.append(
                "<table><tr><th>header</th><th>always</th><th>schema</th><th>description</th></tr>" + rows + "</table>"
            )
        parts.append(self.content(response.get("content", {})))
        return "".join(parts)

    def content(self, content: dict[str, Any]) -> str:
        parts = []
        for media_type, media in content.items():
            parts.append(f"<p>Content type <code>{escape(media_type)}</code>:</p>")
            parts.append(self.schema(media.get("schema", {})))
            parts.append(self.example_block(media))
        return "".join(parts)

    def example_block(self, node: dict[str, Any]) -> str:
        examples = []
        if "example" in node:
            examples.append(("Example", node["example"]))
        for name, example in node.get("examples", {}).items():
            example = self.resolve(example)
            if "value" in example:
                examples.append((example.get("summary") or name, example["value"]))
        return "".join(f"<p class='muted'>{_text(label)}</p><pre>{_json(value)}</pre>" for label, value in examples)

    def schema(self, node: Any, depth: int = 0) -> str:
        if depth > 8 or not isinstance(node, dict):
            return escape(json.dumps(node))
        refs = [part["$ref"] for part in [node, *node.get("allOf", [])] if isinstance(part, dict) and "$ref" in part]
        names = [ref.rsplit("/", 1)[1] for ref in refs if ref.startswith("#/components/schemas/")]
        link = "".join(f'<a href="#{_anchor("schema", name)}">{escape(name)}</a>: ' for name in names)
        node = self.merged(node)
        words = [escape(str(node.get("type", "any")))]
        for key, label in _CONSTRAINTS:
            if key in node:
                words.append(f"{escape(label)} {escape(json.dumps(node[key]))}")
        if node.get("uniqueItems"):
            words.append("distinct items")
        if "const" in node:
            words.append(f"= <code>{_json(node['const'])}</code>")
        if "enum" in node:
            words.append("one of " + ", ".join(f"<code>{_json(value)}</code>" for value in node["enum"]))
        if isinstance(node.get("not"), dict) and "const" in node["not"]:
            words.append(f"not <code>{_json(node['not']['const'])}</code>")
        if node.get("additionalProperties") is False and node.get("properties"):
            words.append("no other members")
        line = link + " · ".join(words)
        if node.get("description"):
            line += f' <span class="muted">— {_text(node["description"])}</span>'
        children = []
        required = set(node.get("required", []))
        for name, child in node.get("properties", {}).items():
            mark = " <strong>(required)</strong>" if name in required else ""
            children.append(f"<li><code>{escape(name)}</code>{mark}: {self.schema(child, depth + 1)}</li>")
        if isinstance(node.get("items"), dict):
            children.append(f"<li>items: {self.schema(node['items'], depth + 1)}</li>")
        if children:
            line += '<ul class="schema">' + "".join(children) + "</ul>"
        return line

    def merged(self, node: dict[str, Any]) -> dict[str, Any]:
        """A schema with its $ref and allOf folded in (later keywords win, properties merged)."""
        node = self.resolve(node)
        parts = [self.merged(part) for part in node.get("allOf", [])]
        result: dict[str, Any] = {}
        for part in [*parts, {k: v for k, v in node.items() if k != "allOf"}]:
            properties = {**result.get("properties", {})}
            for name, child in part.get("properties", {}).items():
                properties[name] = {**self.merged(properties.get(name, {})), **self.merged(child)}
            result.update(part)
            if properties:
                result["properties"] = properties
        return result

    def security_schemes(self) -> str:
        schemes = self.doc.get("components", {}).get("securitySchemes", {})
        if not schemes:
            return ""
        rows = "".join(
            f'<tr id="{_anchor("security", name)}"><td><code>{escape(name)}</code></td>'
            f"<td>{escape(str(scheme.get('type')))} {escape(str(scheme.get('scheme', scheme.get('in', ''))))}"
            f"{' ' + escape(str(scheme['name'])) if 'name' in scheme else ''}</td>"
            f"<td>{_text(scheme.get('description', ''))}</td></tr>"
            for name, scheme in schemes.items()
        )
        return (
            '<h2 id="security">Security schemes</h2><table><tr><th>name</th><th>scheme</th><th>description</th></tr>'
            + rows
            + "</table>"
        )

    def schemas(self) -> str:
        schemas = self.doc.get("components", {}).get("schemas", {})
        items = "".join(
            f'<h4 id="{_anchor("schema", name)}"><code>{escape(name)}</code></h4>{self.schema(schema)}'
            for name, schema in schemas.items()
        )
        return f'<h2 id="schemas">Schemas</h2>{items}' if items else ""
