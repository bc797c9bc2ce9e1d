"""HTML template, CSS and script of the finder page (:mod:`locmap.finder.page`).

The script reads its data from the ``finder-data`` JSON block and writes to the DOM with
``textContent`` only (never ``innerHTML``), so text from data stays text.
"""
from __future__ import annotations

PAGE_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{leaflet_css}</style>
<style>{app_css}</style>
</head>
<body>
<header>
<h1>Family services near you <span class="area">{heading}</span></h1>
<p class="intro">Type a postcode in {area} to see the nearest children's centre, GP, pharmacy, library
and schools, in {area} or across the border, and how long they take to reach pushing a pram.</p>
</header>
<main>
<form id="search" role="search" novalidate>
<label for="pc">Postcode of the home</label>
<div class="row"><input id="pc" name="postcode" type="text" autocomplete="postal-code" spellcheck="false"
 autocapitalize="characters" aria-describedby="pc-hint" maxlength="16">
<button type="submit">Find services</button>
<button type="button" id="print" class="secondary">Print</button></div>
<p id="pc-hint" class="hint">For example UB5 6AA. Press Enter to search.</p>
</form>
<div class="layout">
<section id="results" aria-live="polite" aria-atomic="false" tabindex="-1"><p class="hint">Results appear here.</p></section>
<div id="map" role="region" aria-label="Map of the home and the nearest services"></div>
</div>
</main>
<footer><p id="method"></p><p id="coverage"></p><p id="attribution"></p></footer>
<script type="application/json" id="finder-data">{data}</script>
<script>{leaflet_js}</script>
<script>{app_js}</script>
</body>
</html>
"""

APP_CSS = """
:root { --ink: #1b1b1b; --muted: #505a5f; --accent: #1d70b8; --warn: #8a3b00; --bg: #f3f2f1; }
* { box-sizing: border-box; }
body { font-family: Arial, Helvetica, sans-serif; color: var(--ink); margin: 0; line-height: 1.4; }
header, main, footer { padding: 0 1rem; max-width: 78rem; margin: 0 auto; }
h1 { font-size: 1.6rem; margin: 1rem 0 0.25rem; }
h1 .area { display: block; font-size: 1rem; color: var(--muted); font-weight: normal; }
h2 { font-size: 1.3rem; margin: 0.5rem 0; }
h3 { font-size: 1.05rem; margin: 0 0 0.3rem; display: flex; flex-wrap: wrap; align-items: center; gap: 0.4rem; }
label { font-weight: bold; display: block; margin-bottom: 0.25rem; }
.row { display: flex; gap: 0.5rem; flex-wrap: wrap; }
input { font-size: 1.2rem; padding: 0.35rem 0.5rem; border: 2px solid var(--ink); width: 12rem; text-transform: uppercase; }
button { font-size: 1.05rem; padding: 0.4rem 0.9rem; background: var(--accent); color: #fff; border: 2px solid var(--accent); cursor: pointer; }
button.secondary { background: #fff; color: var(--accent); }
button.link { background: none; border: none; color: var(--accent); text-decoration: underline; padding: 0; font-size: 1rem; }
input:focus, button:focus, #map:focus, #results:focus { outline: 3px solid #ffdd00; outline-offset: 0; box-shadow: 0 0 0 5px var(--ink); }
.hint { color: var(--muted); margin: 0.25rem 0 0.75rem; }
.layout { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: 1rem; align-items: start; }
#map { height: 32rem; border: 1px solid #b1b4b6; background: #fafafa; position: sticky; top: 0.5rem; }
.message { border-left: 6px solid var(--warn); padding: 0.5rem 0.75rem; background: #fff7f0; }
.message strong { display: block; font-size: 1.1rem; }
.type { border-top: 1px solid #b1b4b6; padding: 0.6rem 0; break-inside: avoid; }
.swatch { display: inline-block; width: 0.9rem; height: 0.9rem; border-radius: 50%; border: 1px solid #333; }
.badge { background: #fff2cc; border: 1px solid #c2a000; font-size: 0.85rem; padding: 0 0.35rem; font-weight: normal; }
.type ol { margin: 0; padding-left: 1.5rem; }
.type li { margin-bottom: 0.2rem; }
.name { font-weight: bold; }
.mins { font-weight: bold; white-space: nowrap; }
.where, .addr, .dist { color: var(--muted); }
.across { color: var(--warn); font-weight: bold; }
.home-nearest { margin: 0.2rem 0 0; }
.uncertain, .note { color: var(--muted); font-size: 0.9rem; margin: 0.2rem 0 0; }
footer { color: var(--muted); font-size: 0.85rem; margin-top: 1.5rem; border-top: 1px solid #b1b4b6; }
.leaflet-tooltip.borough-label { background: transparent; border: none; box-shadow: none; color: #505a5f; font-weight: bold; }
@media (max-width: 50rem) { .layout { grid-template-columns: 1fr; } #map { position: relative; top: 0; height: 22rem; } }
@media print {
  form, .hint, button { display: none !important; }
  body { font-size: 10.5pt; }
  header, main, footer { max-width: none; padding: 0; }
  .layout { display: block; }
  #map { position: relative; top: 0; height: 9cm; width: 100%; break-inside: avoid; margin-top: 0.5rem; }
  .leaflet-control-container { display: none; }
  .badge { border: 1px solid #000; }
  a { color: inherit; }
}
"""

APP_JS = r"""
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("finder-data").textContent);
  var COLOURS = ["#1d70b8", "#d4351c", "#00703c", "#f47738", "#4c2c92", "#b58840", "#28a197", "#912b88", "#505a5f", "#85994b"];
  var NONE = D.none_idx, NONE_M = 65535, K = D.k, S = K + 1, NT = D.types.length;
  var RE = /^[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2}$/;

  function bytes(s) {
    var bin = atob(s), u = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { u[i] = bin.charCodeAt(i); }
    return u.buffer;
  }
  var IDX = D.idx_bytes === 2 ? new Uint16Array(bytes(D.near_idx)) : new Uint32Array(bytes(D.near_idx));
  var MET = new Uint16Array(bytes(D.near_m));
  var CERT = new Uint8Array(bytes(D.certain));
  var LL = new Int32Array(bytes(D.pc_ll));
  var PCS = D.postcodes ? D.postcodes.split("|") : [];
  var SV = D.services;
  var OTHER = new Map();
  Object.keys(D.other.neighbours).forEach(function (lad) {
    D.other.neighbours[lad].split("|").forEach(function (pc) { OTHER.set(pc, { status: "outside_area", lad: +lad }); });
  });
  D.other.non_geographic.forEach(function (r) { OTHER.set(r[0], { status: "non_geographic", n: r[1], suggestion: r[2] }); });
  var DISTRICTS = new Set(D.other.districts);

  // ------------------------------------------------------------------ postcodes
  function normalise(text) {
    var s = String(text || "").replace(/\s+/g, "").toUpperCase();
    return s.length > 3 ? s.slice(0, -3) + " " + s.slice(-3) : s;
  }
  function lowerBound(arr, key) {
    var lo = 0, hi = arr.length;
    while (lo < hi) { var mid = (lo + hi) >>> 1; if (arr[mid] < key) { lo = mid + 1; } else { hi = mid; } }
    return lo;
  }
  function find(pc) { var i = lowerBound(PCS, pc); return i < PCS.length && PCS[i] === pc ? i : -1; }
  function ordinal(pc) { return (pc.charCodeAt(pc.length - 2) - 65) * 26 + (pc.charCodeAt(pc.length - 1) - 65); }
  function suggest(pc) {
    var sector = pc.slice(0, -2), best = "", bestD = Infinity, o = ordinal(pc);
    for (var i = lowerBound(PCS, sector); i < PCS.length && PCS[i].lastIndexOf(sector, 0) === 0; i++) {
      if (PCS[i].length !== pc.length || PCS[i] === pc) { continue; }
      var d = Math.abs(ordinal(PCS[i]) - o);
      if (d < bestD) { bestD = d; best = PCS[i]; }
    }
    return best;
  }
  function malformed(query, pc) {
    if (!pc) { return "Type a postcode, for example UB5 6AA."; }
    if (/[^A-Za-z0-9\s]/.test(query)) { return "\u201c" + query + "\u201d contains characters other than letters, digits and spaces."; }
    if (RE.test(pc)) { return ""; }
    var n = pc.replace(" ", "").length;
    if (n < 5) { return "\u201c" + query + "\u201d is too short for a full postcode (for example UB5 6AA)."; }
    if (n > 7) { return "\u201c" + query + "\u201d is too long for a postcode (for example UB5 6AA)."; }
    return "\u201c" + query + "\u201d is not written like a UK postcode (for example UB5 6AA).";
  }
  function classify(query) {
    var pc = normalise(query), bad = malformed(query, pc);
    if (bad) { return { status: "malformed", postcode: pc, title: "Not a postcode", reason: bad }; }
    var i = find(pc);
    if (i >= 0) { return { status: "ok", postcode: pc, index: i }; }
    var o = OTHER.get(pc);
    var district = pc.split(" ")[0];
    if (o && o.status === "outside_area") {
      return { status: "outside_area", postcode: pc, title: "Outside the area",
               reason: pc + " is in " + D.lads[o.lad] + ", outside " + D.area + ". This finder covers homes in " + D.area + "." };
    }
    if (o && o.status === "non_geographic") {
      return { status: "non_geographic", postcode: pc, title: "Not a home postcode", suggestion: o.suggestion,
               reason: pc + " is a PO box or delivery-office postcode (one of " + o.n + " postcodes at one point), not a home. Use the postcode of the home." };
    }
    if (!DISTRICTS.has(district)) {
      return { status: "outside_area", postcode: pc, title: "Outside the area",
               reason: "Postcode district " + district + " is not in " + D.area + " or its neighbouring boroughs. This finder covers homes in " + D.area + "." };
    }
    return { status: "unknown", postcode: pc, title: "No such postcode", suggestion: suggest(pc),
             reason: pc + " is not a live postcode in " + D.area + " or its neighbouring boroughs. Check it: it may be mistyped, new or no longer in use." };
  }

  // ------------------------------------------------------------------ text helpers
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = text; }
    return e;
  }
  function minutes(m) { var x = Math.round(m / D.metres_per_minute); return x < 1 ? "under 1 min" : x + " min"; }
  function distance(m) { return m < 1000 ? (Math.round(m / 10) * 10) + " m" : (m / 1000).toFixed(1) + " km"; }
  function place(j) {
    var parts = [SV.address[j], SV.postcode[j]].filter(function (v) { return v; });
    return parts.join(", ");
  }

  // ------------------------------------------------------------------ map
  var map = L.map("map", { attributionControl: false, zoomSnap: 0.25 });
  var homeBounds = null;
  D.outlines.forEach(function (o) {
    var latlngs = o.rings;
    var line = L.polygon(latlngs, { color: o.home ? "#0b0c0c" : "#8a8f92", weight: o.home ? 2.5 : 1.2, fill: o.home,
                                    fillColor: "#ffffff", fillOpacity: 0.5, interactive: false }).addTo(map);
    if (o.home) { homeBounds = line.getBounds(); }
    L.tooltip({ permanent: true, direction: "center", className: "borough-label", interactive: false })
      .setLatLng(o.label).setContent(el("span", null, o.name)).addTo(map);
  });
  if (homeBounds) { map.fitBounds(homeBounds); } else { map.setView([51.5, -0.3], 11); }
  var layer = L.layerGroup().addTo(map);

  var lastBounds = null;
  function fitMap() { if (lastBounds) { map.fitBounds(lastBounds, { maxZoom: 16 }); } }
  function printSize() { map.invalidateSize({ animate: false }); fitMap(); }
  window.addEventListener("beforeprint", printSize);
  window.addEventListener("afterprint", printSize);

  function drawMap(i, hits) {
    layer.clearLayers();
    var home = [LL[2 * i] / 1e6, LL[2 * i + 1] / 1e6], pts = [home];
    hits.forEach(function (h) {
      var ll = [SV.lat[h.j], SV.lon[h.j]];
      pts.push(ll);
      L.circleMarker(ll, { radius: h.home ? 6 : 8, color: "#0b0c0c", weight: h.home ? 1 : 2, dashArray: h.home ? "3" : null,
                           fillColor: COLOURS[h.t % COLOURS.length], fillOpacity: 0.9 })
        .bindTooltip(el("span", null, D.types[h.t].label + (h.home ? " (nearest in " + D.area + ")" : "") + ": " + SV.name[h.j] + ", " + minutes(h.m)))
        .addTo(layer);
    });
    L.circleMarker(home, { radius: 9, color: "#0b0c0c", weight: 3, fillColor: "#ffdd00", fillOpacity: 1 })
      .bindTooltip(el("span", null, "Home: " + PCS[i])).addTo(layer);
    lastBounds = L.latLngBounds(pts).pad(0.15);
    fitMap();
  }

  // ------------------------------------------------------------------ results
  var results = document.getElementById("results");
  var input = document.getElementById("pc");

  function showMessage(c) {
    results.replaceChildren();
    var box = el("div", "message");
    box.setAttribute("role", "alert");
    box.appendChild(el("strong", null, c.title));
    box.appendChild(el("span", null, c.reason));
    if (c.suggestion) {
      var p = el("p", null, "Nearest valid postcode in the same sector: ");
      var b = el("button", "link suggest", c.suggestion);
      b.type = "button";
      b.addEventListener("click", function () { input.value = c.suggestion; answer(c.suggestion); input.focus(); });
      p.appendChild(b);
      box.appendChild(p);
    }
    results.appendChild(box);
    layer.clearLayers();
  }

  function typeBlock(i, t, hits) {
    var base = (i * NT + t) * S, sec = el("section", "type");
    sec.setAttribute("data-type", D.types[t].key);
    var first = IDX[base], h3 = el("h3"), sw = el("span", "swatch");
    sw.style.background = COLOURS[t % COLOURS.length];
    sw.setAttribute("aria-hidden", "true");
    h3.appendChild(sw);
    h3.appendChild(el("span", null, D.types[t].label));
    var across = first !== NONE && SV.lad[first] > 0;
    if (across) { h3.appendChild(el("span", "badge", "Nearest is across the border, in " + D.lads[SV.lad[first]])); }
    sec.appendChild(h3);
    var ol = el("ol"), uncertain = false;
    for (var r = 0; r < K; r++) {
      var j = IDX[base + r], m = MET[base + r];
      if (j === NONE) { continue; }
      var li = el("li");
      li.setAttribute("data-rank", String(r + 1));
      li.appendChild(el("span", "name", SV.name[j]));
      li.appendChild(document.createTextNode(" \u2013 "));
      li.appendChild(el("span", "mins", m === NONE_M ? "more than 65 km" : minutes(m)));
      li.appendChild(el("span", "dist", " (" + distance(m) + ")"));
      var lad = SV.lad[j];
      li.appendChild(el("span", lad > 0 ? "where across" : "where", " \u2013 "
        + (lad < 0 ? "borough not known" : D.lads[lad] + (lad > 0 ? " (across the border)" : ""))));
      if (SV.status[j] !== "open") { li.appendChild(el("span", "where", " \u2013 status " + SV.status[j])); }
      if (!(CERT[i * NT + t] & (1 << r))) { uncertain = true; li.appendChild(el("span", "uncertain", " *")); }
      var addr = place(j);
      if (addr) { li.appendChild(el("div", "addr", addr)); }
      ol.appendChild(li);
      if (r === 0) { hits.push({ t: t, j: j, m: m, home: false }); }
    }
    sec.appendChild(ol);
    var hj = IDX[base + K], hm = MET[base + K], p = el("p", "home-nearest");
    if (hj === NONE) {
      p.textContent = "Nearest in " + D.area + ": none listed.";
    } else if (hj === first) {
      p.textContent = "Nearest in " + D.area + ": the same.";
    } else {
      p.textContent = "Nearest in " + D.area + ": " + SV.name[hj] + " \u2013 " + minutes(hm) + " (" + distance(hm) + "), "
        + (Math.round(hm / D.metres_per_minute) - Math.round(MET[base] / D.metres_per_minute)) + " min farther.";
      hits.push({ t: t, j: hj, m: hm, home: true });
    }
    sec.appendChild(p);
    if (uncertain) {
      sec.appendChild(el("p", "uncertain", "* A service missing from this data could be nearer"
        + (D.types[t].note ? " (" + D.types[t].note + ")." : " (services farther across the border are not loaded).")));
    }
    return { node: sec, across: across };
  }

  function showResults(c) {
    var i = c.index, hits = [], blocks = [], nAcross = 0;
    for (var t = 0; t < NT; t++) { var b = typeBlock(i, t, hits); blocks.push(b.node); if (b.across) { nAcross++; } }
    results.replaceChildren();
    results.appendChild(el("h2", null, "Nearest services to " + c.postcode));
    results.appendChild(el("p", "summary", nAcross === 0 ? "The nearest service of every type is in " + D.area + "."
      : "For " + nAcross + " of " + NT + " types the nearest service is across the border."));
    var note = D.notes[c.postcode];
    if (note) { results.appendChild(el("p", "note", "Note: " + note + ".")); }
    blocks.forEach(function (b) { results.appendChild(b); });
    drawMap(i, hits);
  }

  function answer(query) {
    var t0 = performance.now();
    var c = classify(query);
    results.setAttribute("data-status", c.status);
    if (c.status === "ok") { showResults(c); } else { showMessage(c); }
    window.finderLastAnswerMs = performance.now() - t0;
    results.setAttribute("data-answer-ms", window.finderLastAnswerMs.toFixed(2));
    try { history.replaceState(null, "", "#" + encodeURIComponent(c.postcode)); } catch (e) { /* file: URLs may refuse */ }
    return c;
  }

  document.getElementById("search").addEventListener("submit", function (ev) { ev.preventDefault(); answer(input.value); });
  document.getElementById("print").addEventListener("click", function () { window.print(); });
  document.getElementById("method").textContent = "Distances: " + D.label + ", at a pram-pushing speed of "
    + D.walk_speed_kmh + " km/h. Services of all boroughs are shown; the nearest in " + D.area + " is given too. Built " + D.built + ".";
  document.getElementById("coverage").textContent = D.types.filter(function (t) { return t.note; })
    .map(function (t) { return t.note + "."; }).join(" ");
  document.getElementById("attribution").textContent = D.attribution;
  window.finder = { answer: answer, classify: classify, suggest: suggest };
  try {
    if (location.hash.length > 1) {
      var asked = location.hash.slice(1);
      // any fragment is tolerated: a malformed escape ("#%") is taken as typed, not a URIError
      try { asked = decodeURIComponent(asked); } catch (e) { /* keep the raw text */ }
      input.value = asked;
      answer(asked);
    }
  } finally {
    document.documentElement.setAttribute("data-ready", "true");
  }
})();
"""
