// Browser tests of Sentinel's web console (see run.sh): sign in, create a
// key and see it once, send a request through the gateway with it, find it
// from the triage box and see its attempts, follow an error code to its
// docs entry, a viewer (auditor) sees no action buttons, and a forged POST
// without the CSRF token is refused. Screenshots of the main pages are
// saved for review. A change proposed in a protected environment waits
// for a second operator's approval, and is applied once approved.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(path.join(process.env.CONSOLE_NODE_MODULES, "/"));
const { chromium } = require("playwright-core");

const CONSOLE = process.env.SENTINEL_CONSOLE;
const GATEWAY = process.env.SENTINEL_GATEWAY;
const ADMIN_TOKEN = process.env.SENTINEL_TOKEN;
const SHOTS = process.env.SCREENSHOTS;
const ENV = "web";
const MODEL = "gpt-web";

const DOCUMENT = `providers:
  mock:
    kind: mock
    options: { stream_chunks: 2 }
route_plans:
  chat:
    models: [${MODEL}]
    targets:
      - { provider: mock, model: demo-echo }
retention: { requests_days: 30 }
`;

let browser;
let viewerToken;
const pageErrors = [];
const shared = {};

/// The admin API with the Bearer token, as the CLI calls it.
async function admin(method, urlPath, body) {
  const response = await fetch(`${CONSOLE}${urlPath}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  assert.ok(response.ok, `${method} ${urlPath} -> ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

async function signIn(token) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.on("pageerror", (e) => pageErrors.push(e.message));
  await page.goto(`${CONSOLE}/console/`);
  await page.getByLabel("Operator token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator("#app").waitFor({ state: "visible" });
  return { context, page };
}

/// Waits until the gateway serves MODEL for `key` (config and keys reach
/// the gateway asynchronously).
async function waitForGateway(key) {
  for (let i = 0; i < 300; i++) {
    const r = await fetch(`${GATEWAY}/v1/models`, { headers: { authorization: `Bearer ${key}` } });
    if (r.ok && (await r.json()).data.some((m) => m.id === MODEL)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail("the gateway never served the test model");
}

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
  });
  await admin("POST", "/api/v1/environments", { name: ENV });
  await admin("POST", `/api/v1/environments/${ENV}/applications`, { name: "checkout" });
  await admin("POST", `/api/v1/environments/${ENV}/config`, { document: DOCUMENT, message: "browser tests" });
  viewerToken = (await admin("POST", "/api/v1/operators", { name: "vera", role: "auditor" })).token;
});

after(async () => {
  if (browser) await browser.close();
});

test("sign in: a wrong token says why, the right one opens the console", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await page.goto(`${CONSOLE}/console/`);
  await page.getByLabel("Operator token").fill(`sntop_${"0".repeat(64)}`);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByText("sign-in failed").waitFor();
  const link = page.locator("#signin-error a.code");
  assert.match(await link.getAttribute("href"), /\/console\/docs\/console#unauthorized$/);
  await shot(page, "00-sign-in-failed");
  await page.getByLabel("Operator token").fill(ADMIN_TOKEN);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator("#app").waitFor({ state: "visible" });
  assert.match(await page.locator("#who").textContent(), /admin/);
  assert.equal(await page.locator("#org-name").textContent(), "default");
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === "sentinel_session");
  assert.ok(session.httpOnly, "HttpOnly");
  assert.equal(session.sameSite, "Strict");
  // Scripts cannot read it.
  assert.equal(await page.evaluate(() => document.cookie), "");
  await page.getByRole("heading", { name: /Overview/ }).waitFor();
  await context.close();
});

test("create a key and see it once", async () => {
  const { context, page } = await signIn(ADMIN_TOKEN);
  await page.getByRole("link", { name: "Keys and applications" }).click();
  await page.getByRole("button", { name: "Create key" }).waitFor();
  await page.getByLabel("Key name").fill("web-test");
  await page.getByRole("button", { name: "Create key" }).click();
  const value = page.locator("#new-key");
  await value.waitFor();
  const key = await value.inputValue();
  assert.match(key, /^snt_web_/);
  await page.getByRole("button", { name: "Copy" }).click();
  await shot(page, "02-key-shown-once");
  await page.getByRole("button", { name: "Done, hide it" }).click();
  await page.getByRole("table", { name: /Keys/ }).getByText("web-test").waitFor();
  const text = await page.locator("main").textContent();
  assert.ok(!text.includes(key), "the key is not shown again");
  await page.reload();
  await page.getByRole("table", { name: /Keys/ }).getByText("web-test").waitFor();
  assert.ok(!(await page.content()).includes(key), "nor after a reload");
  await shot(page, "03-keys");
  shared.key = key;
  await context.close();
});

test("a request through the gateway is found from the triage box, with its attempts", async () => {
  assert.ok(shared.key, "the key test ran first");
  await waitForGateway(shared.key);
  const response = await fetch(`${GATEWAY}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${shared.key}`, "content-type": "application/json" },
    body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "hello console" }] }),
  });
  assert.equal(response.status, 200, await response.clone().text());
  const id = response.headers.get("x-sentinel-request-id");
  assert.ok(id);
  // A client error too: its code links to the docs.
  const failed = await fetch(`${GATEWAY}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${shared.key}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "no-such-model", messages: [{ role: "user", content: "x" }] }),
  });
  const failedBody = await failed.json();
  assert.equal(failedBody.error.code, "model_not_found");

  const { context, page } = await signIn(ADMIN_TOKEN);
  // Records reach the store asynchronously: retry the triage until found.
  for (let i = 0; ; i++) {
    await page.goto(`${CONSOLE}/console/#/requests`);
    await page.getByLabel(/Request id from a client error/).fill(id);
    await page.getByRole("button", { name: "Open" }).click();
    await page.waitForFunction((rid) => location.hash === `#/requests/${rid}`, id);
    const found = await page.getByRole("heading", { name: /Attempts/ })
      .waitFor({ timeout: 1000 }).then(() => true, () => false);
    if (found) break;
    assert.ok(i < 60, "the request record never appeared");
  }
  assert.equal(await page.getByRole("heading", { name: "Attempts (1)" }).count(), 1);
  const attempt = page.locator("li.attempt").first();
  assert.match(await attempt.textContent(), /mock/);
  assert.match(await attempt.textContent(), /demo-echo/);
  assert.match(await page.locator("main").textContent(), /checkout/);
  await shot(page, "04-request");

  // The failed request: paste the whole client error body into the triage box.
  for (let i = 0; ; i++) {
    await page.goto(`${CONSOLE}/console/#/requests`);
    await page.getByLabel(/Request id from a client error/).fill(JSON.stringify(failedBody));
    await page.getByRole("button", { name: "Open" }).click();
    const found = await page.locator("main a.code").first()
      .waitFor({ timeout: 1000 }).then(() => true, () => false);
    if (found) break;
    assert.ok(i < 60, "the failed request's record never appeared");
  }
  const link = page.locator("main a.code").first();
  assert.match(await link.getAttribute("href"), /\/console\/docs\/errors#model_not_found$/);
  await link.click();
  await page.locator("tr#model_not_found").waitFor();
  await shot(page, "05-docs-error-entry");

  await page.goto(`${CONSOLE}/console/#/requests`);
  await page.getByRole("table", { name: /Requests/ }).waitFor();
  await shot(page, "06-requests");
  await context.close();
});

test("the main pages render, with screenshots", async () => {
  const { context, page } = await signIn(ADMIN_TOKEN);
  for (const [hash, heading, name] of [
    ["#/overview", /Overview/, "01-overview"],
    ["#/providers", /Providers/, "07-providers"],
    ["#/config", /Configuration/, "08-config"],
    ["#/policies", /Policies/, "09-policies"],
    ["#/alerts", /Alerts/, "10-alerts"],
    ["#/audit", /Audit/, "11-audit"],
    ["#/settings", /Settings/, "12-settings"],
  ]) {
    await page.goto(`${CONSOLE}/console/${hash}`);
    await page.getByRole("heading", { level: 1, name: heading }).waitFor();
    assert.equal(await page.locator("main .error").count(), 0, `${hash} shows no error`);
    if (hash === "#/overview") {
      assert.ok((await page.locator("svg.chart").count()) >= 4, "charts drawn");
    }
    if (hash === "#/audit") {
      await page.getByRole("button", { name: "Verify the hash chain" }).click();
      await page.getByText("Chain intact").waitFor();
    }
    if (hash === "#/policies") {
      await page.getByLabel("Model").fill(MODEL);
      await page.getByRole("button", { name: "Explain" }).click();
      await page.getByText("Decision:").waitFor();
      assert.match(await page.locator("main").textContent(), /Decision: allowed/);
      await page.getByRole("region", { name: "Shadow-mode findings" }).waitFor();
    }
    if (hash === "#/settings") {
      await page.getByText("kept 30 days").waitFor();
    }
    if (hash === "#/config") {
      await page.getByRole("region", { name: "Configuration: change requests" }).waitFor();
    }
    await shot(page, name);
  }
  // Keyboard: the skip link and the navigation are reachable with Tab.
  await page.goto(`${CONSOLE}/console/#/overview`);
  await page.reload();
  await page.getByRole("heading", { level: 1, name: /Overview/ }).waitFor();
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.textContent), "Skip to content");
  await context.close();
});

test("providers: test connectivity, and set and rotate a credential never shown back", async () => {
  const { context, page } = await signIn(ADMIN_TOKEN);
  await page.goto(`${CONSOLE}/console/#/providers`);
  await page.getByRole("button", { name: "Test connectivity" }).click();
  const tests = page.getByRole("table", { name: /Connectivity tests/ });
  await tests.getByText("demo-echo").waitFor();
  assert.match(await tests.textContent(), /ok/);
  const value = "sk-browser-CANARY-5e1f";
  await page.getByLabel("Secret name").fill("probe-key");
  await page.getByLabel("Value").fill(value);
  await page.getByRole("button", { name: "Set credential" }).click();
  await page.getByRole("table", { name: "Secrets" }).getByText("probe-key").waitFor();
  await page.getByLabel("Secret name").fill("probe-key");
  await page.getByLabel("Value").fill(`${value}-2`);
  await page.getByRole("button", { name: "Rotate credential" }).click();
  await page.getByText("Secret probe-key is at version 2").waitFor();
  await page.reload();
  await page.getByRole("table", { name: "Secrets" }).getByText("probe-key").waitFor();
  assert.ok(!(await page.content()).includes(value), "the value is never shown back");
  await shot(page, "16-providers");
  await context.close();
});

/// Selects environment `name` in the switcher.
async function selectEnv(page, name) {
  await page.locator("#env-select").selectOption(name);
}

test("a change in a protected environment is applied only after a second operator approves it", async () => {
  await admin("POST", "/api/v1/environments", { name: "vault", protected: true });
  const author = (await admin("POST", "/api/v1/operators", { name: "olga", role: "operator" })).token;
  const reviewer = (await admin("POST", "/api/v1/operators", { name: "abe", role: "approver" })).token;

  // The author proposes: it waits.
  const first = await signIn(author);
  await selectEnv(first.page, "vault");
  await first.page.goto(`${CONSOLE}/console/#/config`);
  await first.page.getByRole("heading", { level: 1, name: /Configuration · vault/ }).waitFor();
  await first.page.getByLabel("Document (YAML)").fill(DOCUMENT);
  await first.page.getByLabel("Message").fill("first routes for vault");
  await first.page.getByRole("button", { name: "Apply", exact: true }).click();
  await first.page.getByRole("article", { name: "Change request 1" }).waitFor();
  assert.match(await first.page.getByRole("article", { name: "Change request 1" }).textContent(), /pending/);
  // An operator does not review: no approve button for the author.
  assert.equal(await first.page.getByRole("button", { name: "Approve" }).count(), 0);
  let current = await admin("GET", "/api/v1/environments/vault/config");
  assert.ok(!current.revision, "nothing applied before the approval");
  await shot(first.page, "14-change-pending");
  await first.context.close();

  // A second operator reviews the diff and approves and applies it.
  const second = await signIn(reviewer);
  await selectEnv(second.page, "vault");
  await second.page.goto(`${CONSOLE}/console/#/config/1`);
  const change = second.page.getByRole("article", { name: "Change request 1" });
  await change.waitFor();
  assert.match(await change.locator("pre.diff").textContent(), /\+route_plans:/);
  await second.page.getByRole("button", { name: "Approve and apply" }).click();
  await second.page.getByText(/Applied as revision 1/).waitFor();
  current = await admin("GET", "/api/v1/environments/vault/config");
  assert.equal(current.revision, 1);
  assert.equal(current.message, "first routes for vault");
  // Reload the page: the stored change request now says applied (the page
  // re-renders asynchronously, so wait for the text rather than read once).
  await second.page.reload();
  await second.page.getByRole("article", { name: "Change request 1" }).filter({ hasText: /applied/ }).waitFor();
  await shot(second.page, "15-change-applied");
  await second.context.close();
});

test("a viewer (auditor) sees no action buttons", async () => {
  const { context, page } = await signIn(viewerToken);
  assert.match(await page.locator("#who").textContent(), /auditor/);
  await selectEnv(page, ENV);
  await page.goto(`${CONSOLE}/console/#/keys`);
  await page.getByRole("table", { name: /Keys/ }).waitFor();
  for (const name of ["Create key", "Create application", "Revoke", "Rotate"]) {
    assert.equal(await page.getByRole("button", { name }).count(), 0, `no ${name} button`);
  }
  await shot(page, "13-viewer-keys");
  await page.goto(`${CONSOLE}/console/#/config`);
  await page.getByRole("heading", { level: 1, name: /Configuration/ }).waitFor();
  for (const name of ["Apply", /Plan/]) {
    assert.equal(await page.getByRole("button", { name }).count(), 0, `no ${name} button`);
  }
  // Reading is fine: the audit chain can be verified.
  await page.goto(`${CONSOLE}/console/#/audit`);
  await page.getByRole("button", { name: "Verify the hash chain" }).waitFor();
  await context.close();
});

test("a forged POST without the CSRF token is refused and audited", async () => {
  const { context, page } = await signIn(ADMIN_TOKEN);
  // What a forged request carries: the cookie (the browser adds it), not
  // the CSRF token (another page cannot read it).
  const forged = await page.evaluate(async () => {
    const r = await fetch("/api/v1/environments", {
      method: "POST", credentials: "same-origin",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "forged" }),
    });
    return { status: r.status, body: await r.json() };
  });
  assert.equal(forged.status, 403);
  assert.equal(forged.body.error.code, "forbidden");
  assert.match(forged.body.error.message, /x-csrf-token/);
  // The same change with the token goes through.
  const real = await page.evaluate(async () => {
    const s = await (await fetch("/api/v1/session")).json();
    const r = await fetch("/api/v1/environments", {
      method: "POST", credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrf-token": s.csrf_token },
      body: JSON.stringify({ name: "made-here" }),
    });
    return r.status;
  });
  assert.equal(real, 201);
  const envs = (await admin("GET", "/api/v1/environments")).data.map((e) => e.name);
  assert.ok(!envs.includes("forged") && envs.includes("made-here"), envs.join(","));
  const audit = await admin("GET", "/api/v1/audit?action=session.csrf_rejected");
  assert.equal(audit.data.length, 1);
  assert.equal(audit.data[0].target, "/api/v1/environments");
  // Signing out ends the session for the API too.
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByLabel("Operator token").waitFor();
  const after = await page.evaluate(async () => (await fetch("/api/v1/whoami")).status);
  assert.equal(after, 401);
  await context.close();
});

test("the readiness review shows every item with its evidence, and Run verify proves the flows", async () => {
  const { context, page } = await signIn(ADMIN_TOKEN);
  await selectEnv(page, ENV);
  await page.goto(`${CONSOLE}/console/#/review`);
  await page.getByRole("heading", { level: 1, name: /Readiness review · web/ }).waitFor();
  for (const q of ["ownership", "separation", "detection", "triage", "checklist"]) {
    await page.locator(`section[data-question="${q}"]`).waitFor();
  }
  // No data-plane host and no alert rules: not ready, each failure with its fix.
  assert.match(await page.locator("p.verdict").textContent(), /Not ready/);
  const hosts = page.locator('[data-item="separation.hosts"]');
  assert.match(await hosts.textContent(), /fail/);
  assert.match(await hosts.textContent(), /Fix:/);
  const verify = page.locator('[data-item="checklist.verify"]');
  assert.match(await verify.textContent(), /never ran/);
  await shot(page, "17-review");
  // Running verify from the page stores a run the review then reads.
  await page.getByRole("button", { name: "Run verify" }).click();
  await page.locator('[data-item="checklist.verify"] .badge.r-pass').waitFor({ timeout: 60000 });
  assert.match(await page.locator('[data-item="checklist.verify"]').textContent(), /latest run/);
  // The run itself, step by step, with links to its requests.
  const run = page.getByRole("table", { name: /Latest verify run/ });
  await run.waitFor();
  assert.match(await run.textContent(), /request through route plan chat/);
  assert.match(await run.textContent(), /cleanup/i);
  await shot(page, "18-review-verified");
  await context.close();

  // A viewer reads the review but cannot run verify.
  const viewer = await signIn(viewerToken);
  await selectEnv(viewer.page, ENV);
  await viewer.page.goto(`${CONSOLE}/console/#/review`);
  await viewer.page.locator('section[data-question="checklist"]').waitFor();
  assert.equal(await viewer.page.getByRole("button", { name: "Run verify" }).count(), 0);
  await viewer.context.close();
});

test("no page raised a script error", () => {
  assert.deepEqual(pageErrors, []);
});
