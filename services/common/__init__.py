"""Plumbing written once and shared by every service: settings, NATS, storage, database, the pull loop."""
