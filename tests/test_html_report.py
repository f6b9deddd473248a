"""seqbench report --format html: one self-contained file (inline SVG figures, every table,
environment, configuration, notes), rendered by headless Chromium where it is installed."""
from __future__ import annotations

import re
import shutil
import pytest

from seqbench.cli import main
from seqbench.reporting.run_report import load_report as load_run_info



def write_report(run_dir, path) -> str:
    assert main(["report", run_dir, "--format", "html", "-o", str(path)]) == 0
    return path.read_text(encoding="utf-8")


def test_report_is_self_contained_with_every_table_and_figure(small_run, tmp_path):
    text = write_report(small_run, tmp_path / "report.html")
    assert text.startswith("<!DOCTYPE html>") and "@media print" in text
    assert not re.search(r"<(script|link|img|iframe)\b", text)  # nothing to fetch: opens offline
    assert not re.search(r"""(src|href)=["']https?:""", text)
    assert text.count("<svg") == 5  # 2 learning curves, 1 against length, 2 pareto
    for data in load_run_info(small_run).tables():
        assert f"<h3>{data.title}</h3>" in text
    assert "<h2>Environment</h2>" in text and "<h2>Configuration</h2>" in text and "torch " in text
    # every figure's referenced ids (clip paths, markers) are unique in the page, glyphs aside
    ids = re.findall(r'id="([^"]+)"', text)
    refs = set(re.findall(r'(?:href="#|url\(#)([^")]+)', text))
    assert all(ids.count(r) == 1 for r in refs if not r.startswith("DejaVu"))


def test_speed_report_and_suffix_picks_html(speed_run, tmp_path):
    assert main(["report", speed_run, "-o", str(tmp_path / "speed.html")]) == 0  # the suffix picks the format
    text = (tmp_path / "speed.html").read_text(encoding="utf-8")
    assert "speed · T=4" in text and text.count("<svg") == 1


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed")
def test_chromium_renders_the_report(small_run, tmp_path):
    page = tmp_path / "report.html"
    write_report(small_run, page)
    png = tmp_path / "report.png"
    from conftest import run_process  # its own process group: chromium's helpers die with it

    run_process(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                 "--window-size=1280,2400", f"--screenshot={png}", page.as_uri()], timeout=120, cwd=tmp_path)
    assert png.stat().st_size > 20_000
    from PIL import Image  # installed with matplotlib

    image = Image.open(png).convert("L")
    assert image.size == (1280, 2400)
    assert sum(1 for n in image.histogram() if n) > 50  # text and figures drawn, not a blank page
