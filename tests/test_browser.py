import struct

import pytest

from facial_anomaly.browser import BrowserError, BrowserUnavailable, HeadlessChromium, find_chromium, main

PAGE_WITH_ERRORS = """<!DOCTYPE html><html><head><title>t</title></head><body>
<img src="missing.png"><script>console.error("bad", 3); throw new Error("thrown")</script>
<div style="height: 2000px">tall</div></body></html>"""


def _png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_a_missing_browser_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("FACIAL_ANOMALY_CHROMIUM", str(tmp_path / "no_such_browser"))
    assert find_chromium() is None
    with pytest.raises(BrowserUnavailable, match="FACIAL_ANOMALY_CHROMIUM.*apt-get install chromium"):
        HeadlessChromium()


def test_console_errors_exceptions_and_failed_loads_are_reported(tmp_path, chromium):
    page_file = tmp_path / "page.html"
    page_file.write_text(PAGE_WITH_ERRORS)
    page = chromium.open(page_file.as_uri())
    assert page.image_status() == {"total": 1, "decoded": 0}
    log = page.collect()
    assert log.console_errors == ["bad 3"]
    assert len(log.exceptions) == 1 and log.exceptions[0].startswith("Error: thrown")
    assert any("ERR_FILE_NOT_FOUND" in error and "missing.png" in error for error in log.log_errors)
    assert page.evaluate("document.title") == "t"


def test_screenshots_of_the_viewport_and_the_whole_page(tmp_path, chromium):
    page_file = tmp_path / "page.html"
    page_file.write_text("<html><body style='margin:0'><div style='height:1500px;background:#0a0'></div></body></html>")
    page = chromium.open(page_file.as_uri())
    assert _png_size(page.screenshot(tmp_path / "view.png")) == chromium.window_px
    assert _png_size(page.screenshot(tmp_path / "full.png", full_page=True)) == (chromium.window_px[0], 1500)
    assert page.collect().errors == []


def test_command_line_screenshot(tmp_path, capsys):
    if find_chromium() is None:
        pytest.skip("no Chromium installed (apt-get install chromium)")
    page_file = tmp_path / "page.html"
    page_file.write_text("<html><body><p>hello</p></body></html>")
    assert main([str(page_file), str(tmp_path / "out.png"), "--width", "400", "--height", "300"]) == 0
    assert _png_size(tmp_path / "out.png") == (400, 300)
    assert "wrote" in capsys.readouterr().out


def test_a_browser_that_dies_is_reported_with_its_exit_code_and_stderr(tmp_path):
    fake = tmp_path / "fake_chromium"
    fake.write_text("#!/bin/sh\necho 'cannot open display' >&2\nexit 3\n")
    fake.chmod(0o755)
    with pytest.raises(BrowserError, match=r"exited \(code 3\): cannot open display"):
        HeadlessChromium(str(fake), timeout_s=10)
