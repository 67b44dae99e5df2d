"""The request and response bodies of every API, declared once as msgspec Structs.

A model is the parser (requests are decoded with it, strictly: no `"5"`, `1.0` or `true` for an
integer) and the source of the OpenAPI document's schemas (`python -m chalicelib.api.openapi`).
"""
