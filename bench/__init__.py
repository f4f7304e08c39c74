"""``make bench``: measure pagewise against the physical limit of the model server.

The model server is the bottleneck by design: with a per-page latency L and a concurrency limit C no pipeline
can recognise more than C / L pages per second. This package starts the real system (nats-server, Postgres,
the four services as processes) in front of the fake OpenAI-compatible model of the test suite, runs six
scenarios and reports each figure next to its target:

1. ``throughput`` — >= 1,000 pages over many documents: pages/s against C / L, model concurrency, 429s.
2. ``big``        — one 100-page document: pagewise against the ideal and against the seed design.
3. ``overhead``   — the model answering at once: per-page pipeline overhead and the pipeline's own ceiling.
4. ``render``     — render + encode cost per page and bytes per page, against ``pdftoppm``.
5. ``upload``     — peak RSS growth of the gateway while a 500 MB PDF streams in.
6. ``fanout``     — 1,000 SSE watchers: delay from an event's publication to its arrival at every watcher.

Run ``python -m bench --help``. Figures are printed as a table and written to ``bench/results/``.
Timings are measured here and never asserted in tests: a benchmark reports, CI stays deterministic.
"""
