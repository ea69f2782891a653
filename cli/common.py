"""What every verb shares: the verb registry, the model and dataset options, opening them, progress on stderr.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any, Callable, NoReturn
from core.foundation.errors import BackboneLensError


Handler = Callable[[argparse.Namespace], Any]


_VERBS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Handler, str]] = {}


def verb(name: str, help: str):
    """Register ``fn(args) -> result`` under ``name``; the decorated object takes a ``configure`` attribute."""
    def deco(configure: Callable[[argparse.ArgumentParser], None]):
        def register(handler: Handler) -> Handler:
            _VERBS[name] = (configure, handler, help)
            return handler
        configure.handler = register  # type: ignore[attr-defined]
        return configure
    return deco


def add_decoding_head(p: argparse.ArgumentParser) -> None:
    """``--mlm REF``: decode hidden states through the masked-LM (or LM) head of a base checkpoint."""
    p.add_argument("--mlm", default=None, metavar="REF",
                   help="a base checkpoint (a *ForMaskedLM folder or hub id; a *ForCausalLM for a decoder) whose head "
                        "decoded Grad-CAM reads hidden states through, instead of the model's own or a fitted one")


def add_model(p: argparse.ArgumentParser, *, required: bool = True) -> None:
    p.add_argument("--model", required=required, help="demo:NAME, bundled:minilm, a hub id or a local folder")
    p.add_argument("--trust-remote-code", action="store_true", help="allow custom model code (off by default)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: CUDA if available)")
    p.add_argument("--dtype", default=None, choices=("float32", "bfloat16", "float16"),
                   help="the backbone's weights (default float32; float16 needs a GPU; heads stay float32)")


def add_precision(p: argparse.ArgumentParser) -> None:
    """``--precision fp32|bf16|fp16``: autocast the forward passes over float32 weights (unlike ``--dtype``, which
    casts the weights)."""
    p.add_argument("--precision", default=None, choices=("fp32", "bf16", "fp16"),
                   help="run forward passes under torch.autocast in this precision, weights and results float32 "
                        "(default fp32: no autocast; fp16 needs a GPU; not with --dtype bfloat16/float16)")


def add_dataset(p: argparse.ArgumentParser, *, required: bool = True, positional: bool = False) -> None:
    """``--dataset`` (or the positional ``DATA`` when ``positional``) and its column, sample and seed options."""
    if positional:
        p.add_argument("dataset", metavar="DATA", help="bundled:bbc | bundled:tweets | bundled:snli | a file path")
    else:
        p.add_argument("--dataset", required=required,
                       help="bundled:bbc | bundled:tweets | bundled:snli | a file path")
    p.add_argument("--text-column")
    p.add_argument("--text-pair-column")
    p.add_argument("--label-column")
    p.add_argument("--label-names", help="comma-separated names for integer labels")
    p.add_argument("--encoding", default="utf-8", help="text encoding of CSV/TSV/JSON files (default utf-8)")
    p.add_argument("--n", type=int, default=None, help="sample size (deterministic, see --seed)")
    p.add_argument("--seed", type=int, default=0)


def add_output(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print machine-readable JSON to stdout")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


MAX_N = 10_000_000  # an --n past this is a typo, not a sample


class OneLineParser(argparse.ArgumentParser):
    """argparse with one ``error: …`` line (and exit 2) instead of a usage block, like every other input error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def open_model(args: argparse.Namespace):
    from core.foundation.settings import resolve_device
    from core.models.refs import load_model

    device = resolve_device(args.device) if args.device else None  # a device the machine lacks fails first
    model = load_model(args.model, device=device, trust_remote_code=args.trust_remote_code,
                       dtype=getattr(args, "dtype", None), precision=getattr(args, "precision", None))
    if getattr(args, "mlm", None) and getattr(args, "decoding_head", True):
        from core.models.refs import attach_lm_head

        attach_lm_head(model, args.mlm, trust_remote_code=args.trust_remote_code)
    return model


def open_dataset(args: argparse.Namespace, *, sample: bool = True):
    """The dataset of ``--dataset`` and its column options; ``sample``: draw ``--n`` texts with ``--seed`` (a larger
    ``--n`` than the dataset holds uses all of it and says so on stderr)."""
    from core.data.refs import load_dataset

    if args.n is not None and args.n <= 0:
        raise BackboneLensError(f"--n must be a positive number, got {args.n}.")
    if args.n is not None and args.n > MAX_N:
        raise BackboneLensError(f"--n {args.n:,} is more texts than Backbone Lens samples ({MAX_N:,} at most); for "
                                "a whole corpus leave --n out.")
    ds = load_dataset(
        args.dataset, text_column=args.text_column, text_pair_column=args.text_pair_column,
        label_column=args.label_column,
        label_names=[s.strip() for s in args.label_names.split(",")] if args.label_names else None,
        encoding=args.encoding,
    )
    if args.n is not None and args.n > len(ds) and not getattr(args, "quiet", False):
        print(f"note: --n {args.n:,} is more than the {len(ds):,} texts of {args.dataset}; using all of them.",
              file=sys.stderr)
    if sample and args.n is not None:
        from core.data.sampling import sample as draw

        ds = draw(ds, args.n, seed=args.seed)
    return ds


class CliProgress:
    """The CLI's :class:`~core.foundation.progress.Progress`: one tqdm bar per stage on stderr (the stage and
    its latest message beside it, rate and ETA from the fraction done), replaced when the stage changes."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.stage: str | None = None
        self.bar: Any = None

    def __call__(self, stage: str, fraction: float, message: str = "") -> None:
        from tqdm import tqdm

        if stage != self.stage:
            self.close()
            self.stage = stage
            self.bar = tqdm(total=1000, desc=f"{self.title}: {stage}" if stage != self.title else stage,
                            file=sys.stderr, leave=False, bar_format="{desc} {percentage:3.0f}%|{bar:20}| "
                            "{postfix} [{elapsed}<{remaining}]")
        f = min(1.0, max(0.0, float(fraction)))
        self.bar.n = int(round(f * 1000))
        self.bar.set_postfix_str(message, refresh=False)
        self.bar.refresh()
        if f >= 1.0:
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
            self.stage = None


def progress_bar(args: argparse.Namespace, title: str) -> CliProgress | None:
    """The verb's progress callback (nothing with ``--quiet``)."""
    return None if getattr(args, "quiet", False) else CliProgress(title)


def _parse_params(items: list[str] | None) -> dict[str, Any]:
    """``--param k=v`` pairs (numbers stay strings; the method's declared types coerce them)."""
    out: dict[str, Any] = {}
    for it in items or []:
        if "=" not in it:
            raise BackboneLensError(f"--param takes NAME=VALUE, got '{it}'.")
        k, v = it.split("=", 1)
        out[k.strip()] = v.strip()
    return out
