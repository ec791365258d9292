"""``minke config create|ls|inspect|rm``: the secret verbs (``verbs/secret.py``) for
configs, whose inspect shows the data."""

from __future__ import annotations

import argparse

from ..context import Context
from .secret import (
    configure_create,
    configure_inspect,
    configure_ls,
    configure_rm,
    do_create,
    do_inspect,
    do_ls,
    do_rm,
)


def configure_config_create(p: argparse.ArgumentParser) -> None:
    configure_create(p, "config")


def do_config_create(ctx: Context, args: argparse.Namespace) -> int:
    return do_create(ctx, args, "config")


configure_config_ls = configure_ls


def do_config_ls(ctx: Context, args: argparse.Namespace) -> int:
    return do_ls(ctx, args, "config")


def configure_config_inspect(p: argparse.ArgumentParser) -> None:
    configure_inspect(p, "config")


def do_config_inspect(ctx: Context, args: argparse.Namespace) -> int:
    return do_inspect(ctx, args, "config")


def configure_config_rm(p: argparse.ArgumentParser) -> None:
    configure_rm(p, "config")


def do_config_rm(ctx: Context, args: argparse.Namespace) -> int:
    return do_rm(ctx, args, "config")
