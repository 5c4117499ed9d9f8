// teleforge dashboard: one page, routed by the URL's fragment (#/page?key=value).
//
// Rule of this file: everything that comes from the store is put into the page as text
// (textContent, createTextNode, SVG <title> text), never as HTML; links are built only from
// "#/…" plus encodeURIComponent. The server's Content-Security-Policy allows no inline script.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const main = () => document.getElementById("main");
let languages = [];
let defaultLanguage = null;

// ---- DOM building -------------------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "text") node.textContent = String(v);
    else if (k === "className") node.className = v;
    else if (k === "onclick" || k === "onchange" || k === "onsubmit") node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "text") node.textContent = String(v);
    else node.setAttribute(k, String(v));
  }
  for (const c of children.flat()) if (c) node.append(c);
  return node;
}

// A link inside the dashboard: only ever "#/page?…", whatever the store holds.
function route(page, params) {
  const q = Object.entries(params || {})
    .filter(([, v]) => v !== undefined && v !== null && v !== "")
    .map(([k, v]) => encodeURIComponent(k) + "=" + encodeURIComponent(String(v)))
    .join("&");
  return "#/" + page + (q ? "?" + q : "");
}
const link = (text, page, params) => el("a", { href: route(page, params), text });

const pct = (x) => (x === null || x === undefined ? "–" : (100 * x).toFixed(1) + "%");
const num = (x) => (x === null || x === undefined ? "–" : Number(x).toLocaleString("en-US"));
const signed = (x) => (x === null || x === undefined ? "–" : (x >= 0 ? "+" : "") + (100 * x).toFixed(1) + " pts");

function table(headers, rows, numeric) {
  numeric = numeric || [];
  return el("table", {},
    el("thead", {}, el("tr", {}, headers.map((h, i) => el("th", { className: numeric.includes(i) ? "num" : "", text: h })))),
    el("tbody", {}, rows.map((r) => el("tr", {}, r.map((c, i) => el("td", { className: numeric.includes(i) ? "num" : "" }, c))))));
}

function card(label, value) {
  return el("div", { className: "card" }, el("div", { className: "value", text: value }), el("div", { className: "label", text: label }));
}

async function api(path, params) {
  const q = Object.entries(params || {})
    .filter(([, v]) => v !== undefined && v !== null && v !== "")
    .map(([k, v]) => encodeURIComponent(k) + "=" + encodeURIComponent(String(v)))
    .join("&");
  const res = await fetch("/api/" + path + (q ? "?" + q : ""));
  const body = await res.json();
  if (!res.ok) throw new Error(body.error || res.statusText);
  return body;
}

// ---- charts (hand-drawn SVG: smaller than any charting library's glue; see docs/DASHBOARD.md) ----

const PALETTE = ["#2f6feb", "#e3a008", "#1a7f37", "#cf222e", "#8250df", "#0598bc", "#bf3989", "#6e7781"];

function frame(width, height, yMax, yLabel) {
  const root = svg("svg", { class: "chart", width, height, viewBox: `0 0 ${width} ${height}`, role: "img" });
  const pad = { l: 44, r: 12, t: 10, b: 24 };
  root.append(svg("line", { class: "axis", x1: pad.l, y1: height - pad.b, x2: width - pad.r, y2: height - pad.b }));
  for (const f of [0, 0.5, 1]) {
    const y = height - pad.b - f * (height - pad.t - pad.b);
    root.append(svg("line", { class: "axis", x1: pad.l, y1: y, x2: width - pad.r, y2: y }));
    root.append(svg("text", { x: 4, y: y + 4, text: yLabel(f * yMax) }));
  }
  return { root, pad, w: width - pad.l - pad.r, h: height - pad.t - pad.b, height };
}

// points: [{label, value (0..yMax or null), title}] → a line with one <circle> per point.
function lineChart(points, yMax, yLabel, name) {
  const f = frame(760, 220, yMax, yLabel);
  const step = points.length > 1 ? f.w / (points.length - 1) : 0;
  const xy = points.map((p, i) => [f.pad.l + (points.length > 1 ? i * step : f.w / 2), f.pad.t + f.h - (p.value / yMax) * f.h]);
  const drawn = points.map((p, i) => [p, xy[i]]).filter(([p]) => p.value !== null);
  if (drawn.length > 1) {
    f.root.append(svg("polyline", { class: "line", points: drawn.map(([, [x, y]]) => `${x},${y}`).join(" ") }));
  }
  for (const [p, [x, y]] of drawn) {
    f.root.append(svg("circle", { class: "point", cx: x, cy: y, r: 4 }, svg("title", { text: p.title })));
  }
  f.root.append(svg("text", { x: f.pad.l, y: f.height - 6, text: points.length ? points[0].label : "" }));
  if (points.length > 1) f.root.append(svg("text", { x: f.pad.l + f.w - 60, y: f.height - 6, text: points[points.length - 1].label }));
  f.root.dataset.chart = name;
  f.root.setAttribute("aria-label", `${name}: ${drawn.length} runs`);
  return f.root;
}

// columns: [{label, parts: [{value, title}]}] stacked from the bottom, colour per part index.
function stackedBars(columns, name) {
  const totals = columns.map((c) => c.parts.reduce((s, p) => s + p.value, 0));
  const yMax = Math.max(1, ...totals);
  const f = frame(760, 220, yMax, (v) => (Number.isInteger(v) ? String(v) : v.toFixed(1)));
  const slot = columns.length ? f.w / columns.length : f.w;
  const bw = Math.max(2, Math.min(40, slot * 0.7));
  columns.forEach((c, i) => {
    let y = f.pad.t + f.h;
    const x = f.pad.l + i * slot + (slot - bw) / 2;
    c.parts.forEach((p, k) => {
      if (!p.value) return;
      const h = (p.value / yMax) * f.h;
      y -= h;
      const bar = svg("rect", { class: "bar", x, y, width: bw, height: h }, svg("title", { text: p.title }));
      bar.style.fill = PALETTE[k % PALETTE.length]; // CSSOM, not a style attribute: the CSP allows no inline style
      f.root.append(bar);
    });
  });
  if (columns.length) {
    f.root.append(svg("text", { x: f.pad.l, y: f.height - 6, text: columns[0].label }));
    if (columns.length > 1) f.root.append(svg("text", { x: f.pad.l + f.w - 70, y: f.height - 6, text: columns[columns.length - 1].label }));
  }
  f.root.dataset.chart = name;
  f.root.setAttribute("aria-label", `${name}: ${columns.length} columns`);
  return f.root;
}

function legend(names) {
  return el("div", { className: "legend" }, names.map((n, k) => {
    const s = el("span", { text: n });
    s.style.setProperty("--swatch", PALETTE[k % PALETTE.length]);
    return s;
  }));
}

// ---- syntax highlighting: a tokenizer for Go, Python and JavaScript that only makes text spans ----

const KEYWORDS = {
  go: "break case chan const continue default defer else fallthrough for func go goto if import interface map package range return select struct switch type var nil true false",
  python: "and as assert async await break class continue def del elif else except finally for from global if import in is lambda nonlocal not or pass raise return try while with yield None True False",
  javascript: "async await break case catch class const continue debugger default delete do else export extends finally for function if import in instanceof let new of return super switch this throw try typeof var void while with yield null undefined true false",
};

function highlight(code, language) {
  const pre = el("pre", { className: "code" });
  const kw = new Set((KEYWORDS[language] || KEYWORDS.javascript).split(" "));
  const comment = language === "python" ? "#" : "//";
  const re = /("(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'|`[^`]*`)|(#[^\n]*|\/\/[^\n]*|\/\*[\s\S]*?\*\/)|(\b\d[\d_.]*\b)|([A-Za-z_]\w*)/g;
  let last = 0;
  for (const m of code.matchAll(re)) {
    if (m.index > last) pre.append(document.createTextNode(code.slice(last, m.index)));
    let cls = null;
    if (m[1]) cls = "tok-str";
    else if (m[2] && m[2].startsWith(comment) || (m[2] && m[2].startsWith("/*") && language !== "python")) cls = "tok-com";
    else if (m[3]) cls = "tok-num";
    else if (m[4] && kw.has(m[4])) cls = "tok-kw";
    pre.append(cls ? el("span", { className: cls, text: m[0] }) : document.createTextNode(m[0]));
    last = m.index + m[0].length;
  }
  if (last < code.length) pre.append(document.createTextNode(code.slice(last)));
  return pre;
}

// ---- pages --------------------------------------------------------------------------------------

function currentLanguage(params) {
  return params.language || document.getElementById("language").value || defaultLanguage || (languages[0] || {}).language || "";
}

async function overviewPage(params) {
  const language = currentLanguage(params);
  const d = await api("overview", { language });
  const s = d.statistics;
  const runs = d.runs;
  const page = [el("h1", { text: `Overview: ${language}` })];
  page.push(el("div", { className: "cards" },
    card("learnings", num(s.total)),
    card("success rate", pct(s.success_rate)),
    card("failures", num(s.failures)),
    card("first-attempt success, learning on", pct(s.first_attempts.with_learning.rate)),
    card("first-attempt success, learning off", pct(s.first_attempts.without_learning.rate)),
    card("patterns (active / retired)", `${d.patterns.active} / ${d.patterns.retired}`),
    card("runs", num(runs.length))));
  page.push(el("h2", { text: "First-attempt success per run" }));
  page.push(lineChart(runs.map((r) => ({
    label: r.started.slice(0, 10),
    value: r.first_attempt_rate,
    title: `${r.run_id} · ${r.started} · ${r.generator} · ${num(r.first_attempt_successes)} of ${num(r.constructs_found)} first attempts (${pct(r.first_attempt_rate)})`,
  })), 1, (v) => Math.round(v * 100) + "%", "first-attempt"));
  page.push(el("h2", { text: "Constructs left out per run" }));
  page.push(stackedBars(runs.map((r) => ({
    label: r.started.slice(0, 10),
    parts: [{ value: r.left_out, title: `${r.run_id} · ${r.started} · ${num(r.left_out)} left out` }],
  })), "left-out"));
  page.push(el("h2", { text: "By construct type" }));
  page.push(table(["construct type", "total", "✓", "✗"],
    Object.entries(s.by_construct_type).map(([k, v]) => [k, num(v.total), num(v.successes), num(v.failures)]), [1, 2, 3]));
  page.push(el("h2", { text: "Failures per error pattern" }));
  page.push(table(["error pattern", "failures"], s.error_patterns.map(([p, n]) => [link(p, "learnings", { language, pattern: p, success: "false" }), num(n)]), [1]));
  return page;
}

async function patternsPage(params) {
  const language = currentLanguage(params);
  const d = await api("patterns", { language });
  const t = d.timeline;
  const page = [el("h1", { text: `Error patterns: ${language}` })];
  page.push(el("h2", { text: "Occurrences over time (failures per day)" }));
  page.push(legend(t.series.map((s) => s.pattern)));
  page.push(stackedBars(t.days.map((day, i) => ({
    label: day,
    parts: t.series.map((s) => ({ value: s.counts[i], title: `${day} · ${s.pattern}: ${s.counts[i]}` })),
  })), "pattern-timeline"));
  page.push(el("p", { className: "note", text: `The ${t.patterns_limit} most frequent patterns, from each one's newest ${num(t.failures_per_pattern_limit)} failures${t.truncated ? " (older days are not all shown)" : ""}.` }));
  page.push(table(["pattern", "category", "construct", "occurrences", "success after", "status", "applied", "lift", "updated"],
    d.patterns.map((p) => [
      link(p.pattern_name, "pattern", { language, name: p.pattern_name }),
      p.category, p.construct_type, num(p.occurrence_count), pct(p.success_rate),
      el("span", { className: "status-" + p.status, text: p.status, title: p.status_reason }),
      num(p.evidence.applied), signed(p.lift), p.last_updated,
    ]), [3, 4, 6, 7]));
  if (!d.patterns.length) page.push(el("p", { className: "note", text: "No consolidated patterns yet: run `teleforge consolidate --all`." }));
  return page;
}

async function patternPage(params) {
  const language = currentLanguage(params);
  const d = await api("patterns/" + encodeURIComponent(language) + "/" + encodeURIComponent(params.name || ""));
  const p = d.pattern;
  const page = [el("h1", { text: `Pattern ${p.pattern_name}` })];
  page.push(el("p", {}, link("← all patterns", "patterns", { language }), " · ",
    link(`its learnings (${num(p.occurrence_count)} failures)`, "learnings", { language, pattern: p.pattern_name })));
  page.push(el("div", { className: "cards" },
    card("occurrences", num(p.occurrence_count)), card("success after", pct(p.success_rate)),
    card("status", p.status), card("lift", signed(p.lift)),
    card("applied first attempts", `${num(p.evidence.applied_successes)} / ${num(p.evidence.applied)} ok`),
    card("baseline first attempts", `${num(p.evidence.baseline_successes)} / ${num(p.evidence.baseline)} ok`)));
  if (p.status_reason) page.push(el("p", { className: "note", text: p.status_reason }));
  const bad = highlight(p.bad_example || "", language); bad.classList.add("bad-example");
  const good = highlight(p.good_example || "(nothing recovered from it yet)", language); good.classList.add("good-example");
  page.push(el("div", { className: "side-by-side" },
    el("div", {}, el("h2", { className: "bad", text: "Bad example (failed validation)" }), bad),
    el("div", {}, el("h2", { className: "ok", text: "Good example (validated)" }), good)));
  page.push(el("h2", { text: "Why it fails" }), el("p", { className: "why", text: p.why_fails }));
  page.push(el("h2", { text: "How to fix" }), el("p", { className: "how", text: p.how_to_fix }));
  page.push(el("h2", { text: `Runs whose prompts or orderings carried ${d.lesson}` }));
  page.push(d.carried_by_runs.length
    ? table(["run", "first attempts", "succeeded", "last seen"], d.carried_by_runs.map((r) => [link(r.run_id, "learnings", { language, run: r.run_id }), num(r.attempts), num(r.successes), r.last_seen]), [1, 2])
    : el("p", { className: "note", text: "Not carried by any of the newest learnings." }));
  if (d.truncated) page.push(el("p", { className: "note", text: `Searched the newest ${num(d.scan_limit)} learnings of ${language}.` }));
  if (d.applications.length) {
    page.push(table(["applied in", "construct type", "outcome", "first attempts"], d.applications.map((a) => [a.language, a.construct_type, a.success ? "✓" : "✗", num(a.count)]), [3]));
  }
  page.push(el("h2", { text: `Newest learnings behind it (up to ${d.learnings_limit})` }));
  page.push(learningsTable(d.learnings));
  return page;
}

// The learning's own fields ride along: the API finds it through indexed queries with them.
function learningLink(l) {
  return link(l.hash, "learning", { hash: l.hash, language: l.language, construct_type: l.construct_type, pattern: l.error_pattern || "", success: String(l.success) });
}

function learningsTable(items) {
  return table(["when", "learning", "language", "construct", "attempt", "ok", "pattern", "run", "subject", "error"],
    items.map((l) => [
      l.timestamp, learningLink(l), l.language, l.construct_type, num(l.attempt_number),
      el("span", { className: l.success ? "ok" : "bad", text: l.success ? "✓" : "✗" }),
      l.error_pattern ? link(l.error_pattern, "pattern", { language: l.language, name: l.error_pattern }) : "",
      l.run_id ? link(l.run_id, "learnings", { run: l.run_id }) : "", l.subject || "", l.first_error,
    ]), [4]);
}

async function learningsPage(params) {
  const filters = { language: params.language || "", construct_type: params.construct_type || "", pattern: params.pattern || "", success: params.success || "", run: params.run || "" };
  const page = Number(params.page || 1);
  const d = await api("learnings", { ...filters, page, per_page: params.per_page });
  const input = (name, label) => el("label", {}, label, el("input", { name, value: filters[name], size: 14 }));
  const langSelect = el("select", { name: "language" }, el("option", { value: "", text: "any" }),
    languages.map((l) => el("option", { value: l.language, text: l.language, selected: l.language === filters.language })));
  const successSelect = el("select", { name: "success" },
    [["", "any"], ["true", "succeeded"], ["false", "failed"]].map(([v, t]) => el("option", { value: v, text: t, selected: v === filters.success })));
  const form = el("form", {
    className: "filters", id: "filters",
    onsubmit: (e) => {
      e.preventDefault();
      const f = Object.fromEntries(new FormData(form).entries());
      location.hash = route("learnings", f);
    },
  }, el("label", {}, "language", langSelect), input("construct_type", "construct type"), input("pattern", "pattern"),
  el("label", {}, "outcome", successSelect), input("run", "run"), el("button", { type: "submit", text: "Apply" }));
  const out = [el("h1", { text: "Learnings" }), form];
  out.push(learningsTable(d.items));
  if (!d.items.length) out.push(el("p", { className: "note", text: "No learnings match." }));
  out.push(el("div", { className: "pager" },
    page > 1 ? link("← newer", "learnings", { ...filters, page: page - 1 }) : "",
    el("span", { text: `page ${page}` }),
    d.has_more ? link("older →", "learnings", { ...filters, page: page + 1 }) : ""));
  if (d.truncated) out.push(el("p", { className: "note", text: `A run filter searches the newest ${num(d.scan_limit)} matching learnings.` }));
  return out;
}

async function learningPage(params) {
  const d = await api("learnings/" + encodeURIComponent(params.hash || ""), { language: params.language, construct_type: params.construct_type, pattern: params.pattern, success: params.success });
  const l = d.learning;
  const row = (k, v) => [el("dt", { text: k }), el("dd", {}, v)];
  const out = [el("h1", { text: `Learning ${l.hash}` })];
  out.push(el("p", {}, l.error_pattern ? link(`pattern ${l.error_pattern}`, "pattern", { language: l.language, name: l.error_pattern }) : "",
    l.run_id ? [" · ", link(`run ${l.run_id}`, "learnings", { run: l.run_id })] : ""));
  out.push(el("dl", { className: "record" },
    row("language", l.language), row("construct_type", l.construct_type), row("attempt_number", String(l.attempt_number)),
    row("success", String(l.success)), row("error_pattern", l.error_pattern || ""), row("fix_applied", l.fix_applied || ""),
    row("timestamp", l.timestamp), row("run_id", l.run_id || ""), row("generator", l.generator || ""),
    row("validation_errors", (l.validation_errors || []).join("\n")),
    Object.entries(l.context || {}).map(([k, v]) => row("context." + k, v))));
  out.push(el("h2", { text: "generated_code" }), highlight(l.generated_code, l.language));
  return out;
}

async function runsPage() {
  const d = await api("runs");
  const c = (r, k) => num((r.counts || {})[k]);
  const out = [el("h1", { text: "Runs" })];
  out.push(table(["run", "started", "generator", "learning", "languages", "files", "constructs", "attempts", "first ok", "left out", "compiler runs", "tokens in / out"],
    d.runs.map((r) => [
      link(r.run_id, "learnings", { run: r.run_id }), r.started, r.generator, r.learning ? "on" : "off", r.languages.join(", "),
      c(r, "files_seen"), c(r, "constructs_found"), c(r, "attempts"), c(r, "first_attempt_successes"), c(r, "left_out"), c(r, "compiler_runs"),
      `${c(r, "input_tokens")} / ${c(r, "output_tokens")}`,
    ]), [5, 6, 7, 8, 9, 10]));
  if (!d.runs.length) out.push(el("p", { className: "note", text: "No runs recorded yet: `teleforge instrument` records one per run." }));
  return out;
}

const PAGES = { overview: overviewPage, patterns: patternsPage, pattern: patternPage, learnings: learningsPage, learning: learningPage, runs: runsPage };
const NAV = { pattern: "patterns", learning: "learnings" };

async function render() {
  const [path, query] = (location.hash.replace(/^#\/?/, "") || "overview").split("?");
  const name = PAGES[path] ? path : "overview";
  const params = Object.fromEntries(new URLSearchParams(query || ""));
  if (params.language) document.getElementById("language").value = params.language;
  for (const a of document.querySelectorAll("header nav a")) a.classList.toggle("current", a.dataset.page === (NAV[name] || name));
  const target = main();
  target.setAttribute("aria-busy", "true");
  try {
    const nodes = await PAGES[name](params);
    target.replaceChildren(...nodes);
  } catch (e) {
    target.replaceChildren(el("p", { className: "error", text: String(e.message || e) }));
  }
  target.dataset.page = name;
  target.removeAttribute("aria-busy");
}

async function start() {
  const select = document.getElementById("language");
  try {
    const [config, langs] = await Promise.all([api("config"), api("languages")]);
    defaultLanguage = config.default_language;
    languages = langs.languages;
  } catch (e) {
    main().replaceChildren(el("p", { className: "error", text: String(e.message || e) }));
  }
  for (const l of languages) select.append(el("option", { value: l.language, text: l.language }));
  if (defaultLanguage) select.value = defaultLanguage;
  select.addEventListener("change", () => {
    const [path] = (location.hash.replace(/^#\/?/, "") || "overview").split("?");
    location.hash = route(["learnings", "learning", "pattern"].includes(path) ? "overview" : path, { language: select.value });
  });
  window.addEventListener("hashchange", render);
  render();
}

document.addEventListener("DOMContentLoaded", start);
