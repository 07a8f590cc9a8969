"""The `granary` command: serve a process, migrate, run everything locally, operate events."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import sys
from collections.abc import Sequence

from services.common.settings import SERVICE_NAMES, Settings, effective_settings, settings_table

PROCESS_NAMES = (*SERVICE_NAMES, "gateway")


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Request logs of the HTTP client drown the launcher's own output.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    if args.name == "gateway":
        from gateway.main import serve

        serve(settings)
        return 0
    from services.common.runtime import ServiceHost, serve_until_signalled

    async def run() -> None:
        host = ServiceHost(args.name, settings)
        build = importlib.import_module(f"services.{args.name}.main").build
        await serve_until_signalled(host, build(host))

    asyncio.run(run())
    return 0


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from services.common.migrations import upgrade

    for name in [args.service] if args.service else SERVICE_NAMES:
        url = settings.service(name).database_url
        upgrade(name, url)
        print(f"{name}: migrated to head")
    return 0


def cmd_up(args: argparse.Namespace, settings: Settings) -> int:
    from services.launcher import Launcher

    return Launcher().run()


def cmd_config(args: argparse.Namespace, settings: Settings) -> int:
    if args.defaults:
        width = max(len(r[0]) for r in settings_table())
        for variable, default, description in settings_table():
            print(f"{variable:<{width}}  {default}\n{'':<{width}}  {description}")
        return 0
    rows = effective_settings(settings)
    width = max(len(r[0]) for r in rows)
    for variable, value, from_environment in rows:
        print(f"{variable:<{width}}  {value}{'' if from_environment else '  (default)'}")
    return 0


def cmd_events(args: argparse.Namespace, settings: Settings) -> int:
    from services.common.bus import EventBus
    from services.common.db import create_engine
    from services.common.errors import DomainError
    from services.common.parked import list_parked, replay_parked

    async def run() -> int:
        services = [args.service] if args.service else list(SERVICE_NAMES)
        if args.action == "parked":
            for name in services:
                engine = create_engine(settings.service(name).database_url)
                try:
                    for p in await list_parked(engine, include_replayed=args.all):
                        state = f"replayed {p.replayed_at:%Y-%m-%d %H:%M:%S}" if p.replayed_at else "parked"
                        print(
                            f"{name}\t{p.id}\t{p.consumer}\t{p.event_type}\t{p.event_id}\t"
                            f"attempts={p.attempts}\t{state}\t{_one_line(p.error)}"
                        )
                finally:
                    await engine.dispose()
            return 0
        if not args.service:
            print("granary events replay needs --service", file=sys.stderr)
            return 2
        platform = settings.platform
        bus = EventBus.from_settings(platform, "cli")
        engine = create_engine(settings.service(args.service).database_url)
        try:
            await bus.connect()
            for parked_id in args.ids:
                try:
                    await replay_parked(engine, bus, parked_id)
                    print(f"{args.service}: replayed parked event {parked_id}")
                except DomainError as exc:
                    print(f"{args.service}: {exc.message}", file=sys.stderr)
                    return 1
        finally:
            await bus.close()
            await engine.dispose()
        return 0

    return asyncio.run(run())


def cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 1: a chain is broken or lost its witnessed head; 2: a witness could not be read; else 0."""
    from services.common.audit_witness import WitnessStatus, verify_audit, witness_reader
    from services.common.db import create_engine

    async def run() -> int:
        failed = unread = 0
        for name in [args.service] if args.service else SERVICE_NAMES:
            engine = create_engine(settings.service(name).database_url)
            try:
                async with witness_reader(settings.platform, name) as witness:
                    verdict = await verify_audit(engine, witness)
            finally:
                await engine.dispose()
            chain, check = verdict.chain, verdict.witness
            if not chain.intact:
                failed += 1
                print(f"{name}: audit chain BROKEN at entry {chain.broken_at_seq}: {chain.reason}")
            elif check.mismatch:
                failed += 1
                print(f"{name}: audit chain NOT INTACT ({chain.entries} entries): {check.detail}")
            else:
                print(f"{name}: audit chain intact ({chain.entries} entries); witness: {check.detail}")
            if check.status is WitnessStatus.UNAVAILABLE:
                unread += 1
        return 1 if failed else 2 if unread else 0

    return asyncio.run(run())


def cmd_bpmn(args: argparse.Namespace, settings: Settings) -> int:
    """Deploys one BPMN/DMN set to the process service as the system identity."""
    from pathlib import Path

    from granary.v1 import process_pb2, process_pb2_grpc

    from services.common.grpc_client import ServiceChannels, call
    from services.common.grpc_errors import RemoteError
    from services.common.identity import ServiceIdentity, TokenSigner

    files = [process_pb2.ModelFile(name=Path(f).name, content=Path(f).read_bytes()) for f in args.files]

    async def run() -> int:
        signer = TokenSigner(settings.platform.require_jwt_secret())
        channels = ServiceChannels(default_timeout=30, fallback_caller=ServiceIdentity(signer, "cli"))
        stub = channels.stub(settings.service("process").address, process_pb2_grpc.ProcessServiceStub)
        try:
            reply = await call(
                stub.DeployProcessModel, process_pb2.DeployProcessModelRequest(files=files, process_key=args.key)
            )
        except RemoteError as exc:
            print(f"deploy refused: {exc.message}", file=sys.stderr)
            for v in exc.violations:
                print(f"  {v.field}: {v.description}", file=sys.stderr)
            return 1
        finally:
            await channels.close()
        state = "deployed" if reply.created else "unchanged (identical content)"
        print(f"{reply.version.process_key} version {reply.version.version}: {state}")
        return 0

    return asyncio.run(run())


def cmd_connector(args: argparse.Namespace, settings: Settings) -> int:
    import signal

    from services.notification.connectors import credit_bureau

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await credit_bureau.serve(settings, stop)

    asyncio.run(run())
    return 0


def _one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="granary", description="Granary credit platform")
    sub = root.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run one process until SIGTERM")
    serve.add_argument("name", choices=PROCESS_NAMES)
    serve.set_defaults(func=cmd_serve)

    migrate = sub.add_parser("migrate", help="bring service databases to the latest schema (safe to rerun)")
    migrate.add_argument("--service", choices=SERVICE_NAMES)
    migrate.set_defaults(func=cmd_migrate)

    up = sub.add_parser("up", help="run everything on this machine with demo data (Ctrl-C stops all)")
    up.set_defaults(func=cmd_up)

    config = sub.add_parser("config", help="print every setting in force (secrets hidden)")
    config.add_argument("--defaults", action="store_true", help="print the documented defaults instead")
    config.set_defaults(func=cmd_config)

    events = sub.add_parser("events", help="operate on events a consumer parked")
    events_sub = events.add_subparsers(dest="action", required=True)
    parked = events_sub.add_parser("parked", help="list parked events")
    parked.add_argument("--service", choices=SERVICE_NAMES)
    parked.add_argument("--all", action="store_true", help="include already replayed ones")
    replay = events_sub.add_parser("replay", help="republish parked events once their cause is fixed")
    replay.add_argument("ids", nargs="+", type=int)
    replay.add_argument("--service", choices=SERVICE_NAMES, required=True)
    events.set_defaults(func=cmd_events)

    connector = sub.add_parser("connector", help="run a reference connector until SIGTERM")
    connector_sub = connector.add_subparsers(dest="connector", required=True)
    connector_sub.add_parser(
        "credit-bureau", help="query the credit bureau for submitted applications (GRANARY_NOTIFICATION_BUREAU_URL)"
    )
    connector.set_defaults(func=cmd_connector)

    bpmn = sub.add_parser("bpmn", help="deploy process models (BPMN and DMN files)")
    bpmn_sub = bpmn.add_subparsers(dest="action", required=True)
    deploy = bpmn_sub.add_parser("deploy", help="validate and deploy one set of files as a new version")
    deploy.add_argument("files", nargs="+")
    deploy.add_argument("--key", default="", help="process id instances start (default: the first process)")
    bpmn.set_defaults(func=cmd_bpmn)

    audit = sub.add_parser("audit", help="check the tamper-evident audit log")
    audit_sub = audit.add_subparsers(dest="action", required=True)
    verify = audit_sub.add_parser(
        "verify",
        help="recompute every hash and compare with the witnessed head; exit 1 when a chain is broken or "
        "truncated, 2 when the witness could not be read",
    )
    verify.add_argument("--service", choices=SERVICE_NAMES)
    audit.set_defaults(func=cmd_audit)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = Settings()
    _configure_logging(settings.platform.log_level)
    return int(args.func(args, settings) or 0)


if __name__ == "__main__":
    sys.exit(main())
