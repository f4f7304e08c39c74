"""Postgres: the pool, and migrations that are safe when several services start at once."""

from __future__ import annotations

import asyncio
import json
import logging

import asyncpg

log = logging.getLogger("pagewise.db")

# Append only: a migration, once released, is never edited. The advisory lock serialises concurrent
# starters; the version table makes a second run a no-op.
MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        """
        CREATE TABLE jobs (
            id              uuid PRIMARY KEY,
            filename        text NOT NULL,
            status          text NOT NULL DEFAULT 'pending'
                            CHECK (status IN ('pending', 'processing', 'completed', 'failed', 'cancelled')),
            upload_key      text NOT NULL,
            size_bytes      bigint NOT NULL,
            options         jsonb NOT NULL DEFAULT '{}'::jsonb,
            total_pages     integer,
            document_pages  integer,
            pages_done      integer NOT NULL DEFAULT 0,
            pages_failed    integer NOT NULL DEFAULT 0,
            error           text,
            result_key      text,
            markdown        text,
            retry_count     integer NOT NULL DEFAULT 0,
            parent_job_id   uuid REFERENCES jobs (id) ON DELETE SET NULL,
            created_at      timestamptz NOT NULL DEFAULT now(),
            started_at      timestamptz,
            completed_at    timestamptz,
            updated_at      timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX jobs_created_idx ON jobs (created_at DESC, id DESC);
        CREATE INDEX jobs_status_created_idx ON jobs (status, created_at DESC, id DESC);

        CREATE TABLE pages (
            job_id       uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
            page_no      integer NOT NULL,
            status       text NOT NULL CHECK (status IN ('done', 'failed')),
            markdown     text,
            error        text,
            attempts     integer NOT NULL DEFAULT 1,
            duration_ms  double precision,
            model        text,
            updated_at   timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (job_id, page_no)
        );
        """,
    ),
]

MIGRATION_LOCK_KEY = 0x70616765  # "page"


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(url: str, *, min_size: int = 1, max_size: int = 10, wait: float = 60.0) -> asyncpg.Pool:
    """Connect, retrying while Postgres starts (services and the database come up together)."""
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        try:
            pool = await asyncpg.create_pool(
                url, min_size=min_size, max_size=max_size, init=_init_connection, command_timeout=30
            )
            assert pool is not None
            return pool
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            if asyncio.get_running_loop().time() > deadline:
                raise
            log.warning("waiting for Postgres: %s", exc)
            await asyncio.sleep(0.5)


async def migrate(pool: asyncpg.Pool) -> int:
    """Apply pending migrations; returns the schema version."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK_KEY)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        current = await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_migrations")
        for version, sql in MIGRATIONS:
            if version > current:
                log.info("applying migration %d", version)
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
                current = version
        return int(current)
