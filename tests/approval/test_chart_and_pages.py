"""The inline SVG chart and the page renderer: well-formed, self-contained, escaped."""

from __future__ import annotations

import base64
import hashlib
import itertools
import re
import xml.etree.ElementTree as ET

from approval_support import NOW, make_rec

from lambda_tuner.core.models import ChartPoint
from lambda_tuner.core.tokens import TokenClaims
from lambda_tuner.web.chart import render_chart
from lambda_tuner.web.pages import confirm_page, message_page, security_headers

SVG = "{http://www.w3.org/2000/svg}"


def test_the_chart_is_well_formed_svg_with_both_series_and_markers() -> None:
    rec = make_rec()
    svg = ET.fromstring(render_chart(rec.chart, 1024, 512))  # noqa: S314 - our own output, not untrusted
    assert svg.tag == f"{SVG}svg"
    assert len(svg.findall(f"{SVG}polyline")) == 2  # duration and cost
    assert len(svg.findall(f"{SVG}polygon")) == 1  # the duration interval band
    assert len(svg.findall(f"{SVG}circle")) == 1  # one observed size
    labels = [t.text for t in svg.iter(f"{SVG}text")]
    assert "current 1024 MB" in labels and "proposed 512 MB" in labels


def test_fewer_than_two_sizes_draw_nothing() -> None:
    point = ChartPoint(
        memory_mb=512, duration_ms=1, duration_low_ms=1, duration_high_ms=1, monthly_cost_usd=1
    )
    assert render_chart([]) == "" and render_chart([point, point]) == ""


def test_the_chart_references_nothing_outside_itself() -> None:
    svg = render_chart(make_rec().chart, 1024, 512)
    assert "href" not in svg and "<script" not in svg and "url(" not in svg


def test_the_stylesheet_hash_in_the_csp_matches_the_rendered_page() -> None:
    html = message_page("Title", "Message")
    style = re.search(r"<style>(.*?)</style>", html, re.S).group(1)  # type: ignore[union-attr]
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in security_headers()["Content-Security-Policy"]


def test_pages_load_nothing_from_elsewhere() -> None:
    claims = TokenClaims(jti="j", rec="rec-1", act="approve", rev="r", exp=int(NOW.timestamp()) + 3600)
    html = confirm_page(make_rec(), claims, "tok")
    assert not re.search(r"<(script|link|img|iframe)\b", html)
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "") and "https://" not in html
    assert 'value="tok"' in html and "saves $18.00/month" in html and "$40.00 ($36.00 to $44.00)" in html


def test_a_pc_schedule_is_shown_action_by_action() -> None:
    schedule = '[{"schedule":"cron(0 8 ? * MON-FRI *)","tz":"Europe/Berlin","pc":6}]'
    rec = make_rec(
        kind="provisioned_concurrency",
        current={"pc": 0},
        proposed={"pc_schedule": schedule},
        qualifier="live",
    )
    claims = TokenClaims(jti="j", rec="rec-1", act="approve", rev="r", exp=int(NOW.timestamp()) + 3600)
    html = confirm_page(rec, claims, "tok")
    assert "<td>cron(0 8 ? * MON-FRI *)</td><td>Europe/Berlin</td><td>6</td>" in html


def test_an_experiments_limits_read_as_sentences_and_no_setting_shows_none() -> None:
    # Given a canary: 512 MB on 10 % of alias live for a day, its stops ratios to the live version
    proposed = {
        "memory_mb": 512,
        "canary_weight": 0.1,
        "max_days": 1,
        "max_extra_cost_usd": 0.0421,
        "stop_if_p99_ms_above": 400.0,
        "stop_if_p99_ratio_above": 1.0615,
        "stop_if_mean_ms_above": 160.0,
        "stop_if_mean_ratio_above": 1.21,
        "stop_if_error_rate_above": 0.0,
        "best_guess_mb": 768,
    }
    rec = make_rec(kind="experiment", current={"memory_mb": 1024}, proposed=proposed, qualifier="live")
    claims = TokenClaims(jti="j", rec="rec-1", act="approve", rev="r", exp=int(NOW.timestamp()) + 3600)
    html = confirm_page(rec, claims, "tok")
    # Then the settings compare only what changes, and nothing reads "None"
    assert "<th>Memory</th><td>1024 MB</td><td>512 MB</td>" in html and "None" not in html
    # And its limits are in words, the stops as ratios to the live version (the fixed ones are fallbacks)
    limits = html.split("Limits of this experiment", 1)[1].split("</table>", 1)[0]
    assert "<th>Share of the alias&#39;s calls</th><td>10%</td>" in limits
    assert "<th>Runs at most</th><td>1 day(s)</td>" in limits
    assert "<th>Extra cost over the current size, at most</th><td>$0.04</td>" in limits
    assert "<td>1.06 × the live version&#39;s, the same hours</td>" in limits
    assert "<td>1.21 × the live version&#39;s, the same hours</td>" in limits
    assert "400 ms" not in limits and "160 ms" not in limits
    assert "<th>The model&#39;s best guess</th><td>768 MB</td>" in limits
    # While a change that is no experiment has no limits to show
    assert "Limits of this experiment" not in confirm_page(make_rec(), claims, "tok")


def _model_curve(sizes: list[int], observed: set[int]) -> list[ChartPoint]:
    """A single-threaded function's curve over the whole allowed range: 100 ms at 1,769 MB and up."""
    points = []
    for mb in sizes:
        ms = 100.0 * 1769 / min(mb, 1769)
        cost = mb / 1024 * ms / 1000 * 0.0000166667 * 3e6
        points.append(ChartPoint(memory_mb=mb, duration_ms=ms, duration_low_ms=ms * 0.8,
                                 duration_high_ms=ms * 1.4, monthly_cost_usd=cost, observed=mb in observed))
    return points


def test_the_chart_shows_memory_in_octaves_around_the_sizes_that_matter_with_labels_that_fit() -> None:
    # Given a model curve over 128 to 10,240 MB, observed at 3,008 MB, with a proposal of 1,760 MB
    sizes = sorted({128, 160, 192, 256, 320, 384, 512, 640, 768, 1024, 1280, 1536, 1760, 2048, 3008,
                    4096, 6144, 8192, 10240})
    svg = ET.fromstring(render_chart(_model_curve(sizes, {3008}), 3008, 1760))  # noqa: S314 - our own output
    texts = list(svg.iter(f"{SVG}text"))
    axis = sorted((float(t.get("x", 0)), t.text or "") for t in texts if t.get("text-anchor") == "middle"
                  and (t.text or "").isdigit())
    # Then the memory ticks are round sizes an octave apart, none on top of another ...
    assert [label for _, label in axis][:3] == ["512", "1024", "2048"], axis
    assert all(b[0] - a[0] >= 40 for a, b in itertools.pairwise(axis)), axis
    # ... from 512 MB: two octaves either side of what was observed and proposed, not 128 MB's far tail,
    # whose projected duration would flatten the rest
    assert len(svg.findall(f"{SVG}circle")) == 1
    width = int(svg.get("viewBox", "0 0 0 0").split()[2])
    # ... and every label stays inside the picture
    for t in texts:
        x, n = float(t.get("x", 0)), len(t.text or "") * 6.5
        anchor = t.get("text-anchor", "start")
        left = x - n if anchor == "end" else x - n / 2 if anchor == "middle" else x
        right = left + n
        assert left >= 0 and right <= width, (t.text, left, right)


def test_a_trial_on_all_traffic_says_its_size_stays_after_its_day() -> None:
    # Given a trial on all traffic (no alias): nothing ends it after its day, the size stays
    proposed = {"memory_mb": 512, "max_days": 1, "stop_if_p99_ms_above": 400.0, "best_guess_mb": 1024}
    rec = make_rec(kind="experiment", current={"memory_mb": 1024}, proposed=proposed)
    claims = TokenClaims(jti="j", rec="rec-1", act="approve", rev="r", exp=int(NOW.timestamp()) + 3600)
    limits = confirm_page(rec, claims, "tok").split("Limits of this experiment", 1)[1].split("</table>", 1)[0]
    # Then its page does not say it runs at most a day, as a canary's does
    assert "Runs at most" not in limits
    stays = "<td>1 day(s); the size stays until the next change</td>"
    assert f"<th>Watched by its stops for</th>{stays}" in limits
