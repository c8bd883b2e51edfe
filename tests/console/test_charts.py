"""Charts are inline SVG with their values in words, and never let text out unescaped."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from origin.console import charts

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: str) -> ET.Element:
    # The console's own markup, made by the test: nothing untrusted to parse.
    return ET.fromstring(str(markup).replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1))  # noqa: S314


def test_bars_scale_to_the_largest_value_and_read_out_their_values() -> None:
    chart = parse(
        charts.bar_chart("Memory", [charts.Bar("a", 10, "10 MiB"), charts.Bar("b", 5, "5 MiB")], width=640)
    )
    assert chart.get("role") == "img"
    title, desc = chart.find(f"{SVG}title"), chart.find(f"{SVG}desc")
    assert title is not None and title.text == "Memory"
    assert desc is not None and desc.text == "a: 10 MiB; b: 5 MiB"
    assert chart.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    widths = [float(r.get("width", "")) for r in chart.iter(f"{SVG}rect")]
    room = 640 - 140 - 130
    assert widths == [room, room / 2]


def test_a_zero_value_draws_no_bar_and_an_empty_chart_says_so() -> None:
    chart = parse(charts.bar_chart("x", [charts.Bar("idle", 0, "0")]))
    assert [r.get("width") for r in chart.iter(f"{SVG}rect")] == ["0.0"]
    empty = parse(charts.bar_chart("Nothing", []))
    desc = empty.find(f"{SVG}desc")
    assert desc is not None and desc.text == "No values."


def test_text_is_escaped() -> None:
    markup = str(charts.bar_chart("<b>", [charts.Bar("<script>x</script>", 1, '"&')]))
    assert "<script>" not in markup and "<b>" not in markup
    assert "&lt;script&gt;" in markup and "&#34;&amp;" in markup
    parse(markup)  # still well-formed


def test_a_meter_fills_its_share_and_marks_the_last_fifth() -> None:
    half = parse(charts.meter("Pool", 5, 10, "5 of 10", width=100))
    used = [r for r in half.iter(f"{SVG}rect") if "used" in (r.get("class") or "")]
    assert [(u.get("width"), u.get("class")) for u in used] == [("50.0", "used ok")]
    full = str(charts.meter("Pool", 12, 10, "12 of 10", width=100))
    assert re.search(r'class="used high" x="0" y="0" width="100.0"', full)


def test_columns_scale_to_their_top_and_read_out_the_days_with_a_value() -> None:
    days = [charts.Bar("Dec 1", 0, "0 ops"), charts.Bar("Dec 2", 50, "50 ops"), charts.Bar("Dec 3", 100, "x")]
    chart = parse(charts.column_chart("Operations", days, width=348, height=128))
    heights = [float(r.get("height", "")) for r in chart.iter(f"{SVG}rect")]
    plot = 128 - 20 - 8
    assert heights == [0.0, plot / 2, plot]
    desc = chart.find(f"{SVG}desc")
    assert desc is not None and desc.text == "Dec 2: 50 ops; Dec 3: x; other days: none"
    texts = [t.text for t in chart.iter(f"{SVG}text")]
    assert texts[:2] == ["100", "0"] and "Dec 1" in texts  # the scale, then every seventh day


def test_columns_with_a_fixed_top_keep_to_it_and_say_their_unit() -> None:
    ratio = parse(
        charts.column_chart("Hits", [charts.Bar("a", 50, "50 %"), charts.Bar("b", 0, "")], top=100, unit=" %")
    )
    heights = [float(r.get("height", "")) for r in ratio.iter(f"{SVG}rect")]
    assert heights[0] == (140 - 28) / 2 and heights[1] == 0.0
    assert [t.text for t in ratio.iter(f"{SVG}text")][:2] == ["100 %", "0 %"]
    quiet = parse(charts.column_chart("None", [charts.Bar("a", 0, "")], empty="not sampled"))
    desc = quiet.find(f"{SVG}desc")
    assert desc is not None and desc.text == "other days: not sampled"
