"""Gateway: the HTTP API (Litestar). Accepts uploads, records jobs, streams their events over SSE."""
