"""``TableData``, the one shape every seqbench table takes, and how it is laid out: in a
terminal (rich, fitted to the width), as Markdown, as HTML rows.

Fitting: a number, a ``mean ± std`` or an interval never breaks across lines (numeric
columns are ``no_wrap``). When a table is wider than the terminal, its headers are first
broken onto two lines; if it is still too wide, the lowest-priority columns (speed, memory,
derived figures: ``TableData.priority``, or ``default_priority`` of the header) move to a
continuation table that repeats the key columns, with a note naming ``--wide`` (which prints
each table whole, at its natural width). Works for any ``TableData``, whoever builds it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

TEXT_COLUMNS = ("status", "rank", "split", "corpus", "check", "detail", "note")
TEXT_COLUMNS += ("kind", "name", "default", "group", "provided by", "description", "plugin", "version", "source",
                 "location", "contributes", "result")  # seqbench list, plugins and check
KEY_COLUMNS = ("rank", "run", "cell", "task", "length", "T", "config", "metric")
TEXT_MIN_WIDTH = 12  # a text column (status, ...) may wrap, down to this width
# substrings of headers that mark lower-priority columns: 2 = lowest, 1 = secondary
_LOW = ("MB", "memory", "GFLOP", "% peak", "FLOPs", "R²", "longest")
_SECONDARY = ("tok/s", "steps", "params", "hidden", "gen ms", "gap", "ratio")
WIDE_FLAG = "--wide"
NOISY = 0.10  # relative IQR of timings above which speed figures are flagged


@dataclass
class TableData:
    """One table, ready to render in any format."""

    title: str
    caption: str
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    best: list[list[bool]] = field(default_factory=list)  # per cell: best of its column
    dim: list[bool] = field(default_factory=list)  # reference rows (baseline, optimum)
    priority: Optional[list[int]] = None  # per column: 0 essential, 1 secondary, 2 lowest

    def add(self, cells: list[str], best: Optional[list[bool]] = None, dim: bool = False) -> None:
        self.rows.append(cells)
        self.best.append(best or [False] * len(cells))
        self.dim.append(dim)

    def priorities(self) -> list[int]:
        return list(self.priority) if self.priority else [default_priority(h) for h in self.headers]

    def select(self, indices: list[int], title: Optional[str] = None, caption: Optional[str] = None) -> "TableData":
        """The same table with only the columns ``indices`` (in that order)."""
        out = TableData(self.title if title is None else title, self.caption if caption is None else caption,
                        [self.headers[i] for i in indices], priority=[self.priorities()[i] for i in indices])
        for cells, flags, dim in zip(self.rows, self.best, self.dim):
            out.add([cells[i] for i in indices], [flags[i] for i in indices], dim)
        return out


def default_priority(header: str) -> int:
    """A column's priority from its header: key and quality columns 0, throughput, counts
    and intervals 1, memory, FLOPs and fit statistics 2."""
    if header in KEY_COLUMNS:
        return 0
    if any(s in header for s in _LOW):
        return 2
    if any(s in header for s in _SECONDARY):
        return 1
    return 0


def is_text(header: str) -> bool:
    return header in TEXT_COLUMNS


def _cell_len(text: str) -> int:
    from rich.cells import cell_len

    return max((cell_len(line) for line in str(text).split("\n")), default=0)


def two_line(header: str) -> str:
    """``header`` broken at the space nearest its middle (unchanged without a space)."""
    spaces = [i for i, c in enumerate(header) if c == " "]
    if not spaces:
        return header
    cut = min(spaces, key=lambda i: abs(i - len(header) / 2))
    return header[:cut] + "\n" + header[cut + 1:]


def column_widths(data: TableData, headers: Optional[list[str]] = None) -> list[int]:
    """The width each column needs so that no value wraps (text columns: at most their
    natural width, at least ``TEXT_MIN_WIDTH``)."""
    headers = headers or data.headers
    out = []
    for i, header in enumerate(headers):
        need = max([_cell_len(header)] + [_cell_len(r[i]) for r in data.rows])
        if is_text(data.headers[i]):
            need = min(need, max(TEXT_MIN_WIDTH, _cell_len(header)))
        out.append(need)
    return out


def table_width(widths: list[int]) -> int:
    """Width of a rich table with the default box and padding: ``│ a │ b │``."""
    return sum(widths) + 3 * len(widths) + 1


def fit(data: TableData, width: int) -> list[TableData]:
    """``data`` as one or more tables that each fit ``width`` columns without wrapping a
    value: the lowest-priority columns moved to continuation tables that repeat the key
    columns, headers broken onto two lines where that saves a table. The first table's
    caption names what moved and ``--wide``; the original caption stays under it."""
    if table_width(column_widths(data)) <= width:
        return [data]
    wrapped = TableData(data.title, data.caption, [two_line(h) for h in data.headers], data.rows, data.best,
                        data.dim, data.priorities())
    one, two = _pack(data, column_widths(data), width), _pack(data, column_widths(wrapped), width)
    source, parts = (wrapped, two) if len(two) < len(one) else (data, one)
    if len(parts) == 1:
        return [source.select(parts[0])]
    moved = ", ".join(data.headers[i] for p in parts[1:] for i in p if i not in parts[0])
    note = f"{moved}: in the table{'s' if len(parts) > 2 else ''} below ({WIDE_FLAG}: one wide table)"
    out = [source.select(parts[0], caption=" · ".join(x for x in (data.caption, note) if x))]
    for part in parts[1:]:
        more = source.select(part, f"{data.title} (continued)", "")
        keep = [n for n, row in enumerate(more.rows) if any(c for i, c in zip(part, row) if i not in parts[0])]
        more.rows, more.best, more.dim = ([getattr(more, a)[n] for n in keep] for a in ("rows", "best", "dim"))
        out.append(more)
    return out


def _pack(data: TableData, widths: list[int], width: int) -> list[list[int]]:
    """Column indices per table: the key columns in each, then every other column, most
    important first, in the first table with room (a new one when none has)."""
    priorities = data.priorities()
    keys = [i for i, h in enumerate(data.headers) if h in KEY_COLUMNS] or [0]
    parts: list[list[int]] = []
    room: list[int] = []
    for i in sorted((i for i in range(len(data.headers)) if i not in keys), key=lambda i: (priorities[i], i)):
        spot = next((n for n, left in enumerate(room) if widths[i] + 3 <= left), None)
        if spot is None:
            parts.append([])
            room.append(width - table_width([widths[k] for k in keys]))
            spot = len(parts) - 1
        parts[spot].append(i)
        room[spot] -= widths[i] + 3
    return [sorted(keys + p) for p in parts] or [keys]


def print_tables(datas: list[TableData], console: Any = None, wide: bool = False) -> None:
    """Print tables with rich: best values in bold green, reference rows dimmed; each fitted
    to the console's width (``fit``) unless ``wide``."""
    from rich.console import Console

    console = console or Console()
    for data in datas:
        parts = [data] if wide else fit(data, console.width)
        for part in parts:
            table = rich_table(part)
            if wide:
                console.print(table, width=max(console.width, table_width(column_widths(part))), crop=False)
            else:
                console.print(table)


def rich_table(data: TableData) -> Any:
    """A ``rich.table.Table`` of ``data``: numeric columns right-aligned and never wrapped."""
    from rich.markup import escape
    from rich.table import Table

    # every text is shown as written: "pip install 'seqbench[mnist1d]'" is not a style tag
    table = Table(title=escape(data.title), caption=escape(data.caption) if data.caption else None,
                  caption_justify="left")
    widths = column_widths(data)
    for i, header in enumerate(data.headers):
        if is_text(header):
            table.add_column(header, justify="left", overflow="fold", min_width=min(widths[i], TEXT_MIN_WIDTH))
        else:
            justify = "left" if i == 0 or header in KEY_COLUMNS else "right"
            table.add_column(header, justify=justify, no_wrap=True, min_width=widths[i])
    for cells, flags, dim in zip(data.rows, data.best, data.dim):
        table.add_row(*(f"[bold green]{escape(c)}[/]" if f and c else escape(c) for c, f in zip(cells, flags)),
                      style="dim" if dim else None)
    return table


def markdown_tables(datas: list[TableData]) -> str:
    """Tables as Markdown: a heading each, best values in bold, the caption below."""
    parts = []
    for data in datas:
        parts.append(f"### {data.title}\n")
        parts.append("| " + " | ".join(data.headers) + " |")
        parts.append("|" + "|".join(":---" if h in ("cell", "rank", "status", "verdict") else "---:"
                                    for h in data.headers) + "|")
        for cells, flags in zip(data.rows, data.best):
            parts.append("| " + " | ".join(f"**{c}**" if f and c else c for c, f in zip(cells, flags)) + " |")
        parts.append(f"\n{data.caption}\n")
    return "\n".join(parts)


def best_of(values: Any, higher_is_better: Optional[bool]) -> Optional[float]:
    """The best value of a column, or None when there is nothing to single out (no direction,
    no values, or every row equal)."""
    values = values.dropna()
    if higher_is_better is None or values.nunique() < 2 and len(values) > 1 or values.empty:
        return None
    return values.max() if higher_is_better else values.min()
