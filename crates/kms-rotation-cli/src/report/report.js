"use strict";
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
