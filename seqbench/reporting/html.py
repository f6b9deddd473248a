"""``seqbench report RUN_DIR --format html``: one self-contained HTML file (figures inline as
SVG, every table, the configuration, the environment, notes on noisy timings) that opens
offline in any browser and prints cleanly. Registered through
``seqbench_register_report_formats`` like the other formats. Without matplotlib the report
has every table and says how to get the figures.
"""
from __future__ import annotations

import html
import io
import json
from pathlib import Path
from typing import Any

from seqbench.hookspecs import hookimpl
from seqbench.words import plural

CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1a1a1a;
       max-width: 1400px; margin: 2em auto; padding: 0 1.5em; }
h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; }
h3 { font-size: 1.05em; margin: 1.4em 0 .4em; }
table { border-collapse: collapse; margin: .3em 0; font-variant-numeric: tabular-nums; font-size: .9em; }
th, td { padding: .25em .55em; border-bottom: 1px solid #e4e4e4; white-space: nowrap; text-align: right; }
th { background: #f4f6f8; border-bottom: 2px solid #ccc; white-space: normal; vertical-align: bottom; }
td.text, th.text { text-align: left; } td.text { white-space: normal; }
td.best { font-weight: bold; color: #006d3c; } tr.dim td { color: #888; }
.caption { color: #555; font-size: .88em; max-width: 70em; margin: .2em 0 1.2em; }
.scroll { overflow-x: auto; }
figure { margin: 1em 0 2em; } figure svg { max-width: 100%; height: auto; }
figcaption { color: #555; font-size: .88em; }
.note { background: #fff7e0; border-left: 4px solid #e69f00; padding: .4em .8em; margin: .5em 0; }
pre { background: #f6f8fa; padding: .8em; overflow-x: auto; font-size: .82em; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .2em 1em; } dt { color: #555; }
@media print {
  body { max-width: none; margin: 0; font-size: 10pt; }
  table { font-size: 7.5pt; } th, td { padding: .15em .35em; }
  .scroll { overflow: visible; }
  table, figure, .note { break-inside: avoid; page-break-inside: avoid; }
  h2, h3 { break-after: avoid; page-break-after: avoid; }
  pre { white-space: pre-wrap; }
  a { color: inherit; text-decoration: none; }
}
"""
TEXT_HEADERS = ("cell", "rank", "status", "metric", "run", "verdict", "corpus", "split")


def table_html(data: Any) -> str:
    """One ``TableData`` as an HTML table with its title and caption."""
    def cls(header: str, extra: str = "") -> str:
        names = " ".join(x for x in ("text" if header.split(" ")[0] in TEXT_HEADERS else "", extra) if x)
        return f' class="{names}"' if names else ""

    rows = []
    for cells, flags, dim in zip(data.rows, data.best, data.dim):
        tds = "".join(f"<td{cls(h, 'best' if f and c else '')}>{html.escape(c)}</td>"
                      for h, c, f in zip(data.headers, cells, flags))
        rows.append(("<tr class='dim'>" if dim else "<tr>") + tds + "</tr>")
    head = "".join(f"<th{cls(h)}>{html.escape(h)}</th>" for h in data.headers)
    return (f"<h3>{html.escape(data.title)}</h3>\n<div class=\"scroll\"><table><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>\n<p class=\"caption\">{html.escape(data.caption)}</p>\n")


def svg_of(fig: Any, salt: str) -> str:
    """A matplotlib Figure as an inline ``<svg>`` element (text as paths: no fonts needed);
    ``salt`` keeps its element ids apart from those of the other figures in the page."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": salt}):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def figures_html(run_dir: str) -> str:
    from seqbench.errors import UsageError

    try:
        from seqbench.reporting.plots import figures, left_out_line

        figs = figures(run_dir, "all")
    except UsageError as exc:
        return f'<p class="note">No figures: {html.escape(str(exc))}</p>\n'
    left_out = left_out_line(figs.notes)
    if left_out:  # the page says it above the figures, and stderr in one line
        from seqbench.errors import warn

        warn(left_out)
    from pathlib import Path

    from seqbench.inspect.rundir import GRADIENTS_CSV, INSPECT_DIR

    if Path(run_dir, INSPECT_DIR, GRADIENTS_CSV).is_file():  # seqbench run --inspect: the gradient flow too
        from seqbench.inspect.rundir import run_figures

        figs.update({f"inspect-{Path(name).stem}": fig for name, fig in run_figures(run_dir).items()})
    parts = [f"<figure>{svg_of(fig, name)}<figcaption>{html.escape(name)}</figcaption></figure>\n"
             for name, fig in figs.items()]
    note = f'<p class="note">{html.escape(left_out[0].upper() + left_out[1:])}.</p>\n' if left_out else ""
    return note + ("".join(parts) or '<p class="note">No figure applies to this run.</p>\n')


def environment_html(env: Any) -> str:
    git = env.get("git") or {}
    commit = f"{str(git.get('commit', '?'))[:12]}{' (dirty)' if git.get('dirty') else ''}" if git else "unknown"
    items = {"measured": f"{env.get('time', '?')} on {env.get('hostname', '?')}",
             "machine": f"{env.get('cpu', '?')}, {env.get('cpu_count', '?')} CPUs, {env.get('torch_threads', '?')} "
                        f"torch threads, device {env.get('device', '?')}"
                        + (f" ({env['gpu']}, CUDA {env.get('cuda')})" if env.get("gpu") else ""),
             "software": f"seqbench {env.get('seqbench', '?')} (commit {commit}), torch {env.get('torch', '?')}, "
                         f"Python {env.get('python', '?')}, {env.get('platform', '?')}"}
    return "<dl>" + "".join(f"<dt>{k}</dt><dd>{html.escape(v)}</dd>" for k, v in items.items()) + "</dl>\n"


def render_html(results: Any, run: Any) -> str:
    """The whole report as one HTML document."""
    name = Path(run.run_dir).name
    datas = run.tables()
    kind = "seqbench speed" if run.is_speed else "seqbench run"
    notes = [d.caption[d.caption.index("⚠"):] for d in datas if "⚠" in d.caption]
    notes = [f"{d.title}: {n}" for d, n in zip([d for d in datas if "⚠" in d.caption], notes)]
    body = [f"<h1>seqbench report: {html.escape(name)}</h1>",
            f"<p>{html.escape(kind)} · {plural(len(results), 'row')}"
            + (f" · {html.escape(run.config.get('description', ''))}" if run.config.get("description") else "")
            + "</p>"]
    if notes:
        body.append("<h2>Notes</h2>" + "".join(f'<p class="note">{html.escape(n)}</p>' for n in notes))
    body.append("<h2>Figures</h2>\n" + figures_html(run.run_dir))
    body.append("<h2>Tables</h2>\n" + "".join(table_html(d) for d in datas))
    if run.environment:
        body.append("<h2>Environment</h2>\n" + environment_html(run.environment))
    if run.config:
        body.append("<h2>Configuration</h2>\n<pre>" + html.escape(json.dumps(run.config, indent=2, default=str))
                    + "</pre>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>seqbench report: {html.escape(name)}</title><style>{CSS}</style></head>\n<body>\n"
            + "\n".join(body) + "\n</body></html>\n")


@hookimpl
def seqbench_register_report_formats(register: Any) -> None:
    register("html", render_html, suffix=".html",
             description="one self-contained HTML file: figures (inline SVG), tables, configuration, environment")
