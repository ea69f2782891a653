"""Snapshot → self-contained HTML (Jinja2, autoescaped) → PDF (WeasyPrint, no network).

Only SVG strings produced by our own chart code (``figures.style.to_svg`` via
:func:`reports.sections.figure`) are inserted unescaped, through the ``svg`` filter, which
also refuses SVG carrying scripts, event handlers or external references, and highlighted
text from ``figures.saliency.saliency_html`` / ``saliency_comparison_html``, through the
``highlight`` filter, which re-serialises it from an allow-list of tags, attributes and
inline styles (text re-escaped). Everything else, dataset text and spec text included, is
escaped.
"""
from __future__ import annotations

import datetime as _dt
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from core.foundation.errors import BackboneLensError

TEMPLATES = Path(__file__).resolve().parent / "templates"
CSS_FILE = TEMPLATES / "report.css"

# ----------------------------------------------------------------------------- filters


def fmt_pct(value: Any, digits: int = 1) -> str:
    """0.9667 → '96.7%'; None → '–'."""
    if value is None or isinstance(value, bool):
        return "–"
    return f"{float(value) * 100:.{digits}f}%"


def fmt_num(value: Any, digits: int | None = None) -> str:
    """12345 → '12,345'; 0.91234 with digits=3 → '0.912'; None → '–'."""
    if value is None or isinstance(value, bool):
        return "–" if value is None else ("yes" if value else "no")
    if isinstance(value, int) and digits is None:
        return f"{value:,}"
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if digits is None:
        return f"{v:,.0f}" if v.is_integer() else f"{v:,.3g}"
    return f"{v:,.{digits}f}"


def fmt_compact(value: Any) -> str:
    """22713216 → '22.7 M'."""
    if value is None:
        return "–"
    v = float(value)
    for div, unit in ((1e9, " B"), (1e6, " M"), (1e3, " k")):
        if abs(v) >= div:
            return f"{v / div:.1f}{unit}"
    return f"{v:,.0f}"


def fmt_datetime(value: Any, fmt: str = "%-d %B %Y, %H:%M UTC") -> str:
    """ISO timestamp → '21 November 2025, 12:49 UTC'."""
    if not value:
        return "–"
    try:
        d = _dt.datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if d.tzinfo is not None:
        d = d.astimezone(_dt.timezone.utc)
    return d.strftime(fmt)


def fmt_yaml(value: Any) -> str:
    """A mapping as block YAML (plain text; the template escapes it)."""
    import yaml

    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True, width=90).rstrip()


def fmt_figure(value: Any) -> str:
    """A figure in a check or key-figure table: 4 significant digits, '–' when missing."""
    if value is None or isinstance(value, bool):
        return "–"
    v = float(value)
    if v.is_integer() and abs(v) >= 1:
        return f"{int(v):,}"
    return f"{v:.4g}"


TEXT_PARAMS = ("texts", "pairs")  # section parameters that hold texts: the sections show them, provenance counts them


def fmt_param(value: Any, name: str = "") -> str:
    """A section parameter as words for the provenance appendix: yes/no, lists joined, "default" for none; texts
    are counted, never printed (the section shows them, escaped, where they belong)."""
    if name in TEXT_PARAMS and isinstance(value, (list, tuple)):
        n = len(value)
        return "none" if n == 0 else f"{n} {'second ' if name == 'pairs' else ''}text{'s' if n != 1 else ''}"
    if value is None:
        return "default"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(fmt_param(v) for v in value) or "none"
    if isinstance(value, float):
        return f"{value:g}"
    return " ".join(str(value).split())


def fmt_params(params: Any) -> str:
    """All of a section's parameters as one line of words: "n: 200 · λ: 0.8 · metric: cosine"."""
    names = {"lam": "λ"}
    items = [(k, v) for k, v in dict(params or {}).items() if k not in ("kind", "note", "title", "id")]
    return " · ".join(f"{names.get(k, k.replace('_', ' '))}: {fmt_param(v, k)}" for k, v in items) or "defaults"


def fmt_seconds(value: Any) -> str:
    if value is None:
        return "–"
    v = float(value)
    return f"{v * 1000:.0f} ms" if v < 1 else (f"{v:.1f} s" if v < 120 else f"{v / 60:.1f} min")


# Elements a chart never needs: scripts and embedded documents, links, media, and SMIL animation (<animate>,
# <set> … can rewrite an attribute, e.g. an href, to a remote URL after the checks below have passed).
_SVG_BAD_TAGS = {"script", "foreignobject", "iframe", "object", "embed", "image", "a", "audio", "video",
                 "handler", "listener", "animate", "animatemotion", "animatetransform", "animatecolor", "set",
                 "discard", "mpath", "feimage", "cursor"}
_CSS_BAD = re.compile(r"url\(\s*['\"]?\s*(?!#)|@import|javascript:|expression\(", re.IGNORECASE)
# The one non-"#" link a chart may carry: an inline raster image (the projection's decision background).
_DATA_IMAGE = re.compile(r"data:image/(?:png|jpeg);base64,[A-Za-z0-9+/=\s]+\Z")


def _inline_raster(el: Any) -> bool:
    """An SVG ``<image>`` whose only link is a base64 PNG/JPEG ``data:`` URI (inert pixels, nothing fetched)."""
    hrefs = [v.strip() for k, v in el.attrib.items() if k.rsplit("}", 1)[-1].lower() in ("href", "src")]
    return len(hrefs) == 1 and bool(_DATA_IMAGE.match(hrefs[0]))


def svg_problem(svg: str) -> str | None:
    """Why ``svg`` is not an inert chart (None when it is): parsed as XML, every element and attribute checked."""
    import xml.etree.ElementTree as ET

    if "<!DOCTYPE" in svg or "<!ENTITY" in svg:
        return "document type declarations are not allowed"
    try:
        root = ET.fromstring(svg)
    except ET.ParseError as e:
        return f"not well-formed XML ({e})"
    if root.tag.rsplit("}", 1)[-1] != "svg":
        return "not an <svg> element"
    for el in root.iter():
        tag = el.tag.rsplit("}", 1)[-1].lower() if isinstance(el.tag, str) else ""
        if tag in _SVG_BAD_TAGS and not (tag == "image" and _inline_raster(el)):
            return f"<{tag}> element"
        if tag == "style" and _CSS_BAD.search(el.text or ""):
            return "external reference in <style>"
        for name, value in el.attrib.items():
            local = name.rsplit("}", 1)[-1].lower()
            if local.startswith("on"):
                return f"event handler attribute {local}"
            if local == "href" and not value.strip().startswith("#") and not (
                    tag == "image" and _DATA_IMAGE.match(value.strip())):
                return "external link"
            if _CSS_BAD.search(value) or "javascript:" in value.lower():
                return f"external reference in attribute {local}"
    return None


def safe_svg(value: Any) -> Markup:
    """Mark an SVG string from our chart code as safe HTML, after checking it is inert.

    Anything that is not a lone, well-formed ``<svg>`` element, or that carries scripts, event
    handlers, foreign objects or external references, is replaced by an escaped notice. The only
    ``<image>`` allowed is an inline base64 PNG/JPEG ``data:`` URI (the projection background).
    """
    s = str(value or "").strip()
    if s.startswith("<?xml"):
        s = s.split("?>", 1)[-1].strip()
    if not (s.startswith("<svg") and s.endswith("</svg>")) or svg_problem(s):
        return Markup('<p class="figure-missing">[figure omitted: not a chart produced by Backbone Lens]</p>')
    return Markup(s)


# ----------------------------------------------------------------------------- highlighted text

_HL_TAGS = {"div", "span", "table", "tbody", "tr", "td", "b", "br"}
_HL_VOID = {"br"}
_HL_ATTRS = {"class", "style", "title"}
_HL_CLASS = re.compile(r"[A-Za-z0-9 _-]*\Z")
_HL_PROPS = {"background-color", "color", "border-radius", "font-size", "font-style", "font-weight", "margin",
             "margin-bottom", "padding", "vertical-align", "white-space", "line-height", "border-collapse", "width"}
_HL_VALUE = re.compile(r"[#A-Za-z0-9 .,%()+-]*\Z")
_HL_COLOR_FN = re.compile(r"\brgba?\(", re.IGNORECASE)


def _style_ok(style: str) -> bool:
    """Inline CSS of plain declarations of a few layout/colour properties; the only function is rgb()/rgba()."""
    for decl in style.split(";"):
        if not decl.strip():
            continue
        prop, sep, value = decl.partition(":")
        if not sep or prop.strip().lower() not in _HL_PROPS or not _HL_VALUE.match(value.strip()):
            return False
        if "(" in _HL_COLOR_FN.sub("", value):
            return False
    return True


def highlight_problem(html: str) -> tuple[str | None, str]:
    """(why ``html`` is not highlighted text as ``core.figures`` writes it, or None; the re-serialised markup).

    Parsed with :mod:`html.parser`; every tag, attribute and style declaration must be on the allow-list,
    tags must nest properly, and the output is rebuilt from the parse (text and attribute values escaped
    again), so what reaches the report is exactly what was checked.
    """
    from html import escape
    from html.parser import HTMLParser

    out: list[str] = []
    stack: list[str] = []
    problem: list[str] = []

    class P(HTMLParser):
        def handle_starttag(self, tag, attrs):  # noqa: ANN001
            if tag not in _HL_TAGS:
                problem.append(f"<{tag}> element")
                return
            parts = [tag]
            for k, v in attrs:
                v = v or ""
                if k not in _HL_ATTRS:
                    problem.append(f"attribute {k}")
                elif k == "class" and not _HL_CLASS.match(v):
                    problem.append("odd class name")
                elif k == "style" and not _style_ok(v):
                    problem.append("style outside the allow-list")
                parts.append(f'{k}="{escape(v, quote=True)}"')
            out.append("<" + " ".join(parts) + ">")
            if tag not in _HL_VOID:
                stack.append(tag)

        def handle_startendtag(self, tag, attrs):  # noqa: ANN001
            self.handle_starttag(tag, attrs)
            if tag not in _HL_VOID and stack and stack[-1] == tag:
                self.handle_endtag(tag)

        def handle_endtag(self, tag):  # noqa: ANN001
            if tag in _HL_VOID:
                return
            if not stack or stack[-1] != tag:
                problem.append(f"unbalanced </{tag}>")
                return
            stack.pop()
            out.append(f"</{tag}>")

        def handle_data(self, data):  # noqa: ANN001
            out.append(escape(data, quote=False))

        def handle_comment(self, data):  # noqa: ANN001
            problem.append("comment")

        def handle_decl(self, decl):  # noqa: ANN001
            problem.append("declaration")

        def handle_pi(self, data):  # noqa: ANN001
            problem.append("processing instruction")

        def unknown_decl(self, data):  # noqa: ANN001
            problem.append("declaration")

    parser = P(convert_charrefs=True)
    parser.feed(str(html))
    parser.close()
    if stack and not problem:
        problem.append(f"unclosed <{stack[-1]}>")
    return (problem[0] if problem else None), "".join(out)


def safe_highlight(value: Any) -> Markup:
    """Highlighted text from ``figures.saliency.saliency_html`` as markup, rebuilt from an allow-list.

    Anything else (a script, an event handler, an unknown tag or style, broken nesting) is replaced
    by an escaped notice.
    """
    problem, html = highlight_problem(str(value or ""))
    if problem:
        return Markup('<p class="figure-missing">[highlighted text omitted: not markup produced by Backbone Lens]</p>')
    return Markup(html)


# ----------------------------------------------------------------------------- Markdown notes

_MD_TAGS = {"p", "br", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li", "a", "h3", "h4", "h5", "h6",
            "hr", "table", "thead", "tbody", "tr", "th", "td", "del"}
_MD: Any = None


def markdown_html(text: Any) -> Markup:
    """The auditor's Markdown notes as sanitised HTML.

    markdown-it-py (CommonMark + tables) with raw HTML turned off, so any markup in the text comes out as
    text; the result then passes nh3 (ammonia) with an allow-list of tags, links limited to http(s) and mailto
    (rel="noopener noreferrer"), no images, no attributes but href/title. Headings are shifted down to h3+ so
    notes never compete with the report's own headings.
    """
    global _MD
    import nh3

    if not text:
        return Markup("")
    if _MD is None:
        from markdown_it import MarkdownIt

        _MD = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")
    html = _MD.render(str(text))
    html = re.sub(r"<(/?)h([12])>", lambda m: f"<{m.group(1)}h{int(m.group(2)) + 2}>", html)
    clean = nh3.clean(html, tags=_MD_TAGS, attributes={"a": {"href", "title"}, "th": {"style"}, "td": {"style"}},
                      url_schemes={"http", "https", "mailto"}, link_rel="noopener noreferrer",
                      filter_style_properties={"text-align"})
    return Markup(clean)


def _prefix_ids(svg: str, prefix: str) -> str:
    """Make ids unique per figure so several inline SVGs never share clip paths or gradients."""
    svg = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}{m.group(1)}"', svg)
    svg = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{prefix}{m.group(1)})", svg)
    return re.sub(r'href="#([^"]+)"', lambda m: f'href="#{prefix}{m.group(1)}"', svg)


def _number_figures(obj: Any, counter: list[int]) -> Any:
    """A copy of ``obj`` where every figure dict gets a number (for captions) and unique SVG ids."""
    if isinstance(obj, dict):
        out = {k: _number_figures(v, counter) for k, v in obj.items()}
        if isinstance(obj.get("svg"), str) and "caption" in obj:
            counter[0] += 1
            out["number"] = counter[0]
            out["svg"] = _prefix_ids(obj["svg"], f"fig{counter[0]}-")
        return out
    if isinstance(obj, list):
        return [_number_figures(v, counter) for v in obj]
    return obj


_ENV: Environment | None = None


def environment() -> Environment:
    """The one Jinja2 environment of reports (autoescape on, strict undefined, our filters)."""
    global _ENV
    if _ENV is None:
        env = Environment(
            loader=FileSystemLoader(str(TEMPLATES)),
            autoescape=select_autoescape(enabled_extensions=("html", "htm", "xml", "j2"),
                                         default_for_string=True, default=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        env.filters.update(pct=fmt_pct, num=fmt_num, compact=fmt_compact, datetime=fmt_datetime,
                           seconds=fmt_seconds, svg=safe_svg, highlight=safe_highlight, yaml=fmt_yaml,
                           markdown=markdown_html, figure_value=fmt_figure, params=fmt_params)
        _ENV = env
    return _ENV


# ----------------------------------------------------------------------------- HTML


def render_section(section: dict[str, Any]) -> str:
    """One section alone (``{"kind", "title", "anchor", "data", ...}``), e.g. for previews and tests."""
    env = environment()
    section = _number_figures(section, [0])
    section.setdefault("anchor", f"s-{section.get('kind', 'section')}")
    section.setdefault("template", f"sections/{section['kind']}.html.j2")
    return env.get_template(section["template"]).render(section=section, data=section["data"])


def headline_figures(snapshot: dict[str, Any], per_section: int = 3) -> list[tuple[str, str, float, str]]:
    """(section title, check name ``id.figure``, value, anchor) of the first ``per_section`` top-level numbers each
    section publishes, for the executive summary (older snapshots without figures give none)."""
    figures = snapshot.get("figures") or {}
    rows = []
    for sec in snapshot.get("sections", []):
        sid = sec.get("id")
        numbers = [(k, v) for k, v in (figures.get(sid) or {}).items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool)]
        rows += [(sec["title"], f"{sid}.{k}", v, sec["anchor"]) for k, v in numbers[:per_section]]
    return rows


def render_html(snapshot: dict[str, Any]) -> str:
    """The whole report as one self-contained HTML page (inline CSS and SVG, no URLs)."""
    env = environment()
    snap = _number_figures(snapshot, [0])
    css = CSS_FILE.read_text("utf-8")
    return env.get_template("base.html.j2").render(snap=snap, report=snap["report"], sections=snap["sections"],
                                                   prov=snap["provenance"], css=Markup(css),
                                                   keyrows=headline_figures(snap))


# ----------------------------------------------------------------------------- PDF


class URLRefused(ValueError):
    """A resource URL the report renderer will not fetch."""


def _weasy_fetcher_base():
    try:
        from weasyprint.urls import URLFetcher  # WeasyPrint ≥ 63
        return URLFetcher
    except ImportError:  # pragma: no cover
        return None


def make_url_fetcher(allowed_dir: str | Path | None = None):
    """A WeasyPrint URL fetcher that serves ``data:`` URIs and ``file:`` URLs inside ``allowed_dir``
    only; http, https, ftp and any other file raise :class:`URLRefused` (WeasyPrint then skips it)."""
    base = _weasy_fetcher_base()
    root = Path(allowed_dir).resolve() if allowed_dir is not None else None

    def check(url: str) -> None:
        scheme = urlsplit(url).scheme.lower()
        if scheme == "data":
            return
        if scheme == "file" and root is not None:
            p = Path(unquote(urlsplit(url).path)).resolve()
            if p == root or root in p.parents:
                return
            raise URLRefused(f"refused to read {p}: outside the report folder")
        raise URLRefused(f"refused to fetch {url[:80]!r}: reports never load remote or local resources")

    if base is None:  # pragma: no cover - old WeasyPrint: plain function protocol
        from weasyprint import default_url_fetcher

        def fetch_fn(url: str, *args: Any, **kwargs: Any):
            check(url)
            return default_url_fetcher(url, *args, **kwargs)
        return fetch_fn

    class SafeURLFetcher(base):  # type: ignore[misc, valid-type]
        def fetch(self, url, headers=None):  # noqa: D102
            check(url)
            return super().fetch(url, headers)

    return SafeURLFetcher(timeout=5, allow_redirects=False)


def render_pdf(html: str, out_path: str | Path) -> Path:
    """Write ``html`` as an A4 PDF with WeasyPrint; no resource outside the output folder is fetched."""
    import logging

    from weasyprint import HTML

    for name in ("weasyprint", "fontTools", "fontTools.subset"):
        logging.getLogger(name).setLevel(logging.ERROR)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        HTML(string=html, base_url=str(out.parent.resolve()) + "/",
             url_fetcher=make_url_fetcher(out.parent)).write_pdf(str(tmp))
        tmp.replace(out)
    except BackboneLensError:
        raise
    except Exception as e:  # noqa: BLE001 - a rendering failure is one sentence for the user
        tmp.unlink(missing_ok=True)
        raise BackboneLensError(f"Could not write the PDF {out.name}: {type(e).__name__}: {e}") from None
    return out
