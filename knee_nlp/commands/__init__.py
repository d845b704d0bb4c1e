"""Subcommands of the ``knee-nlp`` CLI: one module each, exposing ``add_parser(subparsers)``."""
