"""Request validation answers and the error responses every operation documents.

Every error body has one shape, ``ErrorPublic``: ``detail`` is a message;
validation errors add ``errors`` (where and what, never the input itself:
echoing a NaN or a lone surrogate back is what made such answers fail).
"""
from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from server.docs import BEARER
from server.errors import Invalid
from server.schemas import ErrorPublic
from server.status import ERROR_STATUS, documented_statuses


def _clean(value: Any) -> str | int:
    """A location part fit for JSON: ints stay, strings lose unencodable characters and length."""
    if isinstance(value, int):
        return value
    return str(value).encode("utf-8", "replace").decode("utf-8")[:100]


def validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [{"loc": [_clean(part) for part in e.get("loc", ())], "msg": _clean(e.get("msg", "")),
             "type": _clean(e.get("type", ""))} for e in exc.errors()]


async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    errors = validation_errors(exc)
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(p) for p in first["loc"])
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return JSONResponse({"detail": f"{where}: {first['msg']}{more}" if where else first["msg"] + more,
                         "errors": errors}, status_code=ERROR_STATUS[Invalid])


def _schema_ref(model: type[BaseModel]) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def install_openapi(app: FastAPI) -> None:
    """The spec: the bearer scheme, and ErrorPublic for every error status each operation can return."""
    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        schema.setdefault("components", {})["securitySchemes"] = BEARER
        schema["security"] = [{"bearer": []}]  # every operation takes the token
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        components["ErrorPublic"] = ErrorPublic.model_json_schema(ref_template="#/components/schemas/{model}")
        for defs_name, defs in components["ErrorPublic"].pop("$defs", {}).items():
            components[defs_name] = defs
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                responses = operation.setdefault("responses", {})
                for code, description in documented_statuses(method).items():
                    responses[str(code)] = {"description": description,
                                            "content": {"application/json": {"schema": _schema_ref(ErrorPublic)}}}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi
