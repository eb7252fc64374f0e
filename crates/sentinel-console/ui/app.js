// The Sentinel console: a single page of hand-written JavaScript over the
// public admin API (/api/v1), authenticated by the session cookie. This file
// holds the shell: the API client (CSRF header on every state change),
// sign-in, the organization and environment switcher, hash routing, DOM
// and chart helpers. pages.js registers one render function per page.
//
// Nothing here assigns HTML strings: every node is built with the DOM API
// and every value goes in as text, so data from the API can never run.
"use strict";

const Sentinel = (window.Sentinel = {
  pages: {},
  state: { me: null, csrf: null, envs: [], env: null, routes: null },
  docsBase: document.querySelector('meta[name="sentinel-docs-base"]').content.replace(/\/+$/, ""),
});

// The admin API's own error codes; anything else is a data-plane code.
const CONSOLE_CODES = ["unauthorized", "forbidden", "not_found", "method_not_allowed", "conflict",
  "invalid_request", "invalid_config", "payload_too_large", "too_many_requests", "internal"];

/// h("tag.class", {attr: value, onclick: fn}, child, "text", …)
function h(spec, attrs, ...children) {
  const [tag, ...classes] = spec.split(".");
  const el = document.createElement(tag);
  if (classes.length) el.className = classes.join(" ");
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";
function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/// The docs entry of an error code.
function codeLink(code) {
  const page = CONSOLE_CODES.includes(code) ? "console" : "errors";
  return h("a.code", { href: `${Sentinel.docsBase}/${page}#${encodeURIComponent(code)}`,
    title: `What ${code} means` }, h("code", {}, code));
}

class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || `HTTP ${status}`);
    this.status = status;
    this.code = e.code || "";
    this.requestId = e.request_id || "";
    this.errors = e.errors || [];
  }
}

/// Calls the admin API with the session cookie; state changes carry the
/// session's CSRF token.
async function api(method, path, body) {
  const headers = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (method !== "GET" && Sentinel.state.csrf) headers["x-csrf-token"] = Sentinel.state.csrf;
  const response = await fetch(path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (_) { json = null; }
  if (!response.ok) {
    const error = new ApiError(response.status, json);
    if (response.status === 401 && path !== "/api/v1/session") showSignIn(error.message);
    throw error;
  }
  return json;
}

/// An error box: the message, its code linked to the docs, the request id.
function errorBox(error) {
  const box = h("div.error", { role: "alert" }, error.message || String(error));
  if (error.code) box.append(" ", codeLink(error.code));
  if (error.requestId) box.append(h("span.muted", {}, ` request id ${error.requestId}`));
  for (const f of error.errors || []) {
    box.append(h("div", {}, h("code", {}, f.path), ` ${f.message}`));
  }
  return box;
}

function toast(text) {
  const t = document.getElementById("toast");
  t.textContent = text;
  t.classList.add("show");
  setTimeout(() => t.classList.remove("show"), 4000);
}

const fmt = {
  time(ms) { return ms ? new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z") : "—"; },
  num(n) { return n === null || n === undefined ? "—" : Number(n).toLocaleString("en-US"); },
  pct(n) { return n === null || n === undefined || !isFinite(n) ? "—" : `${(n * 100).toFixed(1)}%`; },
  usd(micros) { return micros === null || micros === undefined ? "—" : `$${(micros / 1e6).toFixed(4)}`; },
  ms(n) { return n === null || n === undefined ? "—" : `${n} ms`; },
};

/// The roles the signed-in operator holds in environment `env` (the
/// selected one by default): grants for every environment, and grants
/// naming it.
function rolesIn(env) {
  const me = Sentinel.state.me;
  if (!me) return [];
  const name = env === undefined ? Sentinel.state.env : env;
  return (me.grants || []).filter((g) => g.environment === null || g.environment === undefined || g.environment === name)
    .map((g) => g.role);
}

/// Whether the operator may change things in the selected environment.
function canWrite(env) {
  return rolesIn(env).some((r) => r === "admin" || r === "operator");
}

/// Whether the operator may approve change requests there.
function canApprove(env) {
  return rolesIn(env).some((r) => r === "admin" || r === "approver");
}

/// "admin", or "operator@dev, auditor@prod": the grants, for the header.
function grantsSummary(me) {
  const grants = me.grants || [];
  if (!grants.length) return "no grants";
  return grants.map((g) => (g.environment ? `${g.role}@${g.environment}` : g.role)).join(", ");
}

/// Whether the admin API serves `method path` (from its OpenAPI document),
/// so buttons for routes that have not landed yet stay hidden.
async function hasRoute(method, path) {
  if (!Sentinel.state.routes) {
    try {
      const doc = await api("GET", "/api/openapi.json");
      Sentinel.state.routes = doc.paths || {};
    } catch (_) { Sentinel.state.routes = {}; }
  }
  const item = Sentinel.state.routes[path];
  return Boolean(item && item[method.toLowerCase()]);
}

/// A table with a caption, column headers and rows of cells.
function table(caption, columns, rows, empty) {
  if (!rows.length) return h("p.muted", {}, empty || "Nothing yet.");
  return h("table", {},
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c))))));
}

/// Labelled form control.
function field(label, control, hint) {
  const id = control.id || `f-${Math.random().toString(36).slice(2)}`;
  control.id = id;
  return h("div.field", {}, h("label", { for: id }, label), control, hint ? h("span.hint", {}, hint) : null);
}

// ---- charts: hand-written SVG --------------------------------------------

/// A line (or bar) chart of one or more series over bucket start times.
/// `series`: [{name, values: [number|null], cls}]; `format` formats y.
function chart({ title, times, series, format, bars }) {
  const W = 560, H = 180, L = 56, R = 12, T = 12, B = 26;
  const all = series.flatMap((x) => x.values).filter((v) => v !== null && v !== undefined);
  const max = Math.max(1e-9, ...all) * 1.1;
  const n = Math.max(1, times.length);
  const x = (i) => L + ((W - L - R) * (bars ? i + 0.5 : i)) / (bars ? n : Math.max(1, n - 1));
  const y = (v) => T + (H - T - B) * (1 - v / max);
  const steps = all.some((v) => v > 0) ? [0, 0.5, 1] : [0];
  const grid = steps.map((f) => s("g", {},
    s("line", { x1: L, x2: W - R, y1: y(max * f / 1.1), y2: y(max * f / 1.1), class: "grid" }),
    s("text", { x: L - 6, y: y(max * f / 1.1) + 4, class: "axis", "text-anchor": "end" }, format(max * f / 1.1))));
  const labels = [0, Math.floor((n - 1) / 2), n - 1].filter((i, k, a) => times[i] && a.indexOf(i) === k)
    .map((i) => s("text", { x: x(i), y: H - 6, class: "axis", "text-anchor": "middle" },
      new Date(times[i]).toISOString().slice(11, 16)));
  const plots = series.map((ser) => {
    if (bars) {
      const w = Math.max(1, (W - L - R) / n - 2);
      return s("g", { class: ser.cls }, ser.values.map((v, i) => v ? s("rect", {
        x: x(i) - w / 2, y: y(v), width: w, height: Math.max(0, y(0) - y(v)) }, s("title", {}, `${format(v)}`)) : null));
    }
    let d = "";
    ser.values.forEach((v, i) => {
      if (v === null || v === undefined) return;
      d += `${d ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
    });
    // A dot per value, so a lone point (one busy bucket) still shows.
    const dots = ser.values.map((v, i) => (v === null || v === undefined ? null
      : s("circle", { cx: x(i).toFixed(1), cy: y(v).toFixed(1), r: 2.5, class: `dot ${ser.cls}` },
        s("title", {}, `${ser.name} ${format(v)} at ${new Date(times[i]).toISOString().slice(11, 16)}`))));
    return s("g", {}, s("path", { d: d || "M0,0", class: `line ${ser.cls}` }), dots);
  });
  const summary = series.map((ser) => {
    const vals = ser.values.filter((v) => v !== null && v !== undefined);
    const peak = vals.length ? Math.max(...vals) : null;
    return `${ser.name}: peak ${peak === null ? "none" : format(peak)}`;
  }).join("; ");
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": `${title}. ${summary}` },
    s("title", {}, `${title}. ${summary}`), grid, labels, plots);
  const legend = h("ul.legend", {}, series.map((ser) => h("li", {}, h(`span.swatch.${ser.cls}`, { "aria-hidden": "true" }), ser.name)));
  return h("figure.chart-box", {}, h("figcaption", {}, title), svg, legend);
}

// ---- session, switcher, routing ------------------------------------------

function showSignIn(message) {
  Sentinel.state.me = null;
  Sentinel.state.csrf = null;
  document.getElementById("app").hidden = true;
  document.getElementById("signin").hidden = false;
  const err = document.getElementById("signin-error");
  err.textContent = message || "";
  document.getElementById("signin-token").focus();
}

async function startSession(session) {
  Sentinel.state.csrf = session.csrf_token;
  const me = await api("GET", "/api/v1/whoami");
  Sentinel.state.me = me;
  const envs = await api("GET", "/api/v1/environments");
  Sentinel.state.envs = envs.data;
  const saved = sessionStorage.getItem("sentinel-env");
  Sentinel.state.env = (envs.data.find((e) => e.name === saved) || envs.data[0] || {}).name || null;
  document.getElementById("org-name").textContent = me.organization.name;
  document.getElementById("who").textContent = `${me.name} · ${grantsSummary(me)}`;
  const select = document.getElementById("env-select");
  select.textContent = "";
  for (const e of envs.data) {
    select.appendChild(h("option", { value: e.name, selected: e.name === Sentinel.state.env },
      e.protected ? `${e.name} (protected)` : e.name));
  }
  if (!envs.data.length) select.appendChild(h("option", { value: "" }, "no environments"));
  document.getElementById("signin").hidden = true;
  document.getElementById("app").hidden = false;
  route();
}

document.getElementById("signin-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = document.getElementById("signin-token");
  const err = document.getElementById("signin-error");
  err.textContent = "";
  try {
    const session = await api("POST", "/api/v1/session", { token: input.value.trim() });
    input.value = "";
    await startSession(session);
  } catch (e) {
    err.textContent = "";
    err.appendChild(errorBox(e));
  }
});

document.getElementById("signout").addEventListener("click", async () => {
  try { await api("DELETE", "/api/v1/session"); } catch (_) { /* signed out either way */ }
  showSignIn("Signed out.");
});

document.getElementById("env-select").addEventListener("change", (event) => {
  Sentinel.state.env = event.target.value;
  sessionStorage.setItem("sentinel-env", Sentinel.state.env);
  route();
});

/// `#/page/arg?query` → {page, arg, query}
function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, qs] = raw.split("?");
  const [page, ...rest] = path.split("/");
  return { page: page || "overview", arg: rest.map(decodeURIComponent).join("/"), query: new URLSearchParams(qs || "") };
}

let routeSeq = 0;
async function route() {
  if (!Sentinel.state.me) return;
  const { page, arg, query } = parseHash();
  const render = Sentinel.pages[page] || Sentinel.pages.overview;
  for (const a of document.querySelectorAll("nav.side a[data-page]")) {
    if (a.dataset.page === page) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const main = document.getElementById("main");
  const seq = ++routeSeq;
  const target = h("div", {});
  try {
    await render(target, arg, query);
  } catch (e) {
    target.textContent = "";
    target.appendChild(errorBox(e));
  }
  if (seq !== routeSeq) return; // a later navigation won
  main.textContent = "";
  main.appendChild(target);
  const heading = main.querySelector("h1");
  document.title = `${heading ? heading.textContent : "Console"} · Sentinel`;
}

window.addEventListener("hashchange", () => {
  route().then(() => document.getElementById("main").focus({ preventScroll: true }));
});

async function boot() {
  try {
    const session = await api("GET", "/api/v1/session");
    await startSession(session);
  } catch (_) {
    showSignIn("");
  }
}

// pages.js calls Sentinel.boot() once every page is registered.
Object.assign(Sentinel, { h, s, api, chart, table, field, fmt, codeLink, errorBox, toast, canWrite, canApprove, hasRoute, route, boot, ApiError });
