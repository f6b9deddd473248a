"""Every table kind fits 80, 100 and 120 columns: no value wraps, lower-priority columns move to a
continuation table with a note naming --wide; --wide prints each table whole."""
from __future__ import annotations

import io

import pandas as pd
import pytest
from rich.console import Console

from seqbench.reporting.run_report import load_report as load_run_info
from seqbench.reporting.table import TableData, fit, print_tables



def render(datas: list[TableData], width: int, wide: bool = False) -> str:
    buffer = io.StringIO()
    print_tables(datas, Console(file=buffer, width=width, no_color=True, color_system=None), wide=wide)
    return buffer.getvalue()


def assert_fits(datas: list[TableData], width: int) -> str:
    text = render(datas, width)
    lines = text.splitlines()
    assert all(len(line) <= width for line in lines), max(lines, key=len)
    assert "…" not in text  # rich truncates with an ellipsis when a no_wrap column is squeezed
    for data in datas:
        for row in data.rows:
            for i, cell in enumerate(row):
                if cell and data.headers[i] != "status":
                    assert any(cell in line for line in lines), f"{cell!r} wrapped at width {width}"
    return text


def eval_table() -> TableData:
    from seqbench.reporting.lm_tables import table

    frame = pd.DataFrame([{"cell": "lstm", "corpus": "stdlib-docs", "split": "test", "chars": 123456,
                           "oov_chars": 12, "loss": 1.23456, "perplexity": 3.4371, "bits_per_char": 1.7811,
                           "accuracy": 0.6123}])
    return table(frame)


@pytest.mark.parametrize("width", [80, 100, 120])
def test_every_table_kind_fits(small_run, speed_run, width):
    from seqbench.reporting.compare_tables import tables as compare_tables
    from seqbench.studies.comparison import compare

    kinds = {"run": load_run_info(small_run).tables(), "speed": load_run_info(speed_run).tables(),
             "compare": compare_tables(compare([small_run, small_run])), "eval": [eval_table()]}
    for name, datas in kinds.items():
        assert datas, name
        assert_fits(datas, width)


def test_narrow_tables_move_columns_and_name_wide(small_run):
    datas = load_run_info(small_run).tables()
    detail = next(d for d in datas if d.title == "adding · T=8")
    parts = fit(detail, 80)
    assert len(parts) >= 2 and parts[1].title.endswith("(continued)")
    assert "--wide" in parts[0].caption
    headers = [[h.replace("\n", " ") for h in p.headers] for p in parts]  # headers may be on two lines
    assert "loss ↓" in headers[0] and "cell" in headers[1]  # quality first, the key repeated
    assert any("tok/s" in h for hs in headers[1:] for h in hs)
    assert fit(detail, 400) == [detail]
    wide = render([detail], 80, wide=True)
    assert "(continued)" not in wide and max(len(line) for line in wide.splitlines()) > 80


def test_custom_table_kind_fits_by_header_priority():
    # a table the harness does not know (a plugin's, a tuned run's) is fitted all the same
    data = TableData("tuned", "caption", ["cell", "config", "loss ↓", "accuracy ↑", "train tok/s ↑", "peak MB ↓"])
    for n in range(3):
        data.add([f"cell{n}", "a1b2c3d4", "0.123456 ± 0.0123", "[0.91234, 0.99876]", "1,234,567 ± 12,345",
                  "12,345.6 ± 789.0"])
    text = assert_fits([data], 80)
    assert "(continued)" in text and "--wide" in text


def test_brackets_in_cells_titles_and_captions_are_shown_not_taken_for_style_tags():
    data = TableData("a [title] here", "see [note] below", ["name", "description"])
    data.add(["mnist1d", "optional package: pip install 'seqbench[mnist1d]'"])
    text = render([data], 120)
    assert "seqbench[mnist1d]" in text and "[title]" in text and "[note]" in text
