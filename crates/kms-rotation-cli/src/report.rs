//! `kms-rotation audit --report FILE.html`: the audit as one self-contained HTML page.
//!
//! The page carries its data as JSON in `<script type="application/json" id="data">` and draws
//! everything from it with inline JavaScript and CSS: no external resource, no network (a
//! Content-Security-Policy of `default-src 'none'` forbids any). What it shows:
//! - the counts by compliance (`#count-COMPLIANT`, `#count-NON_COMPLIANT`, ...);
//! - stacked bars of COMPLIANT / NON_COMPLIANT / NOT_APPLICABLE keys per account and per Region
//!   (inline SVG; each segment carries `data-account` or `data-region`, `data-compliance` and
//!   `data-count`), each with the same numbers as a table;
//! - the NON_COMPLIANT keys, the most exposed first (public, cross-account, unknown, then the
//!   rest; then account, Region, key id), with what fixes each;
//! - the exceptions on a timeline by expiry date (`data-key`, `data-status`; expired in red,
//!   expiring soon in amber), malformed ones listed apart;
//! - the account-Regions that could not be read, and the run's figures.
//!
//! The data cannot close its script element: every `<` in it is written `\u003c` (and `>`, `&`
//! as `\u003e`, `\u0026`), which JSON reads back as the same characters. The script inserts every
//! string from the data as text (`textContent`, `setAttribute`), never as markup. When it is done
//! it sets `data-rendered="true"` on the body; an error sets `data-errors` there (the browser test
//! reads both, tests/e2e/test_report.py).

use serde_json::{json, Value};

/// What the page is made of.
pub(super) struct ReportInput<'a> {
    /// When the run ended (UTC), shown on the page.
    pub generated: chrono::DateTime<chrono::Utc>,
    /// The audit's JSON lines, exactly as `audit --output json` prints them, one object a key:
    /// accountId, region, resourceId, arn (nullable), alias (nullable), complianceType
    /// ("COMPLIANT"|"NON_COMPLIANT"|"NOT_APPLICABLE"), reason (a camelCase/snake code string),
    /// annotation, exposure (only for NON_COMPLIANT keys whose exposure was read: "public" |
    /// "cross-account" | "unknown" | "private"; may be absent), fix (string, may be absent).
    pub keys: &'a [Value],
    /// The exception tags found (the `exceptions --output json` lines): accountId, region,
    /// resourceId, alias, status ("VALID"|"EXPIRING_SOON"|"EXPIRED"|"MALFORMED"), owner, expires
    /// ("YYYY-MM-DD" or null), ticket, daysLeft (int or null), value, note.
    pub exceptions: &'a [Value],
    /// Account-Regions that could not be read: {accountId, region, error}.
    pub failed: &'a [Value],
    /// The run's figures, name and number or string (e.g. accounts, regions, keys, wall
    /// seconds); shown as a table in this order.
    pub figures: &'a [(&'a str, Value)],
}

/// The page, one self-contained HTML document.
pub(super) fn render(input: &ReportInput<'_>) -> String {
    let generated = input.generated.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    let data = data(input);
    let mut page = String::with_capacity(HEAD.len() + TAIL.len() + SCRIPT.len() + 4096);
    page.push_str(&HEAD.replace("{generated}", &escape_html(&generated)));
    page.push_str(&script_safe_json(&data));
    page.push_str(TAIL);
    page.push_str(SCRIPT);
    page.push_str(END);
    page
}

/// The data the script draws from. The figures are a list of `[name, value]` pairs, so their
/// order survives whatever the JSON reader does with object keys.
fn data(input: &ReportInput<'_>) -> Value {
    json!({
        "generated": input.generated.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "keys": input.keys,
        "exceptions": input.exceptions,
        "failed": input.failed,
        "figures": input
            .figures
            .iter()
            .map(|(name, value)| json!([name, value]))
            .collect::<Vec<_>>(),
    })
}

/// JSON that can sit inside a `<script>` element: no `</script`, no `<!--`, no `<script` can
/// appear, because no `<` does. `<`, `>` and `&` only occur inside JSON strings, where `\u003c`,
/// `\u003e` and `\u0026` read back as themselves; U+2028 and U+2029 are escaped too, as some
/// JavaScript parsers once refused them in source.
fn script_safe_json(value: &Value) -> String {
    let text = value.to_string();
    let mut out = String::with_capacity(text.len() + 64);
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// Text for HTML element content or a quoted attribute.
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page up to the data (`{generated}` is replaced, escaped).
const HEAD: &str = r##"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'">
<meta name="generator" content="kms-rotation audit --report">
<title>KMS key rotation audit, {generated}</title>
<script>
"use strict";
// Errors are recorded on the body for the browser test (tests/e2e/test_report.py), and shown.
window.reportErrors = [];
function recordError(text) {
  window.reportErrors.push(text);
  if (document.body) {
    document.body.dataset.errors = window.reportErrors.join("\n");
  }
}
window.onerror = function (message, source, line, column) {
  recordError(String(message) + " (line " + line + ", column " + column + ")");
};
document.addEventListener("securitypolicyviolation", function (e) {
  recordError("blocked by the page's policy: " + e.violatedDirective + " " + e.blockedURI);
});
</script>
<style>
:root {
  --compliant: #2e7d32; --non-compliant: #c62828; --not-applicable: #9e9e9e;
  --expired: #c62828; --expiring: #e69500; --valid: #2e7d32;
  --ink: #1f2328; --muted: #59636e; --line: #d1d9e0; --panel: #f6f8fa;
}
* { box-sizing: border-box; }
body {
  margin: 0 auto; padding: 24px 32px 48px; max-width: 1200px; color: var(--ink); background: #fff;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
}
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 32px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 20px 0 6px; }
p.meta, p.note { color: var(--muted); margin: 4px 0 12px; }
.tiles { display: flex; flex-wrap: wrap; gap: 12px; }
.tile { border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; min-width: 150px; background: var(--panel); }
.tile .value { display: block; font-size: 26px; font-weight: 600; }
.tile .name { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
.tile.COMPLIANT { border-left: 5px solid var(--compliant); }
.tile.NON_COMPLIANT { border-left: 5px solid var(--non-compliant); }
.tile.NOT_APPLICABLE { border-left: 5px solid var(--not-applicable); }
.tile.alert .value { color: var(--non-compliant); }
.legend { display: flex; gap: 16px; margin: 4px 0 8px; color: var(--muted); font-size: 12px; }
.legend span::before { content: ""; display: inline-block; width: 10px; height: 10px; margin-right: 5px; border-radius: 2px; background: var(--c); }
svg.chart { display: block; max-width: 100%; height: auto; }
svg text { font: 12px system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; fill: var(--ink); }
svg text.muted { fill: var(--muted); }
rect.COMPLIANT { fill: var(--compliant); }
rect.NON_COMPLIANT { fill: var(--non-compliant); }
rect.NOT_APPLICABLE { fill: var(--not-applicable); }
circle.EXPIRED { fill: var(--expired); }
circle.EXPIRING_SOON { fill: var(--expiring); }
circle.VALID { fill: var(--valid); }
circle { stroke: #fff; stroke-width: 1.5; }
rect.band-expired { fill: #fbe9e9; }
rect.band-expiring { fill: #fff4dc; }
line.axis, line.tick { stroke: var(--muted); }
line.today { stroke: var(--ink); stroke-dasharray: 4 3; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; font-size: 13px; }
th, td { text-align: left; vertical-align: top; padding: 5px 8px; border-bottom: 1px solid var(--line); }
th { background: var(--panel); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.mono, td.fix { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
td.mono { overflow-wrap: break-word; }
td.nw { white-space: nowrap; }
.scroll { overflow-x: auto; }
td.fix { overflow-wrap: anywhere; min-width: 220px; }
td.empty { color: var(--muted); font-style: italic; }
.badge { display: inline-block; padding: 1px 7px; border-radius: 10px; font-size: 12px; font-weight: 600; white-space: nowrap; border: 1px solid var(--line); }
.badge.public, .badge.EXPIRED, .badge.MALFORMED { background: #fbe9e9; color: #8e1c1c; border-color: #efb3b3; }
.badge.cross-account, .badge.EXPIRING_SOON { background: #fff4dc; color: #7a4d00; border-color: #f1d08a; }
.badge.unknown { background: #eef1f4; color: var(--ink); }
.badge.VALID { background: #e8f4ea; color: #1b5e20; border-color: #b2d8b6; }
details summary { cursor: pointer; color: var(--muted); margin: 4px 0; }
.warning { border: 1px solid #f1d08a; background: #fff4dc; padding: 8px 12px; border-radius: 6px; }
@media print { details { display: none; } body { padding: 0; } }
</style>
</head>
<body>
<header>
<h1>KMS key rotation audit</h1>
<p class="meta">Generated <span id="generated">{generated}</span> by <code>kms-rotation audit --report</code>. Every figure on this page comes from that run.</p>
</header>
<noscript><p class="warning">This page draws its charts and tables with JavaScript, which is off in this browser. The run's data is in this file, as JSON, in the element with id "data".</p></noscript>

<section aria-labelledby="h-summary">
<h2 id="h-summary">Summary</h2>
<div id="summary" class="tiles"></div>
</section>

<section aria-labelledby="h-accounts">
<h2 id="h-accounts">Compliance by account</h2>
<div class="legend" aria-hidden="true"><span style="--c: var(--compliant)">COMPLIANT</span><span style="--c: var(--non-compliant)">NON_COMPLIANT</span><span style="--c: var(--not-applicable)">NOT_APPLICABLE</span></div>
<svg id="chart-accounts" class="chart" role="img" aria-labelledby="h-accounts"></svg>
<details><summary>The same as a table</summary><table id="table-accounts"></table></details>
</section>

<section aria-labelledby="h-regions">
<h2 id="h-regions">Compliance by Region</h2>
<div class="legend" aria-hidden="true"><span style="--c: var(--compliant)">COMPLIANT</span><span style="--c: var(--non-compliant)">NON_COMPLIANT</span><span style="--c: var(--not-applicable)">NOT_APPLICABLE</span></div>
<svg id="chart-regions" class="chart" role="img" aria-labelledby="h-regions"></svg>
<details><summary>The same as a table</summary><table id="table-regions"></table></details>
</section>

<section aria-labelledby="h-noncompliant">
<h2 id="h-noncompliant">NON_COMPLIANT keys</h2>
<p class="note">The most exposed first: key policies open to anyone (public), then to other accounts (cross-account), then those whose policy could not be read (unknown), then the rest; within each, by account, Region and key id. <code>kms-rotation remediate</code> fixes them in the same order.</p>
<div class="scroll"><table id="noncompliant">
<thead><tr><th>Exposure</th><th>Account</th><th>Region</th><th>Key ID</th><th>Alias</th><th>Reason</th><th>Why</th><th>Fix</th></tr></thead>
<tbody id="noncompliant-rows"></tbody>
</table></div>
</section>

<section aria-labelledby="h-exceptions">
<h2 id="h-exceptions">Exceptions by expiry date</h2>
<p class="note">Keys whose rotation is off under an exception tag, by the date the exception ends. <span class="badge EXPIRED">EXPIRED</span> the key is NON_COMPLIANT again; <span class="badge EXPIRING_SOON">EXPIRING_SOON</span> ends within the warning window (30 days by default); the dashed line is the day of the run.</p>
<svg id="timeline" class="chart" role="img" aria-labelledby="h-exceptions"></svg>
<div class="scroll"><table id="exceptions">
<thead><tr><th>Status</th><th>Expires</th><th class="num">Days left</th><th>Account</th><th>Region</th><th>Key ID</th><th>Alias</th><th>Owner</th><th>Ticket</th><th>Note</th></tr></thead>
<tbody id="exceptions-rows"></tbody>
</table></div>
<h3 id="h-malformed">Malformed exception tags</h3>
<div class="scroll"><table id="malformed">
<thead><tr><th>Account</th><th>Region</th><th>Key ID</th><th>Alias</th><th>Tag value</th><th>Note</th></tr></thead>
<tbody id="malformed-rows"></tbody>
</table></div>
</section>

<section aria-labelledby="h-failed">
<h2 id="h-failed">Account-Regions not read</h2>
<p class="note">Their keys are not in the counts above.</p>
<div class="scroll"><table id="failed">
<thead><tr><th>Account</th><th>Region</th><th>Error</th></tr></thead>
<tbody id="failed-rows"></tbody>
</table></div>
</section>

<section aria-labelledby="h-figures">
<h2 id="h-figures">The run</h2>
<div class="scroll"><table id="figures">
<thead><tr><th>Figure</th><th class="num">Value</th></tr></thead>
<tbody id="figures-rows"></tbody>
</table></div>
</section>

<script type="application/json" id="data">"##;

/// Between the data and the script.
const TAIL: &str = "</script>\n<script>\n";

/// The end of the page.
const END: &str = "</script>\n</body>\n</html>\n";

/// Draws the page from the data. Strings from the data go in as text only.
const SCRIPT: &str = r##""use strict";
(function () {
  const data = JSON.parse(document.getElementById("data").textContent);
  // The SVG namespace, read from an SVG element of the page.
  const SVG_NS = document.getElementById("timeline").namespaceURI;
  const COMPLIANCE = ["COMPLIANT", "NON_COMPLIANT", "NOT_APPLICABLE"];
  const EXPOSURE_RANK = { "public": 0, "cross-account": 1, "unknown": 2 };
  // The reasons `kms-rotation remediate --apply` fixes (crates/kms-rotation-cli/src/plan.rs).
  const REMEDIABLE = new Set([
    "ROTATION_OFF", "REPLICA_ROTATION_OFF", "EXCEPTION_EXPIRED", "EXCEPTION_MALFORMED",
    "PERIOD_ABOVE_MAXIMUM",
  ]);
  const DAY = 86400000;

  const list = (v) => (Array.isArray(v) ? v.filter((x) => x && typeof x === "object") : []);
  const keys = list(data.keys);
  const exceptions = list(data.exceptions);
  const failed = list(data.failed);
  const figures = Array.isArray(data.figures) ? data.figures : [];

  function text(v) {
    return v === null || v === undefined ? "" : String(v);
  }
  function cmp(a, b) {
    return a < b ? -1 : a > b ? 1 : 0;
  }
  function el(tag, attrs, content) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      e.setAttribute(k, String(v));
    }
    if (content !== undefined && content !== null) {
      e.textContent = String(content);
    }
    return e;
  }
  function svg(tag, attrs, content) {
    const e = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      e.setAttribute(k, String(v));
    }
    if (content !== undefined && content !== null) {
      e.textContent = String(content);
    }
    return e;
  }
  function row(cells, attrs) {
    const tr = el("tr", attrs);
    for (const c of cells) {
      tr.appendChild(c instanceof Node ? c : el("td", {}, c));
    }
    return tr;
  }
  function emptyRow(tbody, columns, message) {
    const td = el("td", { colspan: columns, class: "empty" }, message);
    tbody.appendChild(el("tr", { class: "empty" })).appendChild(td);
  }
  function accountOf(r) {
    if (r.accountId !== undefined && r.accountId !== null && r.accountId !== "") {
      return text(r.accountId);
    }
    const m = /^arn:[^:]*:kms:[^:]*:([0-9]{12}):/.exec(text(r.arn));
    return m ? m[1] : "unknown";
  }
  function exposureOf(k) {
    return text(k.exposure).toLowerCase().replace(/_/g, "-");
  }
  function reasonCode(r) {
    return text(r).replace(/([a-z0-9])([A-Z])/g, "$1_$2").replace(/-/g, "_").toUpperCase();
  }
  function parseDay(s) {
    const m = /^([0-9]{4})-([0-9]{2})-([0-9]{2})$/.exec(text(s));
    return m ? Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) : null;
  }
  function isoDay(t) {
    return new Date(t).toISOString().slice(0, 10);
  }

  // --- Summary ---------------------------------------------------------------------------------
  const totals = { COMPLIANT: 0, NON_COMPLIANT: 0, NOT_APPLICABLE: 0 };
  for (const k of keys) {
    if (Object.prototype.hasOwnProperty.call(totals, k.complianceType)) {
      totals[k.complianceType] += 1;
    }
  }
  const nonCompliant = keys.filter((k) => k.complianceType === "NON_COMPLIANT");
  const exposed = nonCompliant.filter((k) => ["public", "cross-account"].includes(exposureOf(k)));
  const byStatus = (s) => exceptions.filter((e) => e.status === s).length;
  const evaluated = totals.COMPLIANT + totals.NON_COMPLIANT;
  const tiles = [
    ["keys", "Keys", keys.length, ""],
    ["COMPLIANT", "COMPLIANT", totals.COMPLIANT, "COMPLIANT"],
    ["NON_COMPLIANT", "NON_COMPLIANT", totals.NON_COMPLIANT, "NON_COMPLIANT"],
    ["NOT_APPLICABLE", "NOT_APPLICABLE", totals.NOT_APPLICABLE, "NOT_APPLICABLE"],
    ["exposed", "NON_COMPLIANT and exposed", exposed.length, exposed.length ? "alert" : ""],
    ["exceptions", "Exceptions", exceptions.length, ""],
    ["EXPIRED", "Exceptions expired", byStatus("EXPIRED"), byStatus("EXPIRED") ? "alert" : ""],
    ["EXPIRING_SOON", "Exceptions expiring soon", byStatus("EXPIRING_SOON"), ""],
    ["MALFORMED", "Exception tags malformed", byStatus("MALFORMED"), byStatus("MALFORMED") ? "alert" : ""],
    ["failed", "Account-Regions not read", failed.length, failed.length ? "alert" : ""],
  ];
  const summary = document.getElementById("summary");
  for (const [id, name, value, cls] of tiles) {
    const tile = summary.appendChild(el("div", { class: ("tile " + cls).trim() }));
    tile.appendChild(el("span", { class: "value", id: "count-" + id, "data-count": value }, value));
    tile.appendChild(el("span", { class: "name" }, name));
  }
  const rate = summary.appendChild(el("div", { class: "tile" }));
  rate.appendChild(el("span", { class: "value", id: "compliance-rate" },
    evaluated ? (Math.floor((1000 * totals.COMPLIANT) / evaluated) / 10).toFixed(1) + "%" : "-"));
  rate.appendChild(el("span", { class: "name" }, "COMPLIANT of the keys in scope"));

  // --- Stacked bars ----------------------------------------------------------------------------
  function tally(groupOf) {
    const groups = new Map();
    for (const k of keys) {
      const g = groupOf(k);
      if (!groups.has(g)) {
        groups.set(g, { COMPLIANT: 0, NON_COMPLIANT: 0, NOT_APPLICABLE: 0 });
      }
      const counts = groups.get(g);
      if (Object.prototype.hasOwnProperty.call(counts, k.complianceType)) {
        counts[k.complianceType] += 1;
      }
    }
    return [...groups.entries()].sort((a, b) => cmp(a[0], b[0]));
  }
  const sum = (counts) => COMPLIANCE.reduce((n, c) => n + counts[c], 0);

  function bars(chartId, tableId, groups, attr, heading) {
    const chart = document.getElementById(chartId);
    const labelWidth = 170, barWidth = 640, countWidth = 70, rowHeight = 26;
    const width = labelWidth + barWidth + countWidth;
    const height = Math.max(1, groups.length) * rowHeight + 8;
    chart.setAttribute("viewBox", "0 0 " + width + " " + height);
    chart.setAttribute("width", width);
    chart.setAttribute("height", height);
    const max = Math.max(1, ...groups.map(([, counts]) => sum(counts)));
    if (groups.length === 0) {
      chart.appendChild(svg("text", { x: 4, y: 18, class: "muted" }, "No keys."));
    }
    groups.forEach(([name, counts], i) => {
      const y = 4 + i * rowHeight;
      const total = sum(counts);
      const g = chart.appendChild(svg("g", { class: "bar", ["data-" + attr]: name, "data-total": total }));
      g.appendChild(svg("text", {
        x: labelWidth - 8, y: y + rowHeight / 2, "text-anchor": "end", "dominant-baseline": "middle",
      }, name));
      let x = labelWidth;
      for (const c of COMPLIANCE) {
        const n = counts[c];
        if (n === 0) {
          continue;
        }
        const w = Math.max(1, (n / max) * barWidth);
        const segment = g.appendChild(svg("rect", {
          x: x.toFixed(2), y: y + 3, width: w.toFixed(2), height: rowHeight - 6, class: c,
          ["data-" + attr]: name, "data-compliance": c, "data-count": n,
        }));
        segment.appendChild(svg("title", {}, name + ": " + n + " " + c));
        x += w;
      }
      g.appendChild(svg("text", {
        x: x + 6, y: y + rowHeight / 2, "dominant-baseline": "middle", class: "muted",
      }, total));
    });

    const table = document.getElementById(tableId);
    const head = table.appendChild(el("thead")).appendChild(el("tr"));
    head.appendChild(el("th", {}, heading));
    for (const c of [...COMPLIANCE, "Total"]) {
      head.appendChild(el("th", { class: "num" }, c));
    }
    const body = table.appendChild(el("tbody"));
    for (const [name, counts] of groups) {
      const cells = [el("td", {}, name)];
      for (const c of COMPLIANCE) {
        cells.push(el("td", { class: "num" }, counts[c]));
      }
      cells.push(el("td", { class: "num" }, sum(counts)));
      body.appendChild(row(cells, { ["data-" + attr]: name }));
    }
    if (groups.length === 0) {
      emptyRow(body, COMPLIANCE.length + 2, "No keys.");
    }
  }
  bars("chart-accounts", "table-accounts", tally(accountOf), "account", "Account");
  bars("chart-regions", "table-regions", tally((k) => text(k.region)), "region", "Region");

  // --- NON_COMPLIANT keys ----------------------------------------------------------------------
  function fixOf(k) {
    if (typeof k.fix === "string" && k.fix.trim() !== "") {
      return { text: k.fix, source: "fix" };
    }
    const annotation = text(k.annotation);
    const at = annotation.indexOf("Fix: ");
    // A hint cut short with the annotation (decision.rs, fit_annotation) is not shown.
    const hint = at >= 0 && !annotation.endsWith(" [...]") ? annotation.slice(at + 5).trim() : "";
    if (REMEDIABLE.has(reasonCode(k.reason))) {
      const command = "kms-rotation remediate --apply --region " + text(k.region);
      return { text: hint ? command + "\n(or: " + hint + ")" : command, source: "remediate" };
    }
    if (hint) {
      return { text: hint, source: "annotation" };
    }
    return { text: "See the Why column.", source: "none" };
  }
  const rank = (k) => {
    const e = exposureOf(k);
    return Object.prototype.hasOwnProperty.call(EXPOSURE_RANK, e) ? EXPOSURE_RANK[e] : 3;
  };
  const ordered = nonCompliant.slice().sort((a, b) =>
    cmp(rank(a), rank(b)) || cmp(accountOf(a), accountOf(b)) || cmp(text(a.region), text(b.region)) ||
    cmp(text(a.resourceId), text(b.resourceId)));
  const ncBody = document.getElementById("noncompliant-rows");
  for (const k of ordered) {
    const exposure = exposureOf(k);
    const fix = fixOf(k);
    const exposureCell = el("td");
    if (exposure) {
      exposureCell.appendChild(el("span", { class: "badge " + exposure.replace(/[^a-z-]/g, "") }, exposure));
    } else {
      exposureCell.textContent = "-";
    }
    const fixCell = el("td", { class: "fix", "data-fix-source": fix.source });
    fix.text.split("\n").forEach((line, i) => {
      if (i > 0) {
        fixCell.appendChild(el("br"));
      }
      fixCell.appendChild(document.createTextNode(line));
    });
    ncBody.appendChild(row([
      exposureCell,
      el("td", { class: "mono nw" }, accountOf(k)),
      el("td", { class: "nw" }, text(k.region)),
      el("td", { class: "mono" }, text(k.resourceId)),
      el("td", { class: "mono" }, text(k.alias) || "-"),
      el("td", { class: "mono" }, text(k.reason)),
      el("td", {}, text(k.annotation)),
      fixCell,
    ], {
      "data-key": text(k.resourceId), "data-account": accountOf(k), "data-region": text(k.region),
      "data-exposure": exposure, "data-reason": text(k.reason),
    }));
  }
  if (ordered.length === 0) {
    emptyRow(ncBody, 8, "No NON_COMPLIANT keys.");
  }

  // --- Exceptions ------------------------------------------------------------------------------
  const today = parseDay(text(data.generated).slice(0, 10));
  const dated = [];
  const malformed = [];
  for (const e of exceptions) {
    const t = parseDay(e.expires);
    if (e.status === "MALFORMED" || t === null) {
      malformed.push(e);
    } else {
      dated.push([t, e]);
    }
  }
  dated.sort((a, b) => cmp(a[0], b[0]) || cmp(accountOf(a[1]), accountOf(b[1])) ||
    cmp(text(a[1].region), text(b[1].region)) || cmp(text(a[1].resourceId), text(b[1].resourceId)));

  function timeline() {
    const chart = document.getElementById("timeline");
    const left = 20, right = 20, plotWidth = 840, laneHeight = 18, maxLanes = 12, top = 24;
    const width = left + plotWidth + right;
    if (dated.length === 0) {
      chart.setAttribute("viewBox", "0 0 " + width + " 30");
      chart.setAttribute("width", width);
      chart.setAttribute("height", 30);
      chart.appendChild(svg("text", { x: 4, y: 18, class: "muted" }, "No dated exceptions."));
      return;
    }
    const anchor = today === null ? dated[0][0] : today;
    let from = Math.min(dated[0][0], anchor - 7 * DAY);
    let to = Math.max(dated[dated.length - 1][0], anchor + 45 * DAY);
    const pad = Math.max(DAY, (to - from) * 0.03);
    from -= pad;
    to += pad;
    const xOf = (t) => left + ((t - from) / (to - from)) * plotWidth;
    // Each mark in the first lane where it does not overlap the previous one.
    const lanes = [];
    const placed = dated.map(([t, e], i) => {
      const x = xOf(t);
      let lane = lanes.findIndex((last) => x - last >= 14);
      if (lane < 0) {
        lane = lanes.length < maxLanes ? lanes.length : i % maxLanes;
      }
      lanes[lane] = x;
      return [x, lane, e];
    });
    const plotHeight = Math.max(1, lanes.length) * laneHeight + 8;
    const axisY = top + plotHeight;
    const height = axisY + 36;
    chart.setAttribute("viewBox", "0 0 " + width + " " + height);
    chart.setAttribute("width", width);
    chart.setAttribute("height", height);
    if (today !== null) {
      const x0 = Math.max(left, xOf(from));
      chart.appendChild(svg("rect", {
        class: "band-expired", x: x0, y: top - 6, width: Math.max(0, xOf(today) - x0), height: plotHeight + 6,
      }));
      const soonEnd = Math.min(xOf(to), xOf(today + 31 * DAY));
      chart.appendChild(svg("rect", {
        class: "band-expiring", x: xOf(today), y: top - 6, width: Math.max(0, soonEnd - xOf(today)),
        height: plotHeight + 6,
      }));
      chart.appendChild(svg("line", { class: "today", x1: xOf(today), x2: xOf(today), y1: top - 12, y2: axisY }));
      chart.appendChild(svg("text", { x: xOf(today), y: 12, "text-anchor": "middle" }, "run: " + isoDay(today)));
    }
    chart.appendChild(svg("line", { class: "axis", x1: left, x2: left + plotWidth, y1: axisY, y2: axisY }));
    const ticks = 6;
    for (let i = 0; i <= ticks; i += 1) {
      const t = Math.round((from + ((to - from) * i) / ticks) / DAY) * DAY;
      const x = xOf(t);
      chart.appendChild(svg("line", { class: "tick", x1: x, x2: x, y1: axisY, y2: axisY + 5 }));
      chart.appendChild(svg("text", {
        x: x, y: axisY + 18, "text-anchor": i === 0 ? "start" : i === ticks ? "end" : "middle", class: "muted",
      }, isoDay(t)));
    }
    for (const [x, lane, e] of placed) {
      const status = text(e.status);
      const mark = chart.appendChild(svg("circle", {
        cx: x.toFixed(2), cy: top + lane * laneHeight + laneHeight / 2, r: 6,
        class: status.replace(/[^A-Z_]/g, ""), "data-key": text(e.resourceId), "data-status": status,
        "data-expires": text(e.expires), "data-account": accountOf(e), "data-region": text(e.region),
      }));
      const who = [text(e.alias) || text(e.resourceId), text(e.region), accountOf(e)].join(", ");
      mark.appendChild(svg("title", {}, who + ": " + status + ", expires " + text(e.expires) +
        (e.owner ? ", owner " + text(e.owner) : "") + (e.ticket ? ", ticket " + text(e.ticket) : "")));
    }
  }
  timeline();

  const exBody = document.getElementById("exceptions-rows");
  for (const [, e] of dated) {
    const status = text(e.status);
    const statusCell = el("td");
    statusCell.appendChild(el("span", { class: "badge " + status.replace(/[^A-Z_]/g, "") }, status));
    exBody.appendChild(row([
      statusCell,
      el("td", { class: "mono nw" }, text(e.expires)),
      el("td", { class: "num" }, text(e.daysLeft)),
      el("td", { class: "mono nw" }, accountOf(e)),
      el("td", { class: "nw" }, text(e.region)),
      el("td", { class: "mono" }, text(e.resourceId)),
      el("td", { class: "mono" }, text(e.alias) || "-"),
      el("td", {}, text(e.owner)),
      el("td", {}, text(e.ticket)),
      el("td", {}, text(e.note)),
    ], { "data-key": text(e.resourceId), "data-status": status, "data-expires": text(e.expires) }));
  }
  if (dated.length === 0) {
    emptyRow(exBody, 10, "No dated exceptions.");
  }
  const malBody = document.getElementById("malformed-rows");
  for (const e of malformed) {
    malBody.appendChild(row([
      el("td", { class: "mono nw" }, accountOf(e)),
      el("td", { class: "nw" }, text(e.region)),
      el("td", { class: "mono" }, text(e.resourceId)),
      el("td", { class: "mono" }, text(e.alias) || "-"),
      el("td", { class: "mono" }, text(e.value)),
      el("td", {}, text(e.note)),
    ], { "data-key": text(e.resourceId), "data-status": text(e.status) }));
  }
  if (malformed.length === 0) {
    emptyRow(malBody, 6, "None.");
  }

  // --- Failed account-Regions and the run's figures --------------------------------------------
  const failedBody = document.getElementById("failed-rows");
  for (const f of failed) {
    // An error not tied to an account or a Region has neither.
    failedBody.appendChild(row([
      el("td", { class: "mono nw" }, text(f.accountId) || "-"),
      el("td", { class: "nw" }, text(f.region) || "-"),
      el("td", {}, text(f.error)),
    ], { "data-account": text(f.accountId), "data-region": text(f.region) }));
  }
  if (failed.length === 0) {
    emptyRow(failedBody, 3, "None: every account-Region was read.");
  }
  const figuresBody = document.getElementById("figures-rows");
  for (const pair of figures) {
    if (!Array.isArray(pair) || pair.length !== 2) {
      continue;
    }
    const [name, value] = pair;
    const shown = value !== null && typeof value === "object" ? JSON.stringify(value) : text(value);
    figuresBody.appendChild(row([
      el("td", {}, text(name)),
      el("td", { class: "num" }, shown),
    ], { "data-figure": text(name), "data-value": shown }));
  }
  if (figures.length === 0) {
    emptyRow(figuresBody, 2, "None.");
  }

  document.body.dataset.rendered = "true";
})();
"##;

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const OPEN: &str = r#"<script type="application/json" id="data">"#;

    fn key(account: &str, region: &str, id: &str, compliance: &str) -> Value {
        json!({
            "accountId": account,
            "region": region,
            "resourceId": id,
            "arn": format!("arn:aws:kms:{region}:{account}:key/{id}"),
            "alias": null,
            "complianceType": compliance,
            "reason": if compliance == "NON_COMPLIANT" { "ROTATION_OFF" } else { "ROTATION_ON" },
            "annotation": "Automatic rotation is off. Fix: aws kms enable-key-rotation --key-id k",
        })
    }

    struct Sample {
        keys: Vec<Value>,
        exceptions: Vec<Value>,
        failed: Vec<Value>,
        figures: Vec<(&'static str, Value)>,
    }

    impl Sample {
        fn new() -> Self {
            let mut exposed = key("111111111111", "eu-west-1", "k-public", "NON_COMPLIANT");
            exposed["exposure"] = json!("public");
            exposed["fix"] = json!("kms-rotation remediate --apply --region eu-west-1");
            // Not in alphabetical order: the page keeps the given order.
            let figures = vec![
                ("wall seconds", json!(1.5)),
                ("accounts", json!(2)),
                ("mode", json!("organization")),
            ];
            Self {
                keys: vec![
                    key("111111111111", "us-east-1", "k1", "COMPLIANT"),
                    key("111111111111", "us-east-1", "k2", "NON_COMPLIANT"),
                    exposed,
                    key("222222222222", "us-east-1", "k3", "NOT_APPLICABLE"),
                ],
                exceptions: vec![json!({
                    "accountId": "111111111111", "region": "us-east-1", "resourceId": "k4",
                    "alias": "alias/legacy", "status": "EXPIRED", "owner": "alice",
                    "expires": "2026-01-01", "ticket": "SEC-1", "daysLeft": -30, "value": null,
                    "note": "expired 30 day(s) ago: renew the exception or enable rotation",
                })],
                failed: vec![json!({
                    "accountId": "222222222222", "region": "eu-west-1",
                    "error": "access denied on kms:ListKeys",
                })],
                figures,
            }
        }

        fn input(&self) -> ReportInput<'_> {
            ReportInput {
                generated: chrono::Utc.with_ymd_and_hms(2026, 1, 31, 12, 0, 0).unwrap(),
                keys: &self.keys,
                exceptions: &self.exceptions,
                failed: &self.failed,
                figures: &self.figures,
            }
        }
    }

    /// The text of the data element, and the page after it.
    fn embedded(page: &str) -> (&str, &str) {
        let start = page.find(OPEN).expect("a data element") + OPEN.len();
        let end = start
            + page[start..]
                .find("</script>")
                .expect("the data element closes");
        (&page[start..end], &page[end..])
    }

    #[test]
    fn the_data_round_trips_through_the_page() {
        let sample = Sample::new();
        let page = render(&sample.input());
        let (text, _) = embedded(&page);
        let data: Value = serde_json::from_str(text).unwrap();
        assert_eq!(data["keys"], json!(sample.keys));
        assert_eq!(data["exceptions"], json!(sample.exceptions));
        assert_eq!(data["failed"], json!(sample.failed));
        assert_eq!(data["generated"], "2026-01-31T12:00:00Z");
        // In the map's order (insertion order with serde_json's preserve_order, as the crate
        // builds it; sorted without).
        let pairs: Vec<Value> = sample.figures.iter().map(|(k, v)| json!([k, v])).collect();
        assert_eq!(data["figures"], json!(pairs));
        assert_eq!(data["figures"].as_array().unwrap().len(), 3);
        assert!(page.contains("<title>KMS key rotation audit, 2026-01-31 12:00:00 UTC</title>"));
    }

    #[test]
    fn the_page_references_nothing_on_the_network() {
        let sample = Sample::new();
        let page = render(&sample.input());
        let lower = page.to_lowercase();
        for needle in [
            "http://", "https://", "src=", "href=", "url(", "@import", "<link", "<img", "<iframe",
        ] {
            assert!(!lower.contains(needle), "the page contains {needle:?}");
        }
        assert!(
            page.contains("default-src 'none'"),
            "the policy forbids any load"
        );
    }

    #[test]
    fn data_cannot_close_its_script_element() {
        let hostile = "</script><script>alert(1)</script><!-- <script> --> </SCRIPT> & \u{2028}";
        let mut sample = Sample::new();
        sample.keys[1]["alias"] = json!(hostile);
        sample.keys[1]["annotation"] = json!(format!("<!--{hostile}"));
        sample.exceptions[0]["owner"] = json!(hostile);
        sample.failed[0]["error"] = json!(hostile);
        sample.figures.push((hostile, json!(hostile)));
        let page = render(&sample.input());

        let (text, rest) = embedded(&page);
        let lower = text.to_lowercase();
        assert!(!lower.contains('<'), "{text}");
        assert!(!lower.contains("<!--") && !lower.contains("</") && !lower.contains("<script"));
        let data: Value = serde_json::from_str(text).unwrap();
        assert_eq!(data["keys"][1]["alias"], hostile);
        assert_eq!(data["keys"][1]["annotation"], format!("<!--{hostile}"));
        assert_eq!(data["exceptions"][0]["owner"], hostile);
        assert_eq!(data["failed"][0]["error"], hostile);
        let figures = data["figures"].as_array().unwrap();
        assert!(figures.contains(&json!([hostile, hostile])));
        // The page has exactly the template's scripts, and the data element ends where the drawing
        // script begins.
        assert!(rest.starts_with(TAIL), "{}", &rest[..80.min(rest.len())]);
        let blank = render(&Sample::new().input());
        assert_eq!(
            page.to_lowercase().matches("<script").count(),
            blank.to_lowercase().matches("<script").count()
        );
        assert!(text.contains(r"\u003c/script\u003e\u003cscript\u003ealert(1)"));
    }

    #[test]
    fn the_script_inserts_data_as_text_only() {
        for sink in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
        ] {
            assert!(!SCRIPT.contains(sink), "the script uses {sink}");
            assert!(!HEAD.contains(sink), "the head uses {sink}");
        }
        assert!(SCRIPT.contains(r#"document.body.dataset.rendered = "true""#));
        assert!(HEAD.contains("window.onerror"));
    }

    #[test]
    fn an_empty_run_renders() {
        let page = render(&ReportInput {
            generated: chrono::Utc::now(),
            keys: &[],
            exceptions: &[],
            failed: &[],
            figures: &[],
        });
        let (text, _) = embedded(&page);
        let data: Value = serde_json::from_str(text).unwrap();
        assert_eq!(data["keys"], json!([]));
        assert_eq!(data["figures"], json!([]));
    }

    /// `KMS_ROTATION_REPORT_SAMPLE=/tmp/sample.html cargo test -p rule-lambda report::` writes the
    /// sample page there, to look at in a browser; without the variable it writes nothing.
    #[test]
    fn writes_a_sample_page_when_asked() {
        if let Some(path) = std::env::var_os("KMS_ROTATION_REPORT_SAMPLE") {
            std::fs::write(path, render(&Sample::new().input())).unwrap();
        }
    }
}
