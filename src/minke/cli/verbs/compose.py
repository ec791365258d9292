"""``minke compose``: hands every argument to ``minke.compose.cli``, imported only now, so
ruamel.yaml and jsonschema cost nothing to the other verbs."""

from __future__ import annotations

import argparse

from ..context import Context


def configure_compose(p: argparse.ArgumentParser) -> None:
    # Compose has global flags of its own (-f, -p...) before its sub-command: take every
    # argument as is, with no parsing here (argparse's REMAINDER cannot start with a flag).
    def parse_args(args: list[str] | None = None,
                   namespace: argparse.Namespace | None = None) -> argparse.Namespace:
        return argparse.Namespace(argv=list(args or []))

    p.parse_args = parse_args  # type: ignore[method-assign]


def do_compose(ctx: Context, args: argparse.Namespace) -> int:
    from minke.compose.cli import main

    return main(ctx, args.argv)
