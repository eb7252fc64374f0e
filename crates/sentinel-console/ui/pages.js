// The console's pages, one render function each: render(target, arg, query)
// fills `target` (a detached element) and may throw an ApiError, which the
// router shows with its code linked to the docs. Action buttons appear only
// for the roles the operator holds in the selected environment (admin and
// operator change things, admin and approver review change requests);
// the others see the same pages without them.
"use strict";

(function () {
  const { h, api, chart, table, field, fmt, codeLink, errorBox, toast, canWrite, canApprove, hasRoute } = Sentinel;
  const P = Sentinel.pages;
  const env = () => Sentinel.state.env;
  const envPath = (rest) => `/api/v1/environments/${encodeURIComponent(env())}${rest}`;

  function needEnv(target) {
    if (env()) return false;
    target.append(h("h1", {}, "No environment yet"),
      h("p", {}, "Create one with ", h("code", {}, "sentinel env create dev"), " or the admin API."));
    return true;
  }

  /// Runs an action, showing its error in `slot` instead of throwing.
  async function attempt(slot, fn) {
    slot.textContent = "";
    try { return await fn(); } catch (e) { slot.appendChild(errorBox(e)); return undefined; }
  }

  // ---- Overview ------------------------------------------------------------

  P.overview = async function (target, _arg, query) {
    if (needEnv(target)) return;
    const window = query.get("window") || "1h";
    const stats = await api("GET", envPath(`/stats?window=${encodeURIComponent(window)}`));
    const [health, alerts] = await Promise.all([
      api("GET", `/api/v1/providers/health?env=${encodeURIComponent(env())}`).catch(() => ({ data: [] })),
      api("GET", envPath("/alerts")).catch(() => ({ rules: [] })),
    ]);
    const picker = h("select", { id: "window", onchange: (e) => { location.hash = `#/overview?window=${e.target.value}`; } },
      ["15m", "1h", "6h", "24h", "7d"].map((w) => h("option", { value: w, selected: w === window }, w)));
    const t = stats.totals;
    const rate = (n) => (t.requests ? n / t.requests : null);
    const tile = (label, value) => h("div.tile", {}, h("div.tile-value", {}, value), h("div.tile-label", {}, label));
    const times = stats.buckets.map((b) => b.start);
    const per = (f) => stats.buckets.map((b) => (b.requests ? f(b) : null));
    const firing = (alerts.rules || []).filter((r) => r.state === "firing");
    target.append(
      h("h1", {}, `Overview · ${env()}`),
      h("div.toolbar", {}, field("Window", picker),
        stats.truncated ? h("span.muted", {}, "(the newest records of a busy window only)") : null),
      h("div.tiles", {},
        tile("requests", fmt.num(t.requests)),
        tile("server error rate", fmt.pct(rate(t.server_errors))),
        tile("timeout rate", fmt.pct(rate(t.timeouts))),
        tile("refused (4xx)", fmt.pct(rate(t.client_errors))),
        tile("latency p95", fmt.ms(t.p95_ms)),
        tile("spend", fmt.usd(t.cost_micros))),
      h("div.charts", {},
        chart({ title: "Traffic (requests per bucket)", times, bars: true, format: (v) => fmt.num(Math.round(v)),
          series: [{ name: "requests", values: stats.buckets.map((b) => b.requests), cls: "s1" }] }),
        chart({ title: "Error and timeout rates", times, format: (v) => fmt.pct(v),
          series: [
            { name: "server errors", values: per((b) => b.server_errors / b.requests), cls: "s2" },
            { name: "timeouts", values: per((b) => b.timeouts / b.requests), cls: "s3" },
            { name: "refused (4xx)", values: per((b) => b.client_errors / b.requests), cls: "s4" }] }),
        chart({ title: "Latency", times, format: (v) => `${Math.round(v)} ms`,
          series: [
            { name: "p50", values: stats.buckets.map((b) => b.p50_ms), cls: "s1" },
            { name: "p95", values: stats.buckets.map((b) => b.p95_ms), cls: "s3" }] }),
        chart({ title: "Spend (cumulative, USD)", times, format: (v) => fmt.usd(v),
          series: [{ name: "spend", cls: "s2", values: stats.buckets.reduce((acc, b) => {
            acc.push((acc.length ? acc[acc.length - 1] : 0) + b.cost_micros); return acc; }, []) }] })),
      h("p.muted", {}, "Budgets and their usage per application: ", h("a", { href: "#/policies" }, "Policies and budgets"), "."),
      h("h2", {}, "Firing alerts"),
      firing.length
        ? h("ul.alerts", {}, firing.map((r) => h("li.firing", {}, h("strong", {}, r.name), ` ${r.signal} = ${r.value ?? "—"} (above ${r.above}) since ${fmt.time(r.since)}`)))
        : h("p.ok", {}, "No alert is firing."),
      h("h2", {}, "Provider health"),
      healthTable(health.data, stats.providers));
  };

  function healthTable(entries, providers) {
    const counts = new Map((providers || []).map((p) => [p.provider, p]));
    return table("Provider endpoints on this replica", ["provider", "model", "breaker", "success rate", "requests (window)", "server errors (window)", "recent error"],
      entries.map((e) => {
        const c = counts.get(e.provider) || {};
        const recent = (e.recent_errors || [])[0];
        const w = e.window || {};
        return [e.provider, e.model, h(`span.badge.${e.breaker}`, {}, e.breaker),
          w.success_rate === undefined ? "—" : fmt.pct(w.success_rate),
          fmt.num(c.requests ?? 0), fmt.num(c.server_errors ?? 0), recent ? (recent.message || recent.kind || JSON.stringify(recent)) : "—"];
      }), "No provider endpoint has been used yet on this replica.");
  }

  // ---- Requests ------------------------------------------------------------

  const FILTERS = [
    ["status", "Status", "e.g. 502"], ["error_code", "Error code", "e.g. upstream_timeout"],
    ["app", "Application", ""], ["model", "Requested model", ""], ["provider", "Provider", ""],
    ["policy", "Policy decision", "allowed, denied, rate_limited…"], ["min_latency_ms", "Min latency (ms)", ""],
    ["since", "Since", "RFC 3339 or unix ms"], ["until", "Until", "RFC 3339 or unix ms"],
  ];

  P.requests = async function (target, arg, query) {
    if (arg) return requestPage(target, arg);
    const triageInput = h("input", { id: "triage-id", name: "id", autocomplete: "off", spellcheck: "false", placeholder: "019a…" });
    const triage = h("form.triage", { role: "search", onsubmit: (e) => {
      e.preventDefault();
      const id = triageInput.value.trim().replace(/^.*"request_id"\s*:\s*"([^"]+)".*$/s, "$1");
      if (id) location.hash = `#/requests/${encodeURIComponent(id)}`;
    } }, field("Request id from a client error (x-sentinel-request-id)", triageInput), h("button", { type: "submit" }, "Open"));
    const inputs = {};
    const form = h("form.filters", { onsubmit: (e) => {
      e.preventDefault();
      const q = new URLSearchParams();
      for (const [k, el] of Object.entries(inputs)) if (el.value.trim()) q.set(k, el.value.trim());
      location.hash = `#/requests?${q}`;
    } }, FILTERS.map(([k, label, hint]) => {
      inputs[k] = h("input", { name: k, value: query.get(k) || "", placeholder: hint });
      return field(label, inputs[k]);
    }), h("button", { type: "submit" }, "Search"));
    const q = new URLSearchParams(query);
    if (env()) q.set("env", env());
    const page = await api("GET", `/api/v1/requests?${q}`);
    const rows = page.data.map((r) => [
      h("a", { href: `#/requests/${encodeURIComponent(r.id)}` }, h("code", {}, r.id)),
      fmt.time(r.time), r.app_name || "—", r.requested_model || "—", r.provider || "—",
      h(`span.status.s${String(r.status)[0]}`, {}, String(r.status)),
      r.error_code ? codeLink(r.error_code) : "—", fmt.ms(r.latency_ms)]);
    const more = page.next_cursor ? (() => {
      const next = new URLSearchParams(query); next.set("cursor", page.next_cursor);
      return h("a.button", { href: `#/requests?${next}` }, "Older requests");
    })() : null;
    target.append(h("h1", {}, "Requests"), triage, h("details", { open: [...query.keys()].length > 0 },
      h("summary", {}, "Filters"), form),
    table(`Requests in ${env() || "every environment"}, newest first`,
      ["request id", "time", "application", "model", "provider", "status", "error", "latency"], rows, "No request matches."), more);
  };

  async function requestPage(target, id) {
    const r = await api("GET", `/api/v1/requests/${encodeURIComponent(id)}`);
    const dl = (pairs) => h("dl.facts", {}, pairs.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v ?? "—")]));
    const policy = r.policy;
    target.append(
      h("h1", {}, "Request ", h("code", {}, r.id)),
      h("p", {}, h("a", { href: "#/requests" }, "← all requests")),
      h("section", { "aria-labelledby": "rq-client" }, h("h2", { id: "rq-client" }, "What the client received"),
        dl([["HTTP status", String(r.status)],
          ["error code", r.error_code ? codeLink(r.error_code) : "none (success)"],
          ["stream", r.stream ? (r.stream_completed === false ? "yes, ended early (in-stream error event)" : "yes, completed") : "no"],
          ["tokens", r.total_tokens === null ? "—" : `${fmt.num(r.prompt_tokens)} in, ${fmt.num(r.completion_tokens)} out`],
          ["cost", fmt.usd(r.cost_micros)], ["latency", fmt.ms(r.latency_ms)], ["first byte", fmt.ms(r.ttfb_ms)]])),
      h("section", { "aria-labelledby": "rq-who" }, h("h2", { id: "rq-who" }, "Who and where"),
        dl([["time", fmt.time(r.time)], ["environment", r.env_name], ["application", r.app_name],
          ["key id", r.key_id ? h("code", {}, r.key_id) : "—"], ["client address", r.client_addr],
          ["ingress", r.ingress], ["trace id", r.trace_id ? h("code", {}, r.trace_id) : "—"]])),
      h("section", { "aria-labelledby": "rq-policy" }, h("h2", { id: "rq-policy" }, "Policy outcome"),
        policy ? h("div", {}, dl([["decision", policy.decision], ["rule", policy.rule], ["counters", policy.counters]]),
          policy.findings && policy.findings.length
            ? table("Findings", ["rule", "mode", "message"], policy.findings.map((f) => [f.rule, f.mode, f.message])) : null)
          : h("p.muted", {}, "No policy applied to this request.")),
      h("section", { "aria-labelledby": "rq-route" }, h("h2", { id: "rq-route" }, "Route"),
        dl([["requested model", r.requested_model], ["route plan", r.route_plan],
          ["config revision", r.config_revision === null ? "—" : h("a", { href: "#/config" }, `revision ${r.config_revision}`)],
          ["answered by", r.provider ? `${r.provider} (${r.upstream_model || "?"})` : "—"],
          ["upstream status", r.upstream_status], ["detail for operators", r.error_detail]])),
      h("section", { "aria-labelledby": "rq-attempts" }, h("h2", { id: "rq-attempts" }, `Attempts (${r.attempts.length})`),
        timeline(r)));
  }

  /// Each attempt as a bar on the request's time axis, with its outcome.
  function timeline(r) {
    if (!r.attempts.length) return h("p.muted", {}, "No upstream call was made.");
    const total = Math.max(1, r.latency_ms, ...r.attempts.map((a) => (a.started_ms || 0) + a.latency_ms));
    return h("ol.timeline", {}, r.attempts.map((a, i) => {
      const left = ((a.started_ms || 0) / total) * 100;
      const width = Math.max(0.5, (a.latency_ms / total) * 100);
      const bar = Sentinel.s("svg", { viewBox: "0 0 100 6", preserveAspectRatio: "none", class: "bar", "aria-hidden": "true" },
        Sentinel.s("rect", { x: left, y: 0, width, height: 6, class: `o-${a.outcome}` }));
      return h("li.attempt", {},
        h("div.attempt-head", {}, h("strong", {}, `#${i + 1} ${a.provider}`), ` → ${a.upstream_model} `,
          h(`span.badge.o-${a.outcome}`, {}, a.outcome), a.status ? ` HTTP ${a.status}` : "",
          ` · starts at ${a.started_ms || 0} ms, takes ${a.latency_ms} ms`),
        bar,
        a.error ? h("div.muted", {}, a.error) : null,
        a.next ? h("div", {}, "next: ", h("code", {}, a.next)) : null);
    }));
  }

  // ---- Keys and applications -------------------------------------------------

  P.keys = async function (target) {
    if (needEnv(target)) return;
    const [apps, keys] = await Promise.all([api("GET", envPath("/applications")), api("GET", envPath("/keys"))]);
    const rotate = canWrite() && await hasRoute("post", "/api/v1/environments/{env}/keys/{id}/rotate");
    const slot = h("div", {});
    const reveal = h("div", {});
    target.append(h("h1", {}, `Keys and applications · ${env()}`), slot, reveal);
    if (canWrite()) {
      const appName = h("input", { name: "name", required: true, placeholder: "checkout" });
      target.append(h("form.inline", { "aria-label": "Create an application", onsubmit: async (e) => {
        e.preventDefault();
        const ok = await attempt(slot, () => api("POST", envPath("/applications"), { name: appName.value.trim() }));
        if (ok) { toast(`Application ${ok.name} created`); Sentinel.route(); }
      } }, field("New application", appName), h("button", { type: "submit" }, "Create application")));
      const appSel = h("select", { name: "application" }, apps.data.map((a) => h("option", { value: a.name }, a.name)));
      const keyName = h("input", { name: "name", placeholder: "optional" });
      const days = h("input", { name: "expires_in_days", type: "number", min: "1", placeholder: "never" });
      target.append(h("form.inline", { "aria-label": "Create a key", onsubmit: async (e) => {
        e.preventDefault();
        const body = { application: appSel.value };
        if (keyName.value.trim()) body.name = keyName.value.trim();
        if (days.value) body.expires_in_days = Number(days.value);
        const created = await attempt(slot, () => api("POST", envPath("/keys"), body));
        if (created) showKeyOnce(reveal, created);
      } }, field("Application", appSel), field("Key name", keyName), field("Expires in days", days),
      h("button", { type: "submit", disabled: !apps.data.length }, "Create key")));
    }
    target.append(
      table("Applications", ["name", "created"], apps.data.map((a) => [a.name, fmt.time(a.created_at)]), "No application yet."),
      table("Keys (the key itself is shown once, when created)", ["name", "prefix", "application", "state", "created", "last used", "expires", ""],
        keys.data.map((k) => [k.name, h("code", {}, k.prefix), k.application, h(`span.badge.${k.state}`, {}, k.state),
          fmt.time(k.created_at), fmt.time(k.last_used_at), fmt.time(k.expires_at),
          canWrite() && k.state === "active" ? h("span.actions", {},
            rotate ? h("button.secondary", { type: "button", onclick: async () => {
              const created = await attempt(slot, () => api("POST", envPath(`/keys/${encodeURIComponent(k.id)}/rotate`), {}));
              if (created && created.key) showKeyOnce(reveal, created);
            } }, "Rotate") : null,
            h("button.danger", { type: "button", onclick: async () => {
              if (!confirm(`Revoke key ${k.prefix}? Clients using it fail at once.`)) return;
              const ok = await attempt(slot, () => api("POST", envPath(`/keys/${encodeURIComponent(k.id)}/revoke`), {}));
              if (ok) { toast(`Key ${k.prefix} revoked`); Sentinel.route(); }
            } }, "Revoke")) : ""]), "No key yet."));
  };

  /// The new key, once, with a copy button. It is not kept anywhere.
  function showKeyOnce(slot, created) {
    const value = h("input.secret", { id: "new-key", readonly: true, value: created.key, "aria-describedby": "new-key-note" });
    slot.textContent = "";
    slot.append(h("section.once", { "aria-labelledby": "new-key-title" },
      h("h2", { id: "new-key-title" }, `New key for ${created.application}`),
      h("p", { id: "new-key-note" }, "Copy it now: Sentinel stores only a digest and cannot show it again."),
      field("Key", value),
      h("button", { type: "button", id: "copy-key", onclick: async () => {
        value.select();
        try { await navigator.clipboard.writeText(value.value); toast("Key copied"); } catch (_) {
          document.execCommand("copy"); toast("Key selected; copy it with Ctrl+C");
        }
      } }, "Copy"),
      h("button.secondary", { type: "button", onclick: () => { slot.textContent = ""; Sentinel.route(); } }, "Done, hide it")));
    value.focus();
  }

  // ---- Providers -------------------------------------------------------------

  P.providers = async function (target) {
    if (needEnv(target)) return;
    const [health, stats] = await Promise.all([
      api("GET", `/api/v1/providers/health?env=${encodeURIComponent(env())}`),
      api("GET", envPath("/stats?window=1h")),
    ]);
    target.append(h("h1", {}, `Providers · ${env()}`),
      h("p.muted", {}, "Breaker state and recent errors as this replica saw them; request counts from the last hour's records."),
      healthTable(health.data, stats.providers));
    const latest = await api("GET", envPath("/providers/tests"));
    const results = h("div", {});
    const showTests = (data) => {
      results.textContent = "";
      results.append(table("Connectivity tests, latest per provider and model", ["provider", "model", "outcome", "status", "latency", "error", "tested"],
        data.map((t) => [t.provider, t.model, h(`span.badge.${t.ok ? "closed" : "open"}`, {}, t.ok ? "ok" : "failed"),
          t.status === null || t.status === undefined ? "—" : String(t.status), fmt.ms(t.latency_ms), t.error || "—", fmt.time(t.time)]),
        "No connectivity test has run in this environment yet."));
    };
    showTests(latest.data);
    const section = h("section", { "aria-label": "Providers: test connectivity" },
      h("h2", {}, "Test connectivity"),
      h("p.muted", {}, "One minimal call (max_tokens 1) to each provider and model the route plans use, through the real provider clients; outcomes are kept for the readiness review."));
    if (canWrite()) {
      const slot = h("div", {});
      section.append(slot, h("button", { type: "button", onclick: async (e) => {
        e.target.disabled = true;
        const tested = await attempt(slot, () => api("POST", envPath("/providers/test"), {}));
        e.target.disabled = false;
        if (tested) {
          const failed = tested.data.filter((t) => !t.ok).length;
          toast(failed ? `${failed} of ${tested.data.length} failed` : `All ${tested.data.length} answered`);
          showTests((await api("GET", envPath("/providers/tests"))).data);
        }
      } }, "Test connectivity"));
    }
    section.append(results);
    target.append(section, await credentials());
  };

  /// Provider credentials (secrets): names, versions and fingerprints,
  /// never values; set or rotate one with a value typed here, which is sent
  /// once and never shown back.
  async function credentials() {
    const list = await api("GET", envPath("/secrets"));
    const section = h("section", { "aria-label": "Provider credentials" },
      h("h2", {}, "Credentials"),
      h("p.muted", {}, "Secrets are encrypted at rest and never shown again; the fingerprint tells two values apart without revealing them. Rotating adds a version the gateways use from the next request."),
      table("Secrets", ["name", "version", "fingerprint", "updated"],
        list.data.map((x) => [x.name, String(x.version), h("code", {}, x.fingerprint), fmt.time(x.updated_at)]), "No secrets in this environment."));
    if (!canWrite()) return section;
    const name = h("input", { placeholder: "openai-prod", autocomplete: "off" });
    const value = h("input", { type: "password", autocomplete: "off" });
    const slot = h("div", {});
    const send = async (rotate) => {
      const path = envPath(`/secrets/${encodeURIComponent(name.value.trim())}${rotate ? "/rotate" : ""}`);
      const done = await attempt(slot, () => api(rotate ? "POST" : "PUT", path, { value: value.value }));
      value.value = "";
      if (done) { toast(`Secret ${done.name || name.value} is at version ${done.version}`); Sentinel.route(); }
    };
    section.append(slot, h("form", { onsubmit: (e) => e.preventDefault() },
      field("Secret name", name), field("Value", value, "sent once over this session, never displayed"),
      h("button", { type: "button", onclick: () => send(false) }, "Set credential"),
      h("button.secondary", { type: "button", onclick: () => send(true) }, "Rotate credential")));
    return section;
  }

  // ---- Configuration -----------------------------------------------------------

  P.config = async function (target, arg) {
    if (needEnv(target)) return;
    const [current, history] = await Promise.all([api("GET", envPath("/config")), api("GET", envPath("/config/revisions"))]);
    const slot = h("div", {});
    target.append(h("h1", {}, `Configuration · ${env()}`),
      h("p", {}, current.revision ? `Revision ${current.revision} by ${current.author}: “${current.message}” (${fmt.time(current.created_at)})` : "No revision applied yet."),
      h("details", {}, h("summary", {}, "Current document"), h("pre.doc", {}, current.document || "(empty)")),
      table("History, newest first", ["revision", "author", "message", "applied"],
        history.data.map((r) => [String(r.revision), r.author, r.message, fmt.time(r.created_at)]), "No history."));
    target.append(await changeRequests(arg));
    if (!canWrite()) return;
    const doc = h("textarea", { rows: 14, spellcheck: "false" }, current.document || "");
    const message = h("input", { placeholder: "what and why" });
    const planOut = h("div", {});
    target.append(h("h2", {}, "Change the document"), slot,
      h("form", { onsubmit: (e) => e.preventDefault() }, field("Document (YAML)", doc), field("Message", message),
        h("button.secondary", { type: "button", onclick: async () => {
          const plan = await attempt(slot, () => api("POST", envPath("/config/plan"), { document: doc.value }));
          if (plan) { planOut.textContent = ""; planOut.append(planView(plan)); }
        } }, "Plan (check, change nothing)"),
        h("button", { type: "button", onclick: async () => {
          const proposed = await attempt(slot, () => api("POST", envPath("/config"), { document: doc.value, message: message.value, base_revision: current.revision }));
          if (proposed && proposed.status === "pending") {
            toast(`Change request ${proposed.change_request.id} waits for an approver`);
            location.hash = `#/config/${proposed.change_request.id}`;
          } else if (proposed) {
            toast(`Revision ${proposed.revision} applied`);
            Sentinel.route();
          }
        } }, "Apply")), planOut);
    target.append(promoteForm());
  };

  /// The environment's change requests; `open` (a number) is shown in full
  /// with its diff and the review actions the operator may take.
  async function changeRequests(open) {
    const list = await api("GET", envPath("/changes"));
    const section = h("section", { "aria-label": "Configuration: change requests" },
      h("h2", {}, "Change requests"),
      h("p.muted", {}, "Every change is a change request against a base revision. Protected environments apply one only after an approver other than its author approves it; one whose base moved is stale and must be planned again."),
      table("Change requests, newest first", ["#", "kind", "status", "author", "message", "opened", ""],
        list.data.map((c) => [String(c.id), c.source ? `${c.kind} from ${c.source.environment} r${c.source.revision}` : c.kind,
          h(`span.badge.status-${c.status}`, {}, c.status), c.author, c.message, fmt.time(c.created_at),
          h("a", { href: `#/config/${c.id}` }, `Review #${c.id}`)]), "No change requests yet."));
    if (open) section.append(await changeRequest(open));
    return section;
  }

  async function changeRequest(number) {
    const c = await api("GET", envPath(`/changes/${encodeURIComponent(number)}`));
    const slot = h("div", {});
    const box = h("article.change", { "aria-label": `Change request ${c.id}` },
      h("h3", {}, `Change request ${c.id}: ${c.message}`),
      h("p", {}, `${c.status} · ${c.kind} by ${c.author}, ${fmt.time(c.created_at)} · planned against revision ${c.base_revision}, current ${c.current_revision ?? "none"}`,
        c.approvals.length ? ` · approved by ${c.approvals.map((a) => a.by).join(", ")}` : "",
        c.reason ? ` · ${c.reason}` : ""),
      planView({ valid: true, diff: c.diff, base_revision: c.current_revision, errors: [], warnings: [] }), slot);
    const act = (label, path, body, done) => h("button", { type: "button", onclick: async () => {
      const answer = await attempt(slot, () => api("POST", envPath(`/changes/${c.id}/${path}`), body));
      if (answer) { toast(done(answer)); Sentinel.route(); }
    } }, label);
    if (c.status === "pending") {
      const actions = h("div.actions", {});
      if (canApprove()) {
        actions.append(
          act("Approve", "approve", {}, () => `Change request ${c.id} approved`),
          act("Approve and apply", "approve", { apply: true }, (a) => a.status === "applied" ? `Applied as revision ${a.revision}` : `Change request ${c.id} approved`));
      }
      if (c.approvals.length && (canWrite() || canApprove())) {
        actions.append(act("Apply", "apply", undefined, (a) => `Applied as revision ${a.revision}`));
      }
      if (canApprove() || canWrite()) {
        const reason = h("input", { placeholder: "why not" });
        actions.append(field("Reason", reason),
          h("button.secondary", { type: "button", onclick: async () => {
            const answer = await attempt(slot, () => api("POST", envPath(`/changes/${c.id}/reject`), { reason: reason.value }));
            if (answer) { toast(`Change request ${c.id} rejected`); Sentinel.route(); }
          } }, "Reject"));
      }
      box.append(actions);
    }
    box.append(h("details", {}, h("summary", {}, "Proposed document"), h("pre.doc", {}, c.document || "")));
    return box;
  }

  /// Opens a promotion: another environment's route plans and policies (or
  /// the sections chosen) proposed here as a change request.
  function promoteForm() {
    const others = Sentinel.state.envs.filter((e) => e.name !== env());
    if (!others.length) return h("div", {});
    const from = h("select", {}, others.map((e) => h("option", { value: e.name }, e.name)));
    const only = h("input", { placeholder: "route_plans, policies" });
    const slot = h("div", {});
    return h("section", { "aria-label": "Promote" }, h("h2", {}, "Promote from another environment"),
      h("p.muted", {}, "Keys and secrets never travel; providers and secrets the promoted sections name must already exist here."),
      slot, h("form", { onsubmit: (e) => e.preventDefault() }, field("From", from),
        field("Sections", only, "comma-separated; route_plans and policies when empty"),
        h("button", { type: "button", onclick: async () => {
          const sections = only.value.split(",").map((x) => x.trim()).filter(Boolean);
          const proposed = await attempt(slot, () => api("POST", envPath("/promotions"), { from: from.value, only: sections }));
          if (proposed) {
            toast(proposed.status === "pending" ? `Change request ${proposed.change_request.id} waits for an approver` : `Applied as revision ${proposed.revision}`);
            location.hash = `#/config/${proposed.change_request.id}`;
          }
        } }, "Open promotion")));
  }

  function planView(plan) {
    const text = (plan.diff && plan.diff.text) || "";
    const lines = text.split("\n").filter((l) => l.length).map((l) =>
      h(`span.diff-${l[0] === "+" ? "add" : l[0] === "-" ? "remove" : "same"}`, {}, `${l}\n`));
    return h("div", {}, h("p", {}, plan.valid ? "The document is valid." : "The document has errors.",
      plan.diff ? ` Against revision ${plan.base_revision}: +${plan.diff.added} −${plan.diff.removed} lines.` : ""),
      ...(plan.errors || []).map((e) => h("div.error", {}, h("code", {}, e.path), ` ${e.message}`)),
      ...(plan.warnings || []).map((w) => h("div.warning", {}, h("code", {}, w.path), ` ${w.message}`)),
      lines.length ? h("pre.diff", {}, lines) : null);
  }

  // ---- Policies and budgets ------------------------------------------------------

  P.policies = async function (target) {
    if (needEnv(target)) return;
    const keys = await api("GET", envPath("/keys"));
    const active = keys.data.filter((k) => k.state === "active");
    const keySel = h("select", {}, active.map((k) => h("option", { value: k.id }, `${k.application} · ${k.name} (${k.prefix})`)));
    const model = h("input", { placeholder: "a model the application asks for", required: true });
    const out = h("div", {});
    target.append(h("h1", {}, `Policies and budgets · ${env()}`),
      h("p.muted", {}, "What policy would decide for a request of an application's key, rule by rule, with usage against every limit and budget (what ", h("code", {}, "sentinel policy explain"), " shows). Nothing is counted."),
      h("form.inline", { onsubmit: async (e) => {
        e.preventDefault();
        const x = await attempt(out, () => api("POST", envPath("/policy/explain"), { key: keySel.value, model: model.value.trim() }));
        if (x) out.append(explainView(x));
      } }, field("Key (application)", keySel), field("Model", model), h("button", { type: "submit", disabled: !active.length }, "Explain")), out);
    target.append(await shadowFindings());
  }

  /// What shadow-mode rules would have refused among the latest allowed
  /// requests: the evidence to read before switching a policy to enforce.
  async function shadowFindings() {
    const page = await api("GET", `/api/v1/requests?env=${encodeURIComponent(env())}&policy=allowed&limit=500`);
    const rows = [];
    const byRule = new Map();
    for (const r of page.data) {
      for (const f of ((r.policy && r.policy.findings) || []).filter((x) => x.mode === "shadow")) {
        rows.push([fmt.time(r.time), h("a", { href: `#/requests/${encodeURIComponent(r.id)}` }, r.id.slice(0, 13)), r.app_name || "—", h("code", {}, f.rule), f.message]);
        byRule.set(f.rule, (byRule.get(f.rule) || 0) + 1);
      }
    }
    return h("section", { "aria-label": "Shadow-mode findings" },
      h("h2", {}, "Shadow-mode findings"),
      h("p.muted", {}, `What rules in shadow mode would have refused, among the latest ${page.data.length} allowed requests.`),
      byRule.size ? table("Would-be refusals by rule", ["rule", "requests"], [...byRule].map(([rule, n]) => [h("code", {}, rule), fmt.num(n)])) : null,
      table("Would-be refusals, newest first", ["time", "request", "application", "rule", "why"], rows.slice(0, 100),
        "No shadow-mode rule would have refused any of these requests."));
  }

  function explainView(x) {
    const cols = (rows) => [...new Set(rows.flatMap((r) => Object.keys(r)))];
    const cell = (v) => (v === null || v === undefined ? "—" : typeof v === "object" ? JSON.stringify(v) : String(v));
    const grid = (title, rows) => rows.length ? table(title, cols(rows), rows.map((r) => cols(rows).map((c) => cell(r[c])))) : null;
    return h("div", {},
      h("p", {}, "Decision: ", h("strong", {}, x.decision), x.rule ? [" by rule ", h("code", {}, x.rule)] : "",
        x.revision ? ` (revision ${x.revision})` : ""),
      x.counters_error ? h("div.warning", {}, `Counters unavailable: ${x.counters_error}`) : null,
      grid("Limits and budgets: usage against each", x.limits || []),
      grid("Checks, rule by rule", x.checks || []),
      (x.limits || []).length + (x.checks || []).length === 0
        ? h("p.muted", {}, "No policy applies to this key: no checks, limits or budgets.") : null);
  }

  // ---- Alerts ------------------------------------------------------------------

  P.alerts = async function (target) {
    if (needEnv(target)) return;
    const [alerts, history] = await Promise.all([api("GET", envPath("/alerts")), api("GET", envPath("/alerts/history"))]);
    const firing = alerts.rules.filter((r) => r.state === "firing");
    target.append(h("h1", {}, `Alerts · ${env()}`),
      h("h2", {}, `Firing (${firing.length})`),
      firing.length ? h("ul.alerts", {}, firing.map((r) => h("li.firing", {}, h("strong", {}, r.name), ` since ${fmt.time(r.since)}, value ${r.value}`))) : h("p.ok", {}, "Nothing is firing."),
      table("Rules", ["rule", "signal", "above", "for", "state", "value", "notify"],
        alerts.rules.map((r) => [r.name, r.provider ? `${r.signal} (${r.provider})` : r.signal, String(r.above), `${r.for_s} s`,
          h(`span.badge.${r.state}`, {}, r.state), r.value === null ? "—" : String(r.value), r.notify.join(", ")]), "No alert rule in this environment's config."),
      ...(alerts.problems || []).map((p) => h("div.warning", {}, p)),
      table("History, newest first", ["time", "rule", "state", "value", "deliveries"],
        history.data.map((e) => [fmt.time(e.time), e.rule, e.state, String(e.value ?? "—"),
          (e.deliveries || []).map((d) => `${d.destination}: ${d.ok ? "ok" : "failed"}`).join(", ") || "—"]), "No alert has fired yet."));
  };

  // ---- Audit -------------------------------------------------------------------

  P.audit = async function (target, _arg, query) {
    const q = new URLSearchParams(query);
    const inputs = {
      action: h("input", { value: query.get("action") || "", placeholder: "e.g. key.create" }),
      since: h("input", { value: query.get("since") || "", placeholder: "RFC 3339 or unix ms" }),
      until: h("input", { value: query.get("until") || "", placeholder: "RFC 3339 or unix ms" }),
    };
    const onlyEnv = h("input", { type: "checkbox", checked: query.get("env") ? true : false });
    const events = await api("GET", `/api/v1/audit?${q}`);
    const verifyOut = h("div", { role: "status" });
    target.append(h("h1", {}, "Audit"),
      h("form.inline", { onsubmit: (e) => {
        e.preventDefault();
        const n = new URLSearchParams();
        for (const [k, el] of Object.entries(inputs)) if (el.value.trim()) n.set(k, el.value.trim());
        if (onlyEnv.checked && env()) n.set("env", env());
        location.hash = `#/audit?${n}`;
      } }, field("Action", inputs.action), field("Since", inputs.since), field("Until", inputs.until),
      field(`Only ${env() || "this environment"}`, onlyEnv), h("button", { type: "submit" }, "Filter")),
      h("div.toolbar", {}, h("button.secondary", { type: "button", id: "verify-chain", onclick: async () => {
        const v = await attempt(verifyOut, () => api("GET", "/api/v1/audit/verify"));
        if (v) verifyOut.append(h(v.ok ? "p.ok" : "p.error", {}, v.ok
          ? `Chain intact: ${v.events} events, every hash and link matches.`
          : `Chain broken at event ${v.first_bad_seq} of ${v.events}.`));
      } }, "Verify the hash chain"), verifyOut),
      table("Audit events, newest first", ["#", "time", "actor", "action", "target", "source", "details"],
        events.data.map((e) => [String(e.seq), fmt.time(e.time), e.actor, h("code", {}, e.action), e.target, e.source_addr || "—",
          h("code.details", {}, JSON.stringify(e.details))]), "No audit event matches."));
  };

  // ---- Readiness review --------------------------------------------------------

  /// One judged item: status badge, title, evidence lines, the fix.
  function reviewItem(item) {
    return h(`li.review-item.${item.status}`, { "data-item": item.id },
      h(`span.badge.r-${item.status}`, {}, item.status),
      " ", h("strong", {}, item.title),
      item.required ? null : h("span.muted", {}, " (informational)"),
      " ", h("code.muted", {}, item.id),
      h("ul.evidence", {}, item.evidence.map((e) => h("li", {}, e))),
      item.fix ? h("p.fix", {}, h("strong", {}, "Fix: "), item.fix) : null);
  }

  P.review = async function (target, _arg, query) {
    if (needEnv(target)) return;
    const staging = query.get("staging");
    const review = await api("GET", envPath(`/review${staging ? `?staging=${encodeURIComponent(staging)}` : ""}`));
    const s = review.summary;
    const verdict = h(`p.verdict.${review.ready ? "ready" : "not-ready"}`, { role: "status" },
      h("strong", {}, review.ready ? "Ready" : "Not ready"),
      `: ${s.pass} passed, ${s.fail} failed (${s.required_failed} required), ${s.unknown} unknown. `,
      `Configuration revision ${review.config_revision ?? "none"}, judged ${fmt.time(review.generated_at)}.`);
    const actions = h("div.actions", {});
    const out = h("div", { role: "status" });
    if (canWrite() && await hasRoute("POST", "/api/v1/environments/{env}/verify")) {
      actions.append(h("button", { type: "button", id: "run-verify", onclick: async (e) => {
        e.target.disabled = true;
        const run = await attempt(out, () => api("POST", envPath("/verify")));
        e.target.disabled = false;
        if (run) {
          toast(run.ok ? "Verify passed" : "Verify found failures");
          Sentinel.route();
        }
      } }, "Run verify"));
    }
    const latest = await api("GET", envPath("/verify")).catch(() => null);
    const runTable = latest
      ? table(`Latest verify run, ${fmt.time(latest.started_at)} by ${latest.actor}: ${latest.ok ? "passed" : "failed"}`,
        ["step", "result", "time", "detail", "request"],
        latest.steps.map((st) => [st.name, h(`span.badge.r-${st.ok ? "pass" : "fail"}`, {}, st.ok ? "ok" : "failed"),
          fmt.ms(st.duration_ms), st.detail,
          st.request_id ? h("a", { href: `#/requests/${encodeURIComponent(st.request_id)}` }, st.request_id) : "—"]))
      : h("p.muted", {}, "No verify run yet: ", h("code", {}, `sentinel verify --env ${env()}`), " proves the request and operator flows.");
    target.append(h("h1", {}, `Readiness review · ${env()}`),
      h("p.muted", {}, "Judged from live state: the questions a production review must answer and the rollout checklist. ",
        h("code", {}, `sentinel review --env ${env()}`), " prints the same and exits 1 when a required item fails. ",
        h("a", { href: `${Sentinel.docsBase}/review` }, "What each item checks")),
      verdict, actions, out,
      ...review.questions.map((q) => h("section.review", { "data-question": q.id },
        h("h2", {}, h(`span.badge.r-${q.status}`, {}, q.status), " ", q.question),
        h("ul.review-items", {}, q.items.map(reviewItem)))),
      h("section.review", { "data-question": "checklist" },
        h("h2", {}, "Rollout checklist"),
        h("ul.review-items", {}, review.checklist.map(reviewItem))),
      h("section.review", { "data-question": "verify" }, h("h2", {}, "Proving the flows"), runTable));
  };

  // ---- Settings ----------------------------------------------------------------

  P.settings = async function (target) {
    if (needEnv(target)) return;
    const retention = await api("GET", envPath("/retention"));
    const since = h("input", { value: new Date(Date.now() - 864e5).toISOString().slice(0, 19) + "Z" });
    const until = h("input", { placeholder: "now" });
    const format = h("select", {}, ["jsonl", "csv"].map((f) => h("option", { value: f }, f)));
    const links = h("div.downloads", {});
    const refresh = () => {
      const q = new URLSearchParams({ env: env(), since: since.value.trim(), format: format.value });
      if (until.value.trim()) q.set("until", until.value.trim());
      links.textContent = "";
      links.append(
        h("a.button", { href: `/api/v1/export/requests?${q}`, download: `requests-${env()}.${format.value}` }, "Download request records"),
        h("a.button", { href: `/api/v1/export/audit?${q}`, download: `audit-${env()}.${format.value}` }, "Download audit events"));
    };
    for (const el of [since, until, format]) el.addEventListener("change", refresh);
    refresh();
    target.append(h("h1", {}, `Settings · ${env()}`),
      h("h2", {}, "Retention"),
      h("p", {}, retention.requests_days
        ? `Request records are kept ${retention.requests_days} days (config revision ${retention.revision}, `
        : `Request records are kept forever (no retention in revision ${retention.revision}; `,
        h("code", {}, "retention.requests_days"), "). Audit events and stored bodies follow ",
        h("code", {}, "retention.audit_days"), " and ", h("code", {}, "retention.bodies"), " of the configuration."),
      h("h2", {}, "Exports"),
      h("p.muted", {}, "Downloads stream from the admin API and are audited."),
      h("form.inline", { onsubmit: (e) => e.preventDefault() }, field("Since", since), field("Until", until), field("Format", format)),
      links);
  };

  Sentinel.boot();
})();
