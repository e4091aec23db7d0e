"""The `switchboard` command: serve, users create, db upgrade, secrets rotate-key, doctor."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from core import heap
from core.errors import SwitchboardError
from core.settings import Settings, load_settings


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        status: int = args.run(args, settings)
        return status
    except SwitchboardError as exc:
        print(f"switchboard: {exc.message}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="switchboard", description="Switchboard AI platform.")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the web service")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8000)")
    serve.add_argument("--workers", type=int, help="number of worker processes (default 1)")
    serve.set_defaults(run=_serve)

    users = commands.add_parser("users", help="manage users").add_subparsers(
        required=True, metavar="ACTION"
    )
    create = users.add_parser("create", help="create a user")
    create.add_argument("username")
    create.add_argument("--admin", action="store_true", help="make the user an admin")
    create.add_argument(
        "--password-env",
        metavar="NAME",
        help="read the password from this environment variable instead of prompting",
    )
    create.set_defaults(run=_create_user)

    db = commands.add_parser("db", help="manage the database").add_subparsers(
        required=True, metavar="ACTION"
    )
    upgrade = db.add_parser("upgrade", help="apply the database migrations")
    upgrade.set_defaults(run=_upgrade)

    secrets = commands.add_parser("secrets", help="manage assistant secrets").add_subparsers(
        required=True, metavar="ACTION"
    )
    rotate = secrets.add_parser(
        "rotate-key", help="re-encrypt every assistant secret under a new key (old keys kept)"
    )
    rotate.set_defaults(run=_rotate_key)

    doctor = commands.add_parser("doctor", help="check settings, database, vectors and providers")
    doctor.set_defaults(run=_doctor)
    return parser


def _doctor(args: argparse.Namespace, settings: Settings) -> int:
    from api.doctor import report, run_checks

    text, healthy = report(asyncio.run(run_checks(settings)))
    print(text)
    return 0 if healthy else 1


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from api.app import create_app

    host = args.host or settings.host
    port = args.port or settings.port
    workers = args.workers or settings.workers
    if workers > 1 and not settings.qdrant_url:
        print(
            f"switchboard: {workers} workers share no embedded vector index: knowledge answers "
            "503 until SWITCHBOARD_QDRANT_URL points to a Qdrant server.",
            file=sys.stderr,
        )
    if workers > 1 and not settings.database_url:
        print(
            "switchboard: several workers on SQLite serialise every write; set "
            "SWITCHBOARD_DATABASE_URL to a PostgreSQL database for real concurrency.",
            file=sys.stderr,
        )
    # Workers build their settings from the environment: they name the address they listen on.
    os.environ["SWITCHBOARD_HOST"], os.environ["SWITCHBOARD_PORT"] = host, str(port)
    settings = settings.model_copy(update={"host": host, "port": port})
    create_app(settings)  # validate settings and the catalog before forking workers
    # What start-up made lives as long as the process: keep it out of the cyclic collector's full
    # passes, which otherwise took ~10% of a streamed call (the app's lifespan freezes again).
    heap.freeze_long_lived()
    print(f"Switchboard on http://{host}:{port}  (Ctrl+C to stop)", file=sys.stderr)
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=15,
        # X-Forwarded-* are believed by the app, from SWITCHBOARD_TRUSTED_PROXIES only (uvicorn
        # itself would believe any client on 127.0.0.1).
        proxy_headers=False,
    )
    return 0


def _create_user(args: argparse.Namespace, settings: Settings) -> int:
    from api.migrate import upgrade_under_lock
    from core import database
    from core import users as user_service
    from core.schemas import UserCreate

    if args.password_env:
        password = os.environ.get(args.password_env, "")
    else:
        password = getpass.getpass(f"Password for {args.username}: ")
    try:
        data = UserCreate(
            username=args.username, password=password, role="admin" if args.admin else "member"
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        print(f"switchboard: cannot create the user: {problems}", file=sys.stderr)
        return 2
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade_under_lock(settings.resolved_database_url)

    async def create() -> None:
        engine = database.create_engine(settings.resolved_database_url)
        try:
            async with database.write_transaction(database.sessionmaker(engine)) as session:
                await user_service.create(session, data=data)
        finally:
            await engine.dispose()

    asyncio.run(create())
    print(f"Created {data.role} {data.username!r}.")
    return 0


def _upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from api.migrate import upgrade_under_lock

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade_under_lock(settings.resolved_database_url)
    print("The database is up to date.")
    return 0


def _rotate_key(args: argparse.Namespace, settings: Settings) -> int:
    from api.migrate import upgrade_under_lock
    from assistant.assistants import keyring, secrets
    from core import database

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade_under_lock(settings.resolved_database_url)
    ring = keyring.load(settings.data_dir, settings.secrets_key.get_secret_value())

    async def rotate() -> int:
        engine = database.create_engine(settings.resolved_database_url)
        try:
            return await secrets.rotate(database.sessionmaker(engine), ring=ring)
        finally:
            await engine.dispose()

    count = asyncio.run(rotate())
    print(f"Re-encrypted {count} secrets under key {ring.current}; older keys stay readable.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
