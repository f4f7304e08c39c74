"""The ``pagewise`` command-line client: submit PDFs, follow their progress live, fetch the Markdown.

It talks to a gateway only through the public HTTP API (``/api/jobs`` and its SSE stream), so it works the
same against a local ``pagewise up`` and a remote deployment. ``commands.register`` adds its subcommands to
the ``pagewise`` parser in ``services.cli``.
"""
