"""Assembler: records page results in Postgres, publishes progress, writes the final Markdown."""
