import html.parser

import cv2
import numpy as np
import pandas as pd
import pytest

from facial_anomaly.evaluation import (
    HtmlReportConfig,
    data_uri,
    encode_thumbnail,
    expected_image_count,
    figure_png,
    render_html_report,
    roc_figure,
)
from facial_anomaly.evaluation.html_report import flatten_parameters, gallery_order

SCRIPT_NAME = "<script>window.__pwned = 1</script>.jpg"
ATTRIBUTE_NAME = '"><img src=x onerror="window.__pwned=2">.png'


class _Tags(html.parser.HTMLParser):
    """Every start tag with its attributes, and the text of <figcaption> elements."""

    def __init__(self):
        super().__init__()
        self.tags, self.captions, self._in_caption = [], [], False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "figcaption":
            self._in_caption, self.captions = True, [*self.captions, ""]

    def handle_endtag(self, tag):
        if tag == "figcaption":
            self._in_caption = False

    def handle_data(self, data):
        if self._in_caption:
            self.captions[-1] += data


def _parse(page: str) -> _Tags:
    parser = _Tags()
    parser.feed(page)
    return parser


def _thumbnail(seed: int) -> bytes:
    rgb = np.random.default_rng(seed).integers(0, 256, size=(40, 120, 3), dtype=np.uint8)
    return encode_thumbnail(rgb, width_px=120, jpeg_quality=70)


def _inputs(n_images=6):
    ids = [f"img_{i:02d}" for i in range(n_images - 2)] + [SCRIPT_NAME, ATTRIBUTE_NAME]
    scores = [0.5, np.nan, 3.0, 2.0, 3.0, 1.0][:n_images] + [0.1] * max(0, n_images - 6)
    gallery = pd.DataFrame({"image_id": ids, "score": scores, "status": ["ok"] * (n_images - 1) + ["low_confidence"]})
    thumbnails = {image_id: _thumbnail(i) for i, image_id in enumerate(ids)}
    figure = roc_figure([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], title="ROC <of> anomaly_score")
    plots = {"roc.png": figure_png(figure, dpi=40), "<b>histogram</b>.png": figure_png(figure, dpi=30)}
    comparison = pd.DataFrame({"run_name": ["pse_ycbcr__mouth_nose", "<i>x</i>"], "metric.auc": [0.91234, np.nan]})
    rejected = pd.DataFrame(
        {"image": ["broken <b>.jpg", "no_face.png"], "status": ["unreadable", "no_face"], "detail": ["<i>x</i>", None]}
    )
    parameters = {"input_dir": "data/01_raw/<me>", "heatmaps": {"overlay": {"alpha": 0.45}, "regions": ["a", "b"]}}
    return {
        "parameters": parameters,
        "comparison": comparison,
        "plots": plots,
        "gallery": gallery,
        "thumbnails": thumbnails,
        "rejected": rejected,
    }


def test_user_strings_are_escaped_and_nothing_is_loaded_from_outside():
    inputs = _inputs()
    page = render_html_report(**inputs)
    parsed = _parse(page)
    tags = {tag for tag, _ in parsed.tags}
    assert "script" not in tags and "<script" not in page.lower() and "<b>" not in page and "<i>" not in page
    assert tags <= {"html", "head", "meta", "link", "title", "style", "body", "section", "h1", "h2", "p", "nav",
                    "a", "details", "summary", "table", "thead", "tbody", "tr", "th", "td", "div", "figure",
                    "img", "figcaption", "strong", "code", "span", "br"}  # fmt: skip
    for tag, attributes in parsed.tags:
        assert not any(name.startswith("on") for name in attributes), (tag, attributes)
        for name in ("src", "href"):
            if name in attributes:
                assert attributes[name].startswith(("data:", "#")), (tag, attributes)
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;.jpg" in page
    assert any(ATTRIBUTE_NAME in caption for caption in parsed.captions)  # shown literally
    assert "broken &lt;b&gt;.jpg" in page and "data/01_raw/&lt;me&gt;" in page
    csp = [attributes["content"] for tag, attributes in parsed.tags if attributes.get("http-equiv")]
    assert csp == ["default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"]


def test_gallery_holds_every_scored_image_sorted_by_score():
    inputs = _inputs()
    page = render_html_report(**inputs)
    images = [a for tag, a in _parse(page).tags if tag == "img"]
    assert len(images) == expected_image_count(inputs["plots"], inputs["gallery"], inputs["thumbnails"]) == 2 + 6
    order = gallery_order(inputs["gallery"], descending=True)
    # 3.0 twice (ties by id: "<script…" sorts before "img_02"), 2.0, 1.0, 0.5, then the missing score.
    assert order["image_id"].tolist() == [SCRIPT_NAME, "img_02", "img_03", ATTRIBUTE_NAME, "img_00", "img_01"]
    assert order["rank"].tolist() == [1, 2, 3, 4, 5, 6]
    cards = [c for c in _parse(page).captions if c.startswith("#")]
    assert [c.split(" ", 1)[0] for c in cards] == ["#1", "#2", "#3", "#4", "#5", "#6"]
    assert cards[0].startswith(f"#1 {SCRIPT_NAME} · score 3.000")
    assert "score –" in cards[-1] and "low_confidence" in cards[3]
    ascending = gallery_order(inputs["gallery"], descending=False)["image_id"].tolist()
    assert ascending[:2] == ["img_00", ATTRIBUTE_NAME] and ascending[-1] == "img_01"


def test_missing_thumbnails_comparison_plots_and_rejections_are_stated():
    gallery = pd.DataFrame({"image_id": ["a", "b"], "score": [1.0, 2.0], "status": ["ok", "ok"]})
    page = render_html_report(
        parameters={}, comparison=None, plots={}, gallery=gallery, thumbnails={"a": _thumbnail(0)}, rejected=None
    )
    assert page.count("<img") == 1 and "no panel" in page
    assert "No variant comparison" in page and "No plots" in page and "No file was rejected" in page
    assert "2 scored images, 0 rejected files, 0 parameters." in page
    with pytest.raises(KeyError, match="missing \\['status'\\]"):
        render_html_report(
            parameters={},
            comparison=None,
            plots={},
            gallery=gallery.drop(columns="status"),
            thumbnails={},
            rejected=None,
        )


def test_parameters_are_flattened_and_written_as_in_config_files():
    flat = flatten_parameters({"a": {"b": 0.45, "c": [1, 2], "e": {}}, "d": None})
    assert flat == {"a.b": 0.45, "a.c": [1, 2], "a.e": {}, "d": None}
    page = render_html_report(
        parameters={"a": {"b": 0.45, "c": [1, 2]}, "d": None, "t": True},
        comparison=None,
        plots={},
        gallery=pd.DataFrame(columns=["image_id", "score", "status"]),
        thumbnails={},
        rejected=None,
        config=HtmlReportConfig(title="run <7>"),
    )
    for row in ("<td>a.b</td><td>0.45</td>", "<td>a.c</td><td>[1, 2]</td>", "<td>d</td><td>null</td>",
                "<td>t</td><td>true</td>"):  # fmt: skip
        assert row in page
    assert "<title>run &lt;7&gt;</title>" in page


def test_only_png_and_jpeg_are_embedded():
    assert data_uri(b"\x89PNG\r\n\x1a\nrest").startswith("data:image/png;base64,")
    assert data_uri(b"\xff\xd8\xff\xe0rest").startswith("data:image/jpeg;base64,")
    with pytest.raises(ValueError, match="not PNG or JPEG"):
        data_uri(b"<svg onload='alert(1)'></svg>")


def test_thumbnails_are_small_jpegs_of_the_configured_width():
    panel = np.random.default_rng(0).integers(0, 256, size=(330, 1100, 3), dtype=np.uint8)
    thumbnail = encode_thumbnail(panel, width_px=640, jpeg_quality=80)
    decoded = cv2.imdecode(np.frombuffer(thumbnail, np.uint8), cv2.IMREAD_COLOR)
    assert thumbnail[:3] == b"\xff\xd8\xff" and decoded.shape == (192, 640, 3)
    small = encode_thumbnail(panel[:50, :100], width_px=640, jpeg_quality=80)  # never enlarged
    assert cv2.imdecode(np.frombuffer(small, np.uint8), cv2.IMREAD_COLOR).shape == (50, 100, 3)


def test_report_renders_in_headless_chromium(tmp_path, chromium):
    inputs = _inputs(n_images=12)
    path = tmp_path / "08_reporting" / "report.html"
    path.parent.mkdir()
    path.write_text(render_html_report(**inputs), encoding="utf-8")
    page = chromium.open(path.as_uri())
    expected = expected_image_count(inputs["plots"], inputs["gallery"], inputs["thumbnails"])
    assert expected == 14
    assert page.image_status() == {"total": expected, "decoded": expected}
    assert page.evaluate("document.querySelectorAll('.gallery .card').length") == 12
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.evaluate("document.querySelectorAll('script').length") == 0
    names = page.evaluate("Array.from(document.querySelectorAll('.card figcaption code')).map(c => c.textContent)")
    assert SCRIPT_NAME in names and ATTRIBUTE_NAME in names  # shown as text, not run
    assert page.collect().errors == []
