"""The gateway app, assembled in one place from the route modules."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin

from services.common.bus import connect, ensure_streams
from services.common.cancellations import Cancellations
from services.common.db import create_pool, migrate
from services.common.storage import open_store
from services.gateway.errors import EXCEPTION_HANDLERS
from services.gateway.fanout import EventHub
from services.gateway.routes import compat, events, failures, health, jobs, web
from services.gateway.settings import GatewaySettings
from services.gateway.state import Gateway


def create_app(settings: GatewaySettings) -> Litestar:
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        pool = await create_pool(settings.database_url, max_size=20)
        await migrate(pool)
        nc = await connect(settings.nats_url, "pagewise-gateway")
        js = nc.jetstream()
        await ensure_streams(js, settings.stream_max_age_days)
        store = await open_store(settings.storage_url, js)
        gw = Gateway(
            settings=settings,
            nc=nc,
            js=js,
            pool=pool,
            store=store,
            cancellations=await Cancellations.open(js),
            hub=EventHub(nc, js),
        )
        await gw.hub.start()
        app.state.gateway = gw
        try:
            yield
        finally:
            await gw.close()

    def provide_gateway(state: State) -> Gateway:
        gateway: Gateway = state.gateway
        return gateway

    return Litestar(
        route_handlers=[
            *jobs.ROUTES,
            *events.ROUTES,
            *health.ROUTES,
            *compat.ROUTES,
            *failures.ROUTES,
            *web.ROUTES,
        ],
        lifespan=[lifespan],
        dependencies={"gw": Provide(provide_gateway, sync_to_thread=False)},
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        openapi_config=OpenAPIConfig(
            title="pagewise",
            version="0.1.0",
            description="PDF to Markdown with Qwen3-VL, page by page, over NATS JetStream.",
            path="/docs",
            render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin(path="/swagger")],
        ),
        request_max_body_size=settings.max_upload_bytes,
    )
