"""The ``pagewise`` command: ``up`` runs everything locally; the other commands talk to a gateway."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path


def cmd_up(args: argparse.Namespace) -> int:
    """Start NATS, Postgres and the four services on embedded defaults; Ctrl-C stops everything.

    A service that exits is restarted (a crash must not need a person), with the log kept under .pagewise/.
    """
    from services.stack import NatsServer, Postgres, Stack, free_port

    home = Path(args.home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    nats_server = None
    nats_url = os.environ.get("NATS_URL")
    if not nats_url:
        port = 4222 if _port_free(4222) else free_port()
        nats_server = NatsServer(
            home / "nats",
            port=port,
            log_path=home / "nats-server.log",
            sync_interval=os.environ.get("NATS_SYNC_INTERVAL", "always"),
        ).start()
        nats_url = nats_server.url
    postgres = Postgres(home / "pg", os.environ.get("DATABASE_URL")).start()
    database_url = postgres.create_database("pagewise") if postgres.embedded else postgres.url()
    storage_url = os.environ.get("STORAGE_URL", "nats-objects://pagewise")
    port = args.port or int(os.environ.get("PORT", "0") or 0) or (8000 if _port_free(8000) else free_port())
    scale = {"ocr": args.ocr}
    stack = Stack(home / "logs", nats_url, database_url, storage_url, gateway_port=port, scale=scale)
    try:
        stack.start()
        engine = os.environ.get("MODEL_URL") or "embedded local engine (rapidocr; set MODEL_URL for Qwen3-VL)"
        print(
            f"\npagewise is running: {stack.url}\n"
            f"  web page:  {stack.url}/\n"
            f"  API docs:  {stack.url}/docs\n"
            f"  OCR:       {engine}\n"
            f"  logs:      {home / 'logs'}\n\n"
            f"  curl -F file=@document.pdf {stack.url}/api/jobs\n"
            f"  .venv/bin/pagewise --url {stack.url} submit document.pdf --wait\n\n"
            "Ctrl-C stops everything.",
            flush=True,
        )
        while True:
            time.sleep(1.0)
            for name, procs in stack.processes.items():
                for index, proc in enumerate(procs):
                    if not proc.alive:
                        print(
                            f"{name} exited ({proc.proc.returncode if proc.proc else '?'}); restarting",
                            flush=True,
                        )
                        procs[index] = proc.start()
    except KeyboardInterrupt:
        print("\nstopping...", flush=True)
    finally:
        stack.stop()
        if nats_server:
            nats_server.stop()
        postgres.stop()
    return 0


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pagewise", description=__doc__)
    parser.add_argument(
        "--url", default=os.environ.get("PAGEWISE_URL", "http://127.0.0.1:8000"), help="gateway base URL"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="run NATS, Postgres and every service locally")
    up.add_argument(
        "--home", default=os.environ.get("PAGEWISE_HOME", ".pagewise"), help="data and logs folder"
    )
    up.add_argument("--port", type=int, default=0, help="gateway port (default 8000, or a free one)")
    up.add_argument("--ocr", type=int, default=1, help="number of OCR processes")
    up.set_defaults(func=cmd_up)
    try:
        from services.client.commands import register
    except ImportError:  # the client commands are optional in a minimal install
        pass
    else:
        register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
