"""``agile serve`` (the REST API and web rater) and ``agile users add``."""
from __future__ import annotations

import argparse
import sys

from pydantic import ValidationError

from server.settings import DEFAULT_DATA_DIR


def register(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser("serve", help="serve the REST API and the web rater for a corpus")
    serve.add_argument("corpus")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--data", default=str(DEFAULT_DATA_DIR), help="database and model versions")
    serve.add_argument("--dev", action="store_true",
                       help="loopback only: no tokens, every request acts as one local owner")
    serve.add_argument("--batch-size", type=int, default=100, help="images per rating batch")
    serve.add_argument("--random-negatives", type=int, default=None,
                       help="unrated images used as extra negatives when training (fewer is faster)")
    serve.add_argument("--eval-versions", type=int, default=3,
                       help="an evaluate job stratifies over this many latest versions (and zero-shot)")
    serve.add_argument("--eval-per-stratum", type=int, default=20,
                       help="evaluation images per score stratum and model (10 strata)")
    serve.add_argument("--pin-scan-store", action="store_true",
                       help="lock the int8 copy AL rounds scan in memory (a machine of its own; needs memlock)")
    serve.set_defaults(func=cmd_serve)

    users = sub.add_parser("users", help="manage the users of a server")
    users_sub = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    add = users_sub.add_parser("add", help="add a user and print their token (shown once)")
    add.add_argument("name")
    add.add_argument("--role", choices=["owner", "viewer"], required=True)
    add.add_argument("--data", default=str(DEFAULT_DATA_DIR), help="the server's --data directory")
    add.set_defaults(func=cmd_users_add)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from server.app import create_app
    from server.settings import ServerSettings

    try:
        settings = ServerSettings(corpus=args.corpus, data=args.data, host=args.host, port=args.port,
                                  dev=args.dev, batch_size=args.batch_size,
                                  random_negatives=args.random_negatives,
                                  eval_versions=args.eval_versions, eval_per_stratum=args.eval_per_stratum,
                                  **({"pin_scan_store": True} if args.pin_scan_store else {}))
    except ValidationError as e:
        print(f"agile serve: error: {'; '.join(err['msg'] for err in e.errors())}", file=sys.stderr)
        return 2
    print(f"agile serve: loading {settings.corpus} ...", flush=True)
    # info: uvicorn says when it listens ("Uvicorn running on ..."); requests are not logged.
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info", access_log=False)
    return 0


def cmd_users_add(args: argparse.Namespace) -> int:
    from server.accounts import Accounts
    from server.db import Database
    from server.errors import ServerError
    from server.settings import database_path

    try:
        user, token = Accounts(Database(database_path(args.data))).add_user(args.name, args.role)
    except ServerError as e:
        print(f"agile users add: error: {e.message}", file=sys.stderr)
        return 2
    print(f"added {user.role} {user.name!r}; their token (shown only now, store it safely):", file=sys.stderr)
    print(token)
    return 0
