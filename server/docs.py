"""The API docs served offline: Swagger UI and ReDoc assets from the installed package, and a bearer scheme.

FastAPI's own /docs and /redoc pages load their scripts from a CDN, so they
are blank on a machine without internet access; these pages load them from
the server itself.
"""
from __future__ import annotations

from pathlib import Path

import fastapi_standalone_docs
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.staticfiles import StaticFiles

ASSETS = Path(fastapi_standalone_docs.__file__).parent / "static"
BEARER = {"bearer": {"type": "http", "scheme": "bearer",
                     "description": "a token from 'agile users add NAME --role owner|viewer' "
                                    "(not needed against a server started with --dev)"}}


def install_docs(app: FastAPI) -> None:
    """Serve /docs and /redoc from local assets; the app must be built with docs_url=redoc_url=None."""
    app.mount("/docs-assets", StaticFiles(directory=ASSETS), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def swagger():
        return get_swagger_ui_html(openapi_url=app.openapi_url, title=f"{app.title} — API",
                                   swagger_js_url="/docs-assets/swagger/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger/swagger-ui.css",
                                   swagger_favicon_url="/docs-assets/fastapi/favicon.png")

    @app.get("/redoc", include_in_schema=False)
    def redoc():
        return get_redoc_html(openapi_url=app.openapi_url, title=f"{app.title} — API",
                              redoc_js_url="/docs-assets/redoc/redoc.standalone.js",
                              redoc_favicon_url="/docs-assets/fastapi/favicon.png", with_google_fonts=False)
