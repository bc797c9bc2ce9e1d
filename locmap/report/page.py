"""The decision pack as one self-contained HTML page (template, style, script), rendered once.

Jinja2 renders :data:`TEMPLATE` in an autoescaping :class:`jinja2.Environment`: every value
from data is HTML-escaped on output, the rendered page is never compiled again, and the
template itself is a constant of this module (no text from data ever becomes template
source).  The data the live-weights script needs is embedded as JSON inside
``<script type="application/json">`` with ``<``, ``>``, ``&`` and the two JavaScript line
separators written as ``\\uXXXX`` escapes, so a name such as ``</script>`` cannot end the
block; the script puts names into the page with ``textContent`` only.  A
Content-Security-Policy ``default-src 'none'`` forbids every network request: the page
loads nothing, online or offline.
"""
from __future__ import annotations

import json

from jinja2 import Environment, StrictUndefined
from markupsafe import Markup

from locmap import __version__

_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def json_for_script(value: object) -> Markup:
    """JSON safe to place inside a ``<script>`` element (no tag can be closed from data)."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    for ch, esc in _JSON_ESCAPES.items():
        text = text.replace(ch, esc)
    return Markup(text)


CSS = """
:root { --blue:#0072B2; --ink:#1f2328; --muted:#57606a; --line:#d0d7de; --soft:#f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1020px; padding: 24px 28px 60px; color: var(--ink);
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; }
h1 { font-size: 26px; margin: 0 0 6px; } h2 { font-size: 21px; margin: 30px 0 10px;
  border-bottom: 2px solid var(--line); padding-bottom: 4px; } h3 { font-size: 17px; margin: 18px 0 6px; }
.facts { display: grid; grid-template-columns: repeat(3, 1fr); gap: 4px 18px; margin: 10px 0 0;
  padding: 10px 14px; background: var(--soft); border-radius: 6px; font-size: 13.5px; }
.facts dt { color: var(--muted); } .facts dd { margin: 0 0 4px; font-weight: 600; }
.recbox { border: 3px solid var(--blue); border-radius: 8px; padding: 14px 18px; margin: 14px 0; }
.recbox .lead { font-size: 22px; margin: 0 0 8px; } .recbox .lead strong { color: var(--blue); }
.badge { display: inline-block; font-size: 12px; font-weight: 600; padding: 1px 8px; border-radius: 10px;
  vertical-align: middle; margin-left: 6px; }
.badge.stable { background: #d1f0dd; color: #1a5e33; } .badge.fragile { background: #ffe2c2; color: #8a4200; }
.badge.recommended { background: var(--blue); color: #fff; } .badge.runner-up { background: #cfe3f2; color: #0b3d63; }
.badge.candidate { background: #eeeeee; color: #444; }
.overview svg { width: 100%; height: auto; max-height: 430px; }
ol.hubs { font-size: 12.5px; margin: 4px 0 10px; columns: 2; }
.rule { font-size: 13.5px; color: var(--muted); }
table { border-collapse: collapse; width: 100%; font-size: 13.5px; margin: 6px 0 12px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--soft); font-weight: 600; } td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.flip td { background: #fff4e5; }
.chart { max-width: 100%; height: auto; display: block; margin: 6px 0 14px; }
.caption { font-size: 13px; color: var(--muted); margin: -6px 0 14px; }
.sliders { display: grid; grid-template-columns: 120px 1fr 90px 110px; gap: 6px 12px; align-items: center;
  max-width: 720px; margin: 8px 0 12px; }
.sliders .head { font-size: 12px; color: var(--muted); font-weight: 600; }
.sliders output { font-variant-numeric: tabular-nums; text-align: right; }
#live-pick { font-weight: 600; } #live-message { color: #b35900; font-weight: 600; }
.profile { border: 1px solid var(--line); border-radius: 8px; padding: 8px 12px; margin: 12px 0; }
.profile .cols { display: grid; grid-template-columns: 300px 1fr; gap: 14px; align-items: start; }
.profile .map svg { width: 100%; height: auto; max-height: 330px; }
.profile h3 { margin: 2px 0 6px; } .figures th { width: 55%; font-weight: 600; background: none; }
table.compact { font-size: 12px; } table.compact th, table.compact td { padding: 2px 6px; }
.sites { font-size: 12.5px; margin: 6px 0 2px; } ul.sites { margin-top: 0; }
figure { margin: 0; }
.matrix td { text-align: center; font-size: 12px; } .matrix th { font-size: 11.5px; }
.small { font-size: 12.5px; color: var(--muted); }
@media print {
  @page { size: A4; margin: 13mm 12mm 14mm; }
  body { max-width: none; padding: 0; font-size: 10.5pt; }
  .screen-only { display: none !important; }
  h2, h3 { break-after: avoid; } .page-break { break-before: page; }
  .profile, .recbox, table, .chart, .facts { break-inside: avoid; }
  .profile .cols { grid-template-columns: 235px 1fr; }
  .profile .map svg { max-height: 250px; }
  .profile { padding: 4px 10px; margin: 6px 0; }
  table.compact { font-size: 8pt; } table.compact th, table.compact td { padding: 1px 5px; }
  .profile .figures th { width: 62%; } .profile .sites { font-size: 8pt; margin: 2px 0; }
  .profile h3 { font-size: 12pt; }
  .overview svg { max-height: 360px; }
  figure, .profile, .keep { break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
}
"""

SCRIPT = """
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var sliders = data.criteria.map(function (c) { return document.getElementById("w-" + c); });
  var outs = data.criteria.map(function (c) { return document.getElementById("wn-" + c); });
  var shares = data.criteria.map(function (c) { return document.getElementById("ws-" + c); });
  var body = document.getElementById("live-body");
  function cell(tr, text, cls) {
    var td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; tr.appendChild(td);
  }
  // score = criteria . (weights / sum of weights), in CRITERIA order, as locmap.localities.ranking does;
  // ties broken by locality name (its position in the sorted names, computed in Python)
  function rank(norm) {
    var rows = data.localities.map(function (l) {
      var s = 0; for (var i = 0; i < norm.length; i++) { s += l.crit[i] * norm[i]; }
      return {l: l, score: s};
    });
    rows.sort(function (a, b) { return (b.score - a.score) || (a.l.name_order - b.l.name_order); });
    return rows;
  }
  // the recommendation rule with the draw shares held fixed (locmap.localities.ranking.rule_order)
  function rulePick(rows) {
    var best = rows[0].score;
    var near = rows.filter(function (r) { return r.score >= best - data.score_margin - 1e-12; });
    near.sort(function (a, b) {
      return (b.l.p_first - a.l.p_first) || (b.score - a.score) || (a.l.name_order - b.l.name_order);
    });
    return near[0].l.name;
  }
  function render() {
    var raw = sliders.map(function (s) { return Number(s.value); });
    var sum = raw.reduce(function (a, b) { return a + b; }, 0);
    var msg = document.getElementById("live-message");
    while (body.firstChild) { body.removeChild(body.firstChild); }
    if (sum <= 0) {
      msg.textContent = "Set at least one weight above zero.";
      outs.forEach(function (o) { o.textContent = "-"; });
      shares.forEach(function (o) { o.textContent = "-"; });
      document.getElementById("live-pick").textContent = "-";
      return;
    }
    msg.textContent = "";
    var norm = raw.map(function (v) { return v / sum; });
    // the weight as set (the handle's position, 0-100) and its share of the total (what the score uses)
    outs.forEach(function (o, i) { o.textContent = String(raw[i]); });
    shares.forEach(function (o, i) { o.textContent = Math.round(norm[i] * 100) + "% of total"; });
    var rows = rank(norm);
    var pick = rulePick(rows);
    rows.forEach(function (r, i) {
      var tr = document.createElement("tr"); tr.setAttribute("data-locality", r.l.name);
      cell(tr, String(i + 1), "num"); cell(tr, r.l.name); cell(tr, r.score.toFixed(3), "num");
      var td = document.createElement("td"); var bar = document.createElement("div");
      bar.style.height = "10px"; bar.style.background = r.l.name === pick ? "#0072B2" : "#9a9a9a";
      bar.style.width = Math.max(0, Math.round(r.score * 260)) + "px"; td.appendChild(bar); tr.appendChild(td);
      cell(tr, (r.l.p_first * 100).toFixed(1) + "%", "num");
      body.appendChild(tr);
    });
    document.getElementById("live-pick").textContent = pick;
  }
  sliders.forEach(function (s) { s.addEventListener("input", render); });
  document.getElementById("live-reset").addEventListener("click", function () {
    sliders.forEach(function (s, i) { s.value = String(Math.round(data.base_weights[i] * 100)); });
    render();
  });
  render();
  document.documentElement.setAttribute("data-live-ready", "1");
})();
"""

TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<meta name="generator" content="locmap {{ version }}">
<title>{{ v.title }}</title>
<style>{{ css }}</style>
</head>
<body>
<header>
<h1>{{ v.title }}</h1>
<p class="small">Workshop decision pack, made by locmap {{ version }} on {{ today }}. Every figure comes from the data listed under "Sources and vintages".</p>
<dl class="facts">{% for k, val in v.facts %}<div><dt>{{ k }}</dt><dd>{{ val }}</dd></div>{% endfor %}</dl>
</header>

<section id="question">
<p><strong>The question.</strong> Where should {{ v.area }} start its integrated early-support (family hub) pathfinder? The first locality needs real need, gaps to close, assets to build on, boundaries that line up across council and NHS, and a workable size. Each candidate ({{ v.scheme_label }}) is scored on these five criteria at the base weights agreed for the workshop; the scores are then recomputed over {{ v.method.draws }} random weightings and walking-speed / threshold scenarios to see how stable the order is.</p>
<p class="small"><strong>Read with care:</strong> {% for c in v.method.caveats_short %}{{ c }}{% if not loop.last %} {% endif %}{% endfor %} Details under "Method and caveats".</p>
</section>

{% set r = v.recommendation.rec %}
<section id="recommendation">
<h2>Recommendation</h2>
<div class="recbox">
<p class="lead">Start the pathfinder in <strong id="rec-locality">{{ r.locality }}</strong>
{% if r.stable %}<span class="badge stable">stable lead</span>{% else %}<span class="badge fragile">lead not stable</span>{% endif %}</p>
<p id="rec-reason">{{ r.reason }}</p>
<p><strong>Runner-up:</strong> <span id="rec-runner-up">{{ r.runner_up or "none" }}</span>.
Highest score at the base weights: <strong>{{ r.base_leader }}</strong>.</p>
<p class="rule"><strong>The rule:</strong> {{ r.rule }}</p>
</div>
<div id="overview" class="keep"><h3>Where the candidates lie</h3>
<figure class="overview keep">{{ v.overview.map }}
<p class="caption">The {{ v.overview.n }} candidate localities ({{ v.scheme_label }}): {{ r.locality }} (recommended) filled dark blue{% if r.runner_up %}, {{ r.runner_up }} (runner-up) light blue{% endif %}.{% if v.overview.hubs %} Numbered circles: suggested hub sites.{% endif %}</p>
{% if v.overview.hubs %}<ol class="hubs">{% for n, name, loc in v.overview.hubs %}<li value="{{ n }}">{{ name }} ({{ loc }})</li>{% endfor %}</ol>{% endif %}
</figure>
</div>
<div class="keep" id="why"><h3>Why {{ r.locality }}</h3>
{% for s in v.why.sentences %}<p>{{ s }}</p>{% endfor %}
<table class="compact"><thead><tr><th>Criterion</th><th>What it measures</th><th class="num">Score (0-1)</th><th class="num">Weight</th><th class="num">Points</th><th class="num">Rank on it</th></tr></thead>
<tbody>{% for w in v.why.rows %}<tr><td>{{ w.criterion }}</td><td>{{ w.means }}</td><td class="num">{{ w.score }}</td><td class="num">{{ w.weight }}</td><td class="num">{{ w.points }}</td><td class="num">{{ w.rank }} of {{ v.ranking | length }}</td></tr>{% endfor %}</tbody></table></div>
<div class="keep"><h3>What would change the choice</h3>
{% if r.flips %}
<p>{{ v.recommendation.n_flips }} of the {{ v.recommendation.n_changes }} single changes tried (each weight halved or doubled, each other gap threshold) change the recommended locality:</p>
<ul id="flips">{% for f in r.flips %}<li>{{ f }}</li>{% endfor %}</ul>
{% else %}
<p id="flips">None of the {{ v.recommendation.n_changes }} single changes tried (each weight halved or doubled, each other gap threshold) changes the recommended locality.</p>
{% endif %}</div>
</section>


<section id="ranking">
<h2>How the localities compare</h2>
<table>
<thead><tr><th class="num">Rank at the base weights</th><th>Locality</th><th class="num">Score (0-1)</th><th class="num">First in (draws)</th><th class="num">Median rank</th><th class="num">Rank in 90% of draws</th></tr></thead>
<tbody>{% for x in v.ranking %}<tr><td class="num">{{ x.rank }}</td><td>{{ x.locality }}</td><td class="num">{{ x.score }}</td><td class="num">{{ x.p_first }}</td><td class="num">{{ x.median }}</td><td class="num">{{ x.range90 }}</td></tr>{% endfor %}</tbody>
</table>
<figure><h3>Share of draws ranked first</h3>
{{ v.charts.first }}</figure>
<figure><h3>Rank in the sensitivity draws</h3>
{{ v.charts.ranks }}
<p class="caption">Each bar splits the {{ v.method.draws }} draws (random weights x walking speed {{ v.method.speeds }} km/h x gap threshold {{ v.method.gap_scenarios }} min) by the rank the locality got: a long dark start means often first.</p></figure>
<figure><h3>The five criteria</h3>
{{ v.charts.criteria }}
<p class="caption">{% for w in v.why.rows %}{{ w.criterion }}: {{ w.means }}. {% endfor %}Each is scaled 0-1 across the localities; 1 = most suitable. Hub sites count children 0-4.</p></figure>
<figure><h3>Every change tried</h3>
<table class="compact">
<thead><tr><th>Change tried</th><th>Highest score after it</th><th>Rule picks</th></tr></thead>
<tbody>{% for w in v.recommendation.what_if %}<tr{% if w.flips %} class="flip"{% endif %}><td>{{ w.change }}</td><td>{{ w.leader_base }}</td><td>{{ w.recommended }}</td></tr>{% endfor %}</tbody>
</table>
<p class="caption">Shaded rows change the recommendation. The draw shares are held fixed: the draws already vary the weights and the scenarios.</p></figure>
</section>

<section id="live" class="screen-only">
<h2>Try other weights</h2>
<p>Move the sliders to see how the order changes ("what if we care more about gaps than size?"). Scores are recomputed here exactly as locmap computes them; the last column and the rule's pick keep the draw shares of the analysis.</p>
<div class="sliders">
<span class="head">Criterion</span><span class="head">Weight (0-100)</span><span class="head">Weight set</span><span class="head">Share used in the score</span>
{% for c in v.live.criteria %}<label for="w-{{ c }}">{{ v.live.labels[c] }}</label><input type="range" id="w-{{ c }}" name="{{ c }}" min="0" max="100" step="1" value="{{ (v.live.base_weights[loop.index0] * 100) | round | int }}"><output id="wn-{{ c }}" for="w-{{ c }}"></output><output id="ws-{{ c }}" for="w-{{ c }}"></output>
{% endfor %}</div>
<p class="small">The score uses each weight's share of the total, so moving one slider changes every share; the handle and "Weight set" show what you chose.</p>
<p><button type="button" id="live-reset">Back to the agreed weights</button> <span id="live-message"></span></p>
<p>The rule would pick (blue bar): <span id="live-pick"></span></p>
<table id="live-table"><thead><tr><th class="num">Rank</th><th>Locality</th><th class="num">Score</th><th></th><th class="num">First in (draws)</th></tr></thead><tbody id="live-body"></tbody></table>
</section>

<section id="localities">
<h2>The localities</h2>
<p class="small">In the order the rule prefers them. Maps: small areas (LSOAs) shaded by child deprivation (IDACI decile), the locality outlined in dark blue.</p>
{{ v.map_legend }}
{% for loc in v.localities %}
<div class="profile" id="locality-{{ loop.index }}">
<h3>{{ loc.name }} <span class="badge {{ loc.role }}">{{ loc.role }}</span></h3>
<div class="cols">
<div class="map">{{ loc.map }}</div>
<table class="compact figures"><tbody>{% for k, val in loc.figures %}<tr><th>{{ k }}</th><td>{{ val }}</td></tr>{% endfor %}</tbody></table>
</div>
{% if loc.sites %}
<p class="sites"><strong>Suggested hub sites</strong> ({{ loc.sites[0].p }} sites; children 0-4 brought within {{ loc.sites[0].minutes }} min{% if loc.sites[0].existing %}, not counting those already within reach of {{ loc.sites[0].existing }} existing services{% endif %}):</p>
<ul class="sites">{% for s in loc.sites %}<li>{{ s.model }}: {{ s.sites | join("; ") }}: {{ s.covered }} children 0-4 ({{ s.pct }})</li>{% endfor %}</ul>
{% if loc.hubs %}<p class="sites">On the map: {% for h in loc.hubs %}{{ h.number }} {{ h.name }}{% if not loop.last %}; {% endif %}{% endfor %}.</p>{% endif %}
{% endif %}
</div>
{% endfor %}
</section>

{% if v.alignment %}
{% set a = v.alignment %}
<section id="alignment" class="keep">
<h2>Do {{ a.a_label }} and {{ a.b_label }} line up?</h2>
<p>Share of each row's children living in each of the {{ a.b_label }}{% if a.index %} (alignment index {{ '%.2f' | format(a.index.alignment_index) }}, adjusted Rand index {{ '%.2f' | format(a.index.ari) }}; 1 = identical){% endif %}. PCN footprints are approximate.</p>
<table class="matrix"><thead><tr><th></th>{% for c in a.columns %}<th>{{ c }}</th>{% endfor %}</tr></thead>
<tbody>{% for row in a.rows %}<tr><th>{{ row.name }}</th>{% for val, txt in row.cells %}<td style="background: rgba(0,114,178,{{ '%.3f' | format(val * 0.85) }}); color: {{ '#fff' if val > 0.55 else '#1f2328' }}">{{ txt }}</td>{% endfor %}</tr>{% endfor %}</tbody></table>
</section>
{% endif %}

<section id="data">
<h2>Data quality</h2>
<p>Every row of every service file is used or rejected with a reason ({{ v.data.n_rejects }} rejected rows in all).</p>
<table class="compact"><thead><tr><th>Source file</th><th class="num">Read</th><th class="num">Used</th><th class="num">Rejected</th><th>Top reasons for rejecting</th></tr></thead>
<tbody>{% for s in v.data.sources %}<tr><td>{{ s.file }}</td><td class="num">{{ s.read }}</td><td class="num">{{ s.used }}</td><td class="num">{{ s.rejected }}</td><td>{{ s.reasons | join("; ") }}</td></tr>{% endfor %}</tbody></table>
{% if v.data.unlocated %}<p>Kept without a location (not in any distance): {% for t, n in v.data.unlocated %}{{ t }}: {{ n }}{% if not loop.last %}; {% endif %}{% endfor %}.</p>{% endif %}
{% if v.data.homes %}<p>Homes: {{ "{:,}".format(v.data.homes.get("n_homes", 0)) }} residential postcodes carry the population ({{ "{:,}".format(v.data.homes.get("excluded_large_user", 0)) }} large-user and {{ "{:,}".format(v.data.homes.get("excluded_stacked", 0)) }} stacked postcodes left out).</p>{% endif %}
<ul class="small">{% for n in v.data.notes %}<li>{{ n }}</li>{% endfor %}</ul>
</section>

<section id="method">
<h2>Method and caveats</h2>
<p>Distances: <strong>{{ v.method.label }}</strong>, pram-pushing at {{ v.method.speed }} km/h ({{ v.method.metres_per_min }} m a minute); thresholds {{ v.method.thresholds }} min; the gap threshold is {{ v.method.gap }} min. Key services: {{ v.method.key_types }}. Agreed weights: {% for c, w in v.method.weights %}{{ c }} {{ w }}{% if not loop.last %}, {% endif %}{% endfor %}. Sensitivity: {{ v.method.draws }} draws, seed {{ v.method.seed }}.</p>
<ul>{% for c in v.method.caveats %}<li>{{ c }}</li>{% endfor %}</ul>
<h3>Sources and vintages</h3>
<table class="compact"><thead><tr><th>Input</th><th>File (under the data folder)</th><th>Vintage</th></tr></thead>
<tbody>{% for s in v.method.vintages %}<tr><td>{{ s.what }}</td><td class="small">{{ s.file }}</td><td>{{ s.vintage }}</td></tr>{% endfor %}</tbody></table>
<p class="small">{{ v.method.attribution }}</p>
</section>
<script type="application/json" id="report-data">{{ live_json }}</script>
<script>{{ script }}</script>
</body>
</html>
"""

_ENV = Environment(autoescape=True, undefined=StrictUndefined, keep_trailing_newline=True)
_TEMPLATE = _ENV.from_string(TEMPLATE)


def render_page(view: dict, today: str) -> str:
    """The whole page as text (rendered once; values escaped by the autoescaping environment)."""
    return _TEMPLATE.render(v=view, css=Markup(CSS), script=Markup(SCRIPT), version=__version__,
                            today=today, live_json=json_for_script(view["live"]))
