"""Entry point of the ``agile`` command.

Each command group lives in its own module with a ``register(subparsers)``
function that adds its subcommands and sets ``func`` to a handler taking the
parsed arguments. Handlers call one library function and print its result.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from agile.errors import AgileError

COMMAND_MODULES = [
    "agile_cli.corpus_commands",
    "agile_cli.index_commands",
    "agile_cli.eval_commands",
    "agile_cli.serve_commands",
    "agile_cli.deploy_commands",
    "agile_cli.labels_commands",
    "agile_cli.demo_commands",
    "agile_cli.bench_commands",
]
# Command groups that need an install extra (pyproject.toml) just to be registered.
EXTRAS = {"agile_cli.serve_commands": ("serve, users", "server"), "agile_cli.labels_commands": ("labels", "server")}
PROJECT_PACKAGES = {"agile", "agile_cli", "indexing", "server", "eval"}


def build_parser() -> argparse.ArgumentParser:
    unavailable = []
    parser = argparse.ArgumentParser(prog="agile", description="Agile Modeling: concept to classifier in minutes.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            # A package installed without an extra still offers every other command.
            if name not in EXTRAS or (e.name or "").split(".")[0] in PROJECT_PACKAGES:
                raise
            commands, extra = EXTRAS[name]
            unavailable.append(f"{commands}: pip install 'agile-modeling[{extra}]' (missing {e.name})")
            continue
        module.register(sub)
    if unavailable:
        parser.epilog = "not installed: " + "; ".join(unavailable)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = args.func(args)
    except AgileError as e:
        print(f"agile {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"agile {args.command}: interrupted; re-run the same command to resume", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
