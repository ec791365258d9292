"""One module per group of verbs; each defines ``configure_<verb>(parser)`` and
``do_<verb>(ctx, args) -> int``, found by name through ``minke.cli.commands``."""
