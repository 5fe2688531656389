"""The run report: one self-contained HTML page (``08_reporting/report.html``).

The page needs no server and loads nothing: every image is a ``data:`` URI (small JPEG
thumbnails, PNG plots), the style sheet is inline, and there is no JavaScript at all. A
Content-Security-Policy forbids scripts and any load that is not a ``data:`` image, so
even a file name crafted as HTML can neither run nor fetch anything — and every
user-controlled string is HTML-escaped in the first place.

Sections: the run's parameters, the variant comparison table, the plots, a gallery of
every scored image sorted by score (thumbnail panel, rank, score, percentile, status),
and the files that were rejected with their reasons.

:func:`render_html_report` is a pure function of plain Python / pandas / bytes inputs
and returns the page as a string.
"""

from __future__ import annotations

import base64
import html
import json
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field

from facial_anomaly.config import Config

_CONTENT_SECURITY_POLICY = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
)
_IMAGE_TYPES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}
_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; margin: 1.5em;
       color: #1a1a1a; background: #fafafa; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ccc; }
nav a { margin-right: 1em; } .summary { color: #444; }
table { border-collapse: collapse; font-size: 0.9em; background: #fff; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; } td.number { text-align: right; font-variant-numeric: tabular-nums; }
.plots { display: flex; flex-wrap: wrap; gap: 1em; } .plots figure { margin: 0; }
.gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(var(--card), 1fr)); gap: 0.8em; }
.card { margin: 0; background: #fff; border: 1px solid #ddd; padding: 0.4em; }
.card img { width: 100%; height: auto; display: block; }
.card figcaption { font-size: 0.85em; margin-top: 0.3em; overflow-wrap: anywhere; }
.status-ok { color: #176117; } .status-other { color: #a33; font-weight: bold; }
.missing { color: #888; font-style: italic; padding: 2em 0; text-align: center; }
code { overflow-wrap: anywhere; }
"""


class HtmlReportConfig(Config):
    """How the run report is laid out and how its thumbnails are encoded."""

    title: str = Field("facial_anomaly run report", description="page title and top heading")
    decimals: int = Field(3, ge=0, le=12, description="decimals of real numbers in tables and captions")
    thumbnail_width_px: int = Field(
        480,
        ge=64,
        le=4096,
        description="width of the gallery thumbnails (whole panels), pixels; 480 px at quality 75 ≈ 14 kB "
        "per image, ≈ 18 MB of report for 1000 images",
    )
    jpeg_quality: int = Field(75, ge=10, le=100, description="JPEG quality of the thumbnails (libjpeg scale)")
    card_width_px: int = Field(
        480, ge=100, le=4096, description="minimum width of a gallery card on screen, CSS pixels"
    )
    descending: bool = Field(True, description="gallery order: highest score first (higher = more anomalous)")


# --------------------------------------------------------------------------- images


def encode_thumbnail(rgb: np.ndarray, *, width_px: int, jpeg_quality: int) -> bytes:
    """A JPEG of ``rgb`` (H×W×3 uint8) shrunk to ``width_px`` wide (area resampling; never
    enlarged), for the gallery. A default panel (1108 px wide) at 480 px and quality 75 is
    about 14 kB (``benchmarks/reporting.py``)."""
    import cv2

    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an H×W×3 uint8 RGB image, got {rgb.dtype} {rgb.shape}")
    if rgb.shape[1] > width_px:
        height = max(1, round(rgb.shape[0] * width_px / rgb.shape[1]))
        rgb = cv2.resize(rgb, (width_px, height), interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)]
    )
    if not ok:
        raise ValueError("JPEG encoding failed")
    return encoded.tobytes()


def figure_png(figure, *, dpi: int = 100) -> bytes:
    """PNG bytes of a matplotlib figure (e.g. :func:`facial_anomaly.evaluation.roc_figure`)."""
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def data_uri(image: bytes) -> str:
    """A ``data:image/png|jpeg;base64,…`` URI of PNG or JPEG bytes.

    Raises:
        ValueError: other content (only PNG and JPEG are embedded: no SVG, which could hold script).
    """
    for magic, mime in _IMAGE_TYPES.items():
        if image.startswith(magic):
            return f"data:{mime};base64,{base64.b64encode(image).decode('ascii')}"
    raise ValueError(f"not PNG or JPEG bytes (starts with {image[:8]!r})")


# --------------------------------------------------------------------------- text


def _escape(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _missing(value: Any) -> bool:
    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))


def _format(value: Any, decimals: int) -> str:
    """A table cell: reals to ``decimals`` places, missing values as ``–``."""
    if _missing(value):
        return "–"
    if isinstance(value, bool | np.bool_):
        return str(bool(value)).lower()
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        value = float(value)
        if math.isinf(value):
            return "∞" if value > 0 else "−∞"
        return f"{value:.{decimals}f}"
    if isinstance(value, list | tuple):
        return json.dumps(list(value), default=str, ensure_ascii=False)
    return str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


def _parameter_text(value: Any) -> str:
    """A parameter value as written in a config file: ``0.45``, ``true``, ``[1, 2]``, ``null``."""
    if value is None:
        return "null"
    if isinstance(value, bool | np.bool_):
        return str(bool(value)).lower()
    if isinstance(value, float | np.floating):
        return repr(float(value))
    if isinstance(value, list | tuple | Mapping):
        return json.dumps(value if isinstance(value, Mapping) else list(value), default=str, ensure_ascii=False)
    return str(value)


def flatten_parameters(parameters: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings flattened to dotted keys (``{"a": {"b": 1}}`` → ``{"a.b": 1}``); lists
    stay values."""
    flat: dict[str, Any] = {}
    for key, value in parameters.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value:
            flat.update(flatten_parameters(value, name))
        else:
            flat[name] = value
    return flat


def _table(frame: pd.DataFrame, decimals: int, *, css_class: str = "") -> str:
    head = "".join(f"<th>{_escape(column)}</th>" for column in frame.columns)
    rows = []
    for record in frame.itertuples(index=False, name=None):
        cells = []
        for value in record:
            kind = ' class="number"' if _is_number(value) else ""
            cells.append(f"<td{kind}>{_escape(_format(value, decimals))}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    attribute = f' class="{_escape(css_class)}"' if css_class else ""
    return f"<table{attribute}><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


# --------------------------------------------------------------------------- gallery

GALLERY_COLUMNS = ("image_id", "score", "status")


def gallery_order(gallery: pd.DataFrame, *, descending: bool) -> pd.DataFrame:
    """Gallery rows sorted by ``score`` (missing scores last), ties by ``image_id``, with a
    1-based ``rank`` column."""
    missing = [column for column in GALLERY_COLUMNS if column not in gallery]
    if missing:
        raise KeyError(f"the gallery table needs columns {list(GALLERY_COLUMNS)}; missing {missing}")
    scores = pd.to_numeric(gallery["score"], errors="coerce")
    key = -scores if descending else scores
    ordered = gallery.assign(_key=key.fillna(np.inf), _id=gallery["image_id"].astype(str))
    ordered = ordered.sort_values(["_key", "_id"], kind="stable").drop(columns=["_key", "_id"])
    return ordered.reset_index(drop=True).assign(rank=np.arange(1, len(ordered) + 1))


def _card(row: Mapping[str, Any], thumbnail: bytes | None, decimals: int) -> str:
    status = str(row["status"])
    status_class = "status-ok" if status == "ok" else "status-other"
    parts = [
        f"<strong>#{int(row['rank'])}</strong> <code>{_escape(row['image_id'])}</code>",
        f"score <strong>{_escape(_format(row['score'], decimals))}</strong>",
    ]
    if not _missing(row.get("percentile")):
        parts.append(f"percentile {_escape(_format(row['percentile'], 0))}")
    if not _missing(row.get("label")):
        parts.append(f"label {_escape(_format(row['label'], decimals))}")
    parts.append(f'<span class="{status_class}">{_escape(status)}</span>')
    if not _missing(row.get("image")) and str(row["image"]) != str(row["image_id"]):
        parts.append(f"<br><code>{_escape(row['image'])}</code>")
    alt = f"panel of {row['image_id']}"
    picture = (
        f'<img src="{data_uri(thumbnail)}" alt="{_escape(alt)}" loading="lazy">'
        if thumbnail is not None
        else '<div class="missing">no panel</div>'
    )
    return f'<figure class="card">{picture}<figcaption>{" · ".join(parts)}</figcaption></figure>'


# --------------------------------------------------------------------------- page


def render_html_report(
    *,
    parameters: Mapping[str, Any],
    comparison: pd.DataFrame | None,
    plots: Mapping[str, bytes],
    gallery: pd.DataFrame,
    thumbnails: Mapping[str, bytes],
    rejected: pd.DataFrame | None,
    config: HtmlReportConfig | None = None,
    subtitle: str = "",
) -> str:
    """The run report as one HTML string (UTF-8 text; write it with ``encoding="utf-8"``).

    Args:
        parameters: the run's parameters, nested mappings allowed (shown flattened, sorted).
        comparison: the variant comparison table (one row per variant, e.g. the ``evaluate``
            stage's table), shown as is; None or empty = "no labels, no comparison".
        plots: file name → PNG/JPEG bytes (ROC, histogram, severity…), shown in name order.
        gallery: one row per scored image: ``image_id``, ``score``, ``status``; optional
            ``image`` (path relative to the input folder), ``percentile``, ``label``.
        thumbnails: ``image_id`` → PNG/JPEG bytes of its panel (:func:`encode_thumbnail`);
            images without one get a "no panel" placeholder.
        rejected: files not scored, with ``image`` (or ``image_id``), ``status`` and optional
            ``detail`` (the reason); None or empty = none.
        config: layout and number formatting; None = defaults.
        subtitle: one line under the title (e.g. input folder and date), escaped.

    Returns:
        A complete ``<!DOCTYPE html>`` document with no external reference. The number of
        ``<img>`` elements is ``len(plots)`` + the gallery rows that have a thumbnail.

    Raises:
        KeyError: the gallery lacks a required column; ValueError: an image is not PNG/JPEG.
    """
    config = config or HtmlReportConfig()
    decimals = config.decimals
    ordered = gallery_order(gallery, descending=config.descending)
    rejected = rejected if rejected is not None else pd.DataFrame(columns=["image", "status", "detail"])
    flat = flatten_parameters(parameters)

    sections = []
    summary = (
        f"{len(ordered)} scored image{'s' * (len(ordered) != 1)}, "
        f"{len(rejected)} rejected file{'s' * (len(rejected) != 1)}, {len(flat)} parameters."
    )
    sections.append(
        f"<h1>{_escape(config.title)}</h1>"
        + (f'<p class="summary">{_escape(subtitle)}</p>' if subtitle else "")
        + f'<p class="summary">{_escape(summary)}</p>'
        + '<nav><a href="#parameters">parameters</a><a href="#variants">variants</a>'
        + '<a href="#plots">plots</a><a href="#gallery">gallery</a><a href="#rejected">rejected</a></nav>'
    )

    parameter_table = pd.DataFrame({"parameter": list(flat), "value": [_parameter_text(v) for v in flat.values()]})
    parameter_table = parameter_table.sort_values("parameter", kind="stable")
    sections.append(
        '<h2 id="parameters">Parameters</h2>'
        + (f"<details open><summary>{len(flat)} values</summary>{_table(parameter_table, decimals)}</details>")
    )

    if comparison is not None and len(comparison):
        variants = _table(comparison, decimals, css_class="comparison")
    else:
        variants = "<p>No variant comparison (the run had no labels).</p>"
    sections.append(f'<h2 id="variants">Scoring variants</h2>{variants}')

    figures = [
        f'<figure><img src="{data_uri(data)}" alt="{_escape(name)}"><figcaption>{_escape(name)}</figcaption></figure>'
        for name, data in sorted(plots.items())
    ]
    sections.append(
        '<h2 id="plots">Plots</h2>'
        + (f'<div class="plots">{"".join(figures)}</div>' if figures else "<p>No plots (the run had no labels).</p>")
    )

    cards = [_card(row, thumbnails.get(str(row["image_id"])), decimals) for row in ordered.to_dict("records")]
    order_word = "highest" if config.descending else "lowest"
    sections.append(
        f'<h2 id="gallery">Gallery</h2><p>{len(cards)} images, {order_word} score first.</p>'
        f'<div class="gallery" style="--card: {int(config.card_width_px)}px">{"".join(cards)}</div>'
    )

    if len(rejected):
        shown = rejected.copy()
        if "image" not in shown and "image_id" in shown:
            shown = shown.rename(columns={"image_id": "image"})
        columns = [column for column in ("image", "status", "detail") if column in shown]
        rejected_html = _table(shown[columns], decimals, css_class="rejected")
    else:
        rejected_html = "<p>No file was rejected.</p>"
    sections.append(f'<h2 id="rejected">Rejected files</h2>{rejected_html}')

    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CONTENT_SECURITY_POLICY}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{_escape(config.title)}</title><style>{_STYLE}</style></head>\n<body>\n"
        + "\n".join(f"<section>{section}</section>" for section in sections)
        + "\n</body></html>\n"
    )


def expected_image_count(plots: Mapping[str, bytes], gallery: pd.DataFrame, thumbnails: Mapping[str, bytes]) -> int:
    """``<img>`` elements :func:`render_html_report` writes for these inputs."""
    return len(plots) + sum(str(image_id) in thumbnails for image_id in gallery["image_id"])


def rejected_rows(report: pd.DataFrame, *, status_column: str = "status", ok: Sequence[str] = ("ok",)) -> pd.DataFrame:
    """Rows of a stage report (e.g. ``preprocess_report``) whose status is not in ``ok``."""
    return report[~report[status_column].astype(str).isin(ok)].reset_index(drop=True)
