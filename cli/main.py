"""``python -m core VERB ...``: every analysis from the command line.

Verbs live in :mod:`cli.verbs` (one module per domain) and register themselves with :func:`cli.common.verb`.
``--json`` prints one JSON document to stdout (progress goes to stderr). Input errors print one sentence to
stderr and exit 2; nothing already cached or written is touched.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any
import numpy as np
from core.foundation.errors import BackboneLensError

from cli.common import _VERBS, OneLineParser
# verbs register themselves on import, in this order in --help
from cli.verbs import workspace, models, projection, saliency, compare, adversarial, multitask, transformer, corpus  # noqa: F401,I001,E501


def _print_human(result: Any) -> None:
    if isinstance(result, dict):
        for k, v in result.items():
            if isinstance(v, (dict, list)) and len(json.dumps(v, default=str)) > 100:
                print(f"{k}:")
                print("  " + json.dumps(v, indent=2, default=str).replace("\n", "\n  "))
            else:
                print(f"{k}: {v}")
    else:
        print(result)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m core", description="Backbone Lens analyses.")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=OneLineParser)
    for name, (configure, _, help_) in _VERBS.items():
        configure(sub.add_parser(name, help=help_, description=help_))
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.verb:
        parser.print_help()
        return 2
    handler = _VERBS[args.verb][1]
    try:
        if args.verb != "train" and getattr(args, "action", None) != "train":  # training chooses its own threads
            from core.foundation.settings import use_analysis_threads

            use_analysis_threads()
        result = handler(args)
    except BackboneLensError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; nothing partial was written.", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - never a traceback for the user unless asked
        if os.environ.get("BACKBONE_LENS_DEBUG"):
            raise
        print(f"error: unexpected {type(e).__name__}: {e} (set BACKBONE_LENS_DEBUG=1 for the traceback)",
              file=sys.stderr)
        return 1
    if getattr(args, "json", False):
        print(json.dumps(result, indent=2, default=_json_default))
    else:
        _print_human(result)
    return 0


def _json_default(o: Any) -> Any:
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (np.integer, np.floating)):
        return o.item()
    return str(o)
