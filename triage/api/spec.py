"""Declared endpoints: one decorator validates requests and describes them in OpenAPI 3.1."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from flask import Blueprint, Response, request
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema

from triage import auth
from triage.errors import ApiError, validation_fields
from triage.schemas import ErrorOut
from triage.tables import MAX_ID, Scope


@dataclass(frozen=True)
class Endpoint:
    """What the OpenAPI document says about one route."""

    rule: str
    method: str
    name: str
    summary: str
    scopes: tuple[Scope, ...]
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    response: type[BaseModel]
    status: int
    errors: tuple[int, ...]
    headers: tuple[tuple[str, str], ...]
    # Other success statuses with the same body, as (status, description).
    also: tuple[tuple[int, str], ...] = ()


ENDPOINTS: list[Endpoint] = []


def parse_body(model: type[BaseModel]) -> BaseModel:
    """Validate the JSON body against model, refusing wrong types, bad JSON and bad UTF-8."""
    if request.mimetype != "application/json":
        raise ApiError(415, "unsupported_media_type", "Send the body as application/json.")
    raw = request.get_data(cache=True)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, "invalid_utf8", "The body is not valid UTF-8.") from exc
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        if any(err["type"] == "json_invalid" for err in exc.errors()):
            raise ApiError(400, "invalid_json", "The body is not valid JSON.") from exc
        if any(err["type"] == "model_type" and not err["loc"] for err in exc.errors()):
            raise ApiError(400, "invalid_json", "The body must be a JSON object.") from exc
        raise ApiError(
            422, "validation_error", "Some fields are not valid.", validation_fields(exc)
        ) from exc


def parse_query(model: type[BaseModel]) -> BaseModel:
    """Validate query parameters against model; a repeated parameter is refused."""
    args: dict[str, str] = {}
    for key, values in request.args.lists():
        if len(values) > 1:
            raise ApiError(422, "validation_error", "Repeated parameter.", {key: "given twice"})
        args[key] = values[0]
    try:
        return model.model_validate(args)
    except ValidationError as exc:
        raise ApiError(
            422, "validation_error", "Some parameters are not valid.", validation_fields(exc)
        ) from exc


def _render(result: Any, status: int) -> Response:
    headers: dict[str, str] = {}
    if isinstance(result, tuple):
        result, status, headers = result
    return Response(
        result.model_dump_json(), status=status, headers=headers, mimetype="application/json"
    )


def endpoint(
    bp: Blueprint,
    rule: str,
    method: str,
    *,
    response: type[BaseModel],
    summary: str,
    scopes: tuple[Scope, ...] = (),
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    status: int = 200,
    errors: tuple[int, ...] = (),
    headers: tuple[tuple[str, str], ...] = (),
    also: tuple[tuple[int, str], ...] = (),
) -> Callable[[Callable[..., Any]], Callable[..., Response]]:
    """Register a view that authenticates, validates its input and serialises its output."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Response]:
        ENDPOINTS.append(
            Endpoint(
                rule,
                method,
                fn.__name__,
                summary,
                scopes,
                body,
                query,
                response,
                status,
                errors,
                headers,
                also,
            )
        )

        @wraps(fn)
        def view(**kwargs: Any) -> Response:
            if scopes:
                kwargs["principal"] = auth.authenticate(scopes)
            for name, value in kwargs.items():
                # Past the id columns' range no row can exist, and the database would refuse it.
                if isinstance(value, int) and value > MAX_ID:
                    raise ApiError(404, "not_found", f"No {name.removesuffix('_id')} {value}.")
            if body is not None:
                kwargs["body"] = parse_body(body)
            if query is not None:
                kwargs["query"] = parse_query(query)
            return _render(fn(**kwargs), status)

        view.required_scopes = scopes  # type: ignore[attr-defined]
        bp.add_url_rule(rule, endpoint=fn.__name__, view_func=view, methods=[method])
        return view

    return decorate


_CONVERTER = re.compile(r"<(?:(\w+):)?(\w+)>")
_ERROR_TEXT = {
    400: "Malformed request (invalid JSON or UTF-8).",
    401: "Missing, unknown or revoked API key.",
    403: "The API key's scope does not allow this.",
    404: "Not found.",
    409: "Conflicts with the ticket's current state.",
    413: "Body too large.",
    415: "Body is not application/json.",
    422: "Validation failed; see fields.",
    503: "Database or model not available.",
}


def openapi_document(prefix: str) -> dict[str, Any]:
    """Build the OpenAPI 3.1 document from the registered endpoints and their models."""
    pairs: list[tuple[type[BaseModel], Any]] = [(ErrorOut, "serialization")]
    for ep in ENDPOINTS:
        pairs.append((ep.response, "serialization"))
        if ep.body is not None:
            pairs.append((ep.body, "validation"))
    keys, schema = models_json_schema(pairs, ref_template="#/components/schemas/{model}")
    paths: dict[str, dict[str, Any]] = {}
    for ep in ENDPOINTS:
        path = prefix + _CONVERTER.sub(r"{\2}", ep.rule)
        op: dict[str, Any] = {"operationId": ep.name, "summary": ep.summary, "responses": {}}
        params = [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": (
                    {"type": "integer", "minimum": 0, "maximum": MAX_ID}
                    if conv == "int"
                    else {"type": "string"}
                ),
            }
            for conv, name in _CONVERTER.findall(ep.rule)
        ]
        if ep.query is not None:
            query_schema = ep.query.model_json_schema()
            for name, prop in query_schema.get("properties", {}).items():
                params.append({"name": name, "in": "query", "required": False, "schema": prop})
        for name, description in ep.headers:
            params.append(
                {
                    "name": name,
                    "in": "header",
                    "required": False,
                    "description": description,
                    "schema": {"type": "string", "maxLength": 200},
                }
            )
        if params:
            op["parameters"] = params
        if ep.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": keys[(ep.body, "validation")]}},
            }
        for code, description in ((ep.status, "Success"), *ep.also):
            op["responses"][str(code)] = {
                "description": description,
                "content": {"application/json": {"schema": keys[(ep.response, "serialization")]}},
            }
        codes = set(ep.errors)
        if _CONVERTER.search(ep.rule):
            codes |= {404}  # an id that names nothing
        if ep.scopes:
            codes |= {401, 403}
            op["security"] = [{"ApiKey": []}, {"Bearer": []}]
            op["description"] = "Scopes allowed: " + ", ".join(s.value for s in ep.scopes) + "."
        if ep.body is not None:
            codes |= {400, 413, 415, 422}
        if ep.query is not None:
            codes |= {422}
        error_ref = keys[(ErrorOut, "serialization")]
        for code in sorted(codes | {503}):
            op["responses"][str(code)] = {
                "description": _ERROR_TEXT.get(code, "Error"),
                "content": {"application/json": {"schema": error_ref}},
            }
        paths.setdefault(path, {})[ep.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "triage",
            "version": "1",
            "description": "ML-assisted support ticket triage: priority, category, queue "
            "and SLA for every ticket, with the reasons.",
        },
        "paths": paths,
        "components": {
            "schemas": schema.get("$defs", {}),
            "securitySchemes": {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "Bearer": {"type": "http", "scheme": "bearer"},
            },
        },
    }
