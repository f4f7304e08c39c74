"""``GET /``: the web page (drop PDFs, watch them turn into Markdown), and its files under ``/static``.

Why plain files: the page is one HTML file, one script and one stylesheet written by hand, so running it
needs no Node, no bundler and no build step, and nothing is fetched from a CDN (it works offline and leaks
nothing to third parties). The files ship inside the package (``services/gateway/static``).

Why the strict Content-Security-Policy: the page shows text produced by a model from a user's document.
It is rendered with DOM APIs only, never parsed as HTML into the page, and the policy is the second line of
defence: no inline script, nothing loaded from anywhere but this origin.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from litestar import MediaType, Response, get
from litestar.datastructures import CacheControlHeader
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
# Revalidate on every load: the files change with each release and have no hashed names (no build step to
# add them). All of them together are a few tens of kilobytes.
REVALIDATE = CacheControlHeader(no_cache=True)


@cache
def _index_html() -> bytes:
    return (STATIC_DIR / "index.html").read_bytes()


@get("/", include_in_schema=False, cache_control=REVALIDATE, sync_to_thread=False)
def index() -> Response[bytes]:
    """The single page. Read once (it is part of the installed package, it does not change at run time)."""
    return Response(_index_html(), media_type=MediaType.HTML, headers=SECURITY_HEADERS)


def _secure(response: Response[Any]) -> Response[Any]:
    """The same headers on the static files: /static/index.html must not be a way around the policy."""
    response.headers.update(SECURITY_HEADERS)
    return response


static_files = create_static_files_router(
    path="/static",
    directories=[STATIC_DIR],
    name="static",
    cache_control=REVALIDATE,
    after_request=_secure,
    include_in_schema=False,
)

ROUTES: list[ControllerRouterHandler] = [index, static_files]
