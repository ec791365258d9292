"""The ``minke`` entry point: global options, dispatch to one verb, exit status.

Only the chosen verb's module is imported, and argparse is set up for that verb alone,
so ``minke version`` does not pay for ``run``'s flags. Errors become docker's wording and
exit statuses here, in one place.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from .commands import GROUPS, VERBS, group_help, main_help
from .context import CLIError, Context, describe


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    ctx = Context()
    try:
        return _dispatch(ctx, args)
    except CLIError as exc:
        if exc.message:
            ctx.err(exc.message)
        return exc.status
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (minke ps | head): not an error worth a traceback.
        sys.stderr.close()
        return 1
    except Exception as exc:  # noqa: BLE001 - the last line of defence prints docker-style
        from minke import errors

        if isinstance(exc, errors.MinkeError | ValueError):
            ctx.err(describe(exc))
            return 1
        raise


def _dispatch(ctx: Context, args: list[str]) -> int:
    i = 0
    while i < len(args) and args[i].startswith("-"):
        arg = args[i]
        if arg in ("-H", "--host"):
            if i + 1 >= len(args):
                raise CLIError(f"flag needs an argument: {arg}\nSee 'minke --help'.", 125)
            ctx.host, i = args[i + 1], i + 2
        elif arg.startswith("--host="):
            ctx.host, i = arg.partition("=")[2], i + 1
        elif arg.startswith("-H"):
            ctx.host, i = arg[2:], i + 1
        elif arg.partition("=")[0] in TLS_FLAGS:
            i = _tls_flag(ctx, args, i)
        elif arg in ("-h", "--help"):
            ctx.stdout.write(main_help())
            return 0
        elif arg in ("-v", "--version"):
            from minke import __version__

            ctx.stdout.write(f"minke version {__version__}\n")
            return 0
        else:
            raise CLIError(f"unknown flag: {arg}\nSee 'minke --help'.", 125)
    if i >= len(args) or args[i] == "help":
        ctx.stdout.write(main_help())
        return 0
    name, rest = args[i], args[i + 1:]
    prog = f"minke {name}"
    defaults: dict[str, str] = {}
    if name in GROUPS:
        subs = GROUPS[name][1]
        if not rest or rest[0] in ("-h", "--help", "help"):
            ctx.stdout.write(group_help(name))
            return 0
        if rest[0] not in subs:
            raise CLIError(f'unknown command "{rest[0]}" for "minke {name}"\n'
                           f"Run 'minke {name} --help' for more information", 1)
        prog = f"minke {name} {rest[0]}"
        name, defaults = subs[rest[0]]
        rest = rest[1:]
    verb = VERBS.get(name)
    if verb is None:
        raise CLIError(f"minke: unknown command: minke {name}\n\n"
                       "Run 'minke --help' for more information", 1)
    return _run_verb(ctx, name, verb.module, prog, verb.usage, verb.summary, rest, defaults)


# docker's global TLS flags → the keyword resolve_host takes; booleans take "=false".
TLS_FLAGS = {"--tls": "tls", "--tlsverify": "tlsverify", "--tlscacert": "cacert",
             "--tlscert": "cert", "--tlskey": "key"}


def _tls_flag(ctx: Context, args: list[str], i: int) -> int:
    """Record the TLS flag at ``args[i]``; the index of the next argument."""
    name, eq, value = args[i].partition("=")
    key = TLS_FLAGS[name]
    if key in ("tls", "tlsverify"):
        if not eq:
            ctx.tls[key] = True
        elif value.lower() in ("1", "t", "true"):
            ctx.tls[key] = True
        elif value.lower() in ("0", "f", "false"):
            ctx.tls[key] = False
        else:
            raise CLIError(f'invalid argument "{value}" for "{name}" flag: parse error\n'
                           "See 'minke --help'.", 125)
        return i + 1
    if not eq:
        if i + 1 >= len(args):
            raise CLIError(f"flag needs an argument: {name}\nSee 'minke --help'.", 125)
        value, i = args[i + 1], i + 1
    ctx.tls[key] = value
    return i + 1


def _run_verb(ctx: Context, name: str, module_name: str, prog: str, usage: str,
              summary: str, rest: list[str], defaults: dict[str, str]) -> int:
    import importlib

    from .parser import VerbParser

    module = importlib.import_module(f"minke.cli.verbs.{module_name}")
    attr = name.replace("-", "_")
    parser = VerbParser(prog, usage, summary)
    getattr(module, f"configure_{attr}")(parser)
    if defaults:
        parser.set_defaults(**defaults)
    args = parser.parse_args(rest)
    return int(getattr(module, f"do_{attr}")(ctx, args) or 0)


if __name__ == "__main__":
    sys.exit(main())
