// Browser tests of the web kit and the demo app, in a real Chromium (Debian's, driven by
// Playwright; no browser download). Starts the whole local system (`target/debug/dev`: moto,
// the local OAuth server, the dev gateway and the demo app) on free ports, in `app` completion
// as deployed, then plays each scenario; screenshots go to target/browser/. `make test` runs it.
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const shots = path.join(process.env.CARGO_TARGET_DIR || path.join(root, "target"), "browser");
mkdirSync(shots, { recursive: true });
const started = Date.now();
// The lifecycle events the app would receive (dev appends each EventBridge delivery).
const appEvents = path.join(shots, "app-events.jsonl");
rmSync(appEvents, { force: true });

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function startSystem() {
  const ports = { api: await freePort(), moto: await freePort(), oauth: await freePort(), app: await freePort() };
  const binary = process.env.DEV_BIN || path.join(root, "target/debug/dev");
  const child = spawn(binary, [], {
    cwd: root,
    env: {
      ...process.env,
      DEV_API_PORT: String(ports.api),
      DEV_MOTO_PORT: String(ports.moto),
      DEV_OAUTH_PORT: String(ports.oauth),
      DEV_APP_PORT: String(ports.app),
      DEV_SCHEDULER_SECONDS: "3600",
      CALLBACK_COMPLETION: "app",
      RUST_LOG: "warn",
      APP_EVENTS_FILE: appEvents,
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let output = "";
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the system did not start in 60 s:\n${output}`)), 60000);
    child.stdout.on("data", (chunk) => {
      output += chunk;
      if (/^ready /m.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once("exit", (code) => reject(new Error(`dev exited with ${code}:\n${output}`)));
  });
  return {
    child,
    api: `http://127.0.0.1:${ports.api}`,
    app: `http://localhost:${ports.app}`,
    // The same server under another name: another origin, not on APP_ORIGINS.
    foreign: `http://127.0.0.1:${ports.app}`,
    oauth: `http://127.0.0.1:${ports.oauth}`,
  };
}

const system = await startSystem();
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  // As root on a closed network: no sandbox, no background traffic (refused, and slow).
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});

const results = [];
async function scenario(name, body) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const t0 = Date.now();
  try {
    await body(page, context);
    results.push({ name, ok: true, ms: Date.now() - t0 });
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (error) {
    results.push({ name, ok: false });
    console.log(`FAIL ${name}\n${error.stack}`);
    await page.screenshot({ path: path.join(shots, `FAILED-${name.replace(/\W+/g, "-")}.png`) }).catch(() => {});
  } finally {
    await context.close();
  }
}

const shot = (page, name) => page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });

async function signIn(page, user) {
  await page.goto(system.app);
  await page.fill("#user", user);
  await page.click("#signin");
  await page.waitForSelector(`text=signed in as ${user}`);
  await page.waitForSelector('button[data-connect="demo"]');
}

/** Clicks connect, and hands back the sign-in popup. */
async function openPopup(page, context) {
  const [popup] = await Promise.all([context.waitForEvent("page"), page.click('button[data-connect="demo"]')]);
  await popup.waitForLoadState();
  return popup;
}

/** The local OAuth server's login and consent forms. */
async function logInAndConsent(popup, login) {
  await popup.waitForSelector('input[name="login"]');
  await popup.fill('input[name="login"]', login);
  await popup.fill('input[name="password"]', "any");
  await popup.click('button:has-text("Sign-in")');
  await popup.click('button:has-text("Continue")');
}

/** The card shows the account's picture from the provider's profile, loaded by the browser. */
async function assertAvatarShown(card, login) {
  const avatar = card.locator("img.avatar");
  assert.equal(await avatar.getAttribute("src"), `${system.oauth}/avatars/${login}.svg`);
  await avatar.evaluate((img) => img.decode());
  assert.ok(await avatar.evaluate((img) => img.naturalWidth > 0), "the avatar loaded");
}

await scenario("connect demo through the popup, sync, disconnect", async (page, context) => {
  await signIn(page, "alice");
  await shot(page, "1-signed-in");
  const popup = await openPopup(page, context);
  await logInAndConsent(popup, "alice");
  const card = page.locator('.card[data-provider="demo"]');
  await card.waitFor();
  assert.equal(await card.locator(".status").textContent(), "connected");
  assert.match(await card.locator(".email").textContent(), /alice@/);
  await assertAvatarShown(card, "alice");
  await shot(page, "2-connected");
  await fetch(`${system.oauth}/__events/alice/seed`, { method: "POST", body: JSON.stringify({ count: 12 }) });
  await fetch(`${system.oauth}/__contacts/alice/seed`, { method: "POST", body: JSON.stringify({ count: 7 }) });
  await card.locator("button.sync").click();
  await page.waitForSelector("#events li");
  assert.ok((await page.locator("#events li").count()) >= 10, "the synced events are shown");
  await page.waitForSelector("#contacts li");
  assert.equal(await page.locator("#contacts li").count(), 7, "the synced contacts are shown");
  await page.waitForSelector("text=Sync succeeded");
  await shot(page, "3-synced");
  // An event written back to the calendar: at the provider once, even for a double click.
  await card.locator("button.add-event").dblclick();
  await page.waitForSelector("text=Event created at demo");
  await page.waitForSelector("#events li:has-text('Made with the web kit')");
  const calendar = await (await fetch(`${system.oauth}/__events/alice`)).json();
  assert.equal(calendar.events.filter((e) => e.summary === "Made with the web kit").length, 1);
  await page.locator('.card[data-provider="demo"] button.disconnect').click();
  await page.waitForSelector("text=No integrations yet.");
  await shot(page, "4-disconnected");
  // What the app's webhook would have received, in order (dev polls the rule's queue).
  let kinds = [];
  for (let tries = 0; tries < 40 && kinds.length < 4; tries++) {
    await new Promise((r) => setTimeout(r, 250));
    const lines = readFileSync(appEvents, { encoding: "utf8", flag: "a+" }).split("\n").filter(Boolean);
    kinds = lines.map((l) => JSON.parse(l)).filter((e) => e.detail.userId === "alice").map((e) => e["detail-type"]);
  }
  // One sync job per type: the calendar's and the contacts'.
  assert.deepEqual(kinds, ["integration.connected", "sync.completed", "sync.completed", "integration.disconnected"]);
});

await scenario("closing the popup rejects with popup_closed", async (page, context) => {
  await signIn(page, "bob");
  const popup = await openPopup(page, context);
  await popup.waitForSelector('input[name="login"]');
  await popup.close();
  await page.waitForSelector("text=popup_closed");
  await shot(page, "5-popup-closed");
});

await scenario("declining at the provider rejects with access_denied", async (page, context) => {
  await signIn(page, "carol");
  const popup = await openPopup(page, context);
  await popup.waitForSelector('input[name="login"]');
  await popup.click("text=Cancel");
  // The kit names the provider that refused (ConnectError.provider).
  await page.waitForSelector("text=access_denied at demo");
  await shot(page, "6-access-denied");
  assert.equal(await page.locator(".card").count(), 0);
});

await scenario("a page on an origin not on APP_ORIGINS gets nothing", async (page) => {
  await page.goto(system.foreign);
  await page.fill("#user", "dave");
  await page.click("#signin");
  // Its calls to the API are refused by CORS, so no button and no card ever appears. The page's
  // own load already failed the same way ("Loading providers failed"), and signing in clears
  // the message first: wait for the sign-in's own failure, not any error.
  await page.waitForFunction(() => {
    const message = document.querySelector("#message.error");
    return message && message.textContent.startsWith("Sign in failed");
  });
  assert.match(await page.locator("#message").textContent(), /network_error|failed/);
  assert.equal(await page.locator("button[data-connect]").count(), 0);
  await shot(page, "7-foreign-origin");
});

await scenario("a popup opened from a non-allowlisted origin delivers nothing to it", async (page, context) => {
  // Started out of band (no CORS outside a browser); the popup is the foreign page's own.
  const dave = (await (await fetch(`${system.app}/dev-token?user=dave`)).json()).token;
  const started = await (
    await fetch(`${system.api}/providers/demo/connect`, { method: "POST", headers: { Authorization: `Bearer ${dave}`, "Content-Type": "application/json" }, body: "{}" })
  ).json();
  await page.goto(system.foreign);
  await page.evaluate(() => {
    window.received = [];
    window.addEventListener("message", (e) => window.received.push(e.origin));
  });
  const [popup] = await Promise.all([context.waitForEvent("page"), page.evaluate((url) => { window.open(url, "oauth-connect", "popup"); }, started.data.authUrl)]);
  // The popup page posts to the allowlisted origins only, then closes itself, possibly before
  // the consent click returns: listen for the close before giving consent.
  const closed = popup.waitForEvent("close", { timeout: 10000 });
  closed.catch(() => {}); // awaited below; a failed consent must not leave it unhandled
  await logInAndConsent(popup, "dave");
  await closed;
  assert.deepEqual(await page.evaluate(() => window.received), [], "no message reached the foreign page");
});

await scenario("over its budget a call rejects with RATE_LIMITED and when to retry", async (page) => {
  // The 60 reads a minute must fall in one window.
  const intoMinute = Date.now() % 60000;
  if (intoMinute > 50000) await new Promise((r) => setTimeout(r, 60000 - intoMinute + 100));
  await page.goto(system.app);
  const refused = await page.evaluate(async (api) => {
    const { createConnector } = await import("/connect.js");
    const { token } = await (await fetch("/dev-token?user=rita")).json();
    const connector = createConnector({ apiBaseUrl: api, getToken: () => token });
    for (let call = 1; call <= 61; call++) {
      try {
        await connector.list();
      } catch (e) {
        return { call, code: e.code, status: e.status, retryable: e.retryable, retryAfter: e.retryAfter };
      }
    }
    return null;
  }, system.api);
  assert.ok(refused, "61 reads in a minute, none refused");
  assert.equal(refused.call, 61);
  assert.equal(refused.code, "RATE_LIMITED");
  assert.equal(refused.status, 429);
  assert.equal(refused.retryable, true);
  assert.ok(refused.retryAfter >= 1 && refused.retryAfter <= 60, `retryAfter ${refused.retryAfter}`);
});

await scenario("the React example: useIntegrations and IntegrationCard connect and disconnect", async (page, context) => {
  await page.goto(`${system.app}/react/?user=erin`);
  await page.waitForSelector("#empty");
  const [popup] = await Promise.all([context.waitForEvent("page"), page.click('button[data-connect="demo"]')]);
  await logInAndConsent(popup, "erin");
  const card = page.locator('.card[data-provider="demo"]');
  await card.waitFor();
  assert.equal(await card.locator(".status").textContent(), "connected");
  assert.match(await card.locator(".email").textContent(), /erin@/);
  await assertAvatarShown(card, "erin");
  await shot(page, "9-react-connected");
  await card.locator("button.disconnect").click();
  await page.waitForSelector("#empty");
});

await scenario("the lured victim: an attacker's authorization URL connects nothing to anyone", async (page, context) => {
  // Mallory starts a connect and sends the authorization URL to the victim.
  const token = async (user) => (await (await fetch(`${system.app}/dev-token?user=${user}`)).json()).token;
  const mallory = await token("mallory");
  const started = await (
    await fetch(`${system.api}/providers/demo/connect`, { method: "POST", headers: { Authorization: `Bearer ${mallory}`, "Content-Type": "application/json" }, body: "{}" })
  ).json();
  // The victim is signed in to the app, and opens the link: logs in and consents at the provider.
  await signIn(page, "victim");
  const lure = await context.newPage();
  await lure.goto(started.data.authUrl);
  await logInAndConsent(lure, "victim");
  await lure.waitForURL(`${system.api}/providers/demo/callback?**`);
  await shot(lure, "8-lured-victim-callback");
  const list = async (jwt) => (await (await fetch(`${system.api}/integrations`, { headers: { Authorization: `Bearer ${jwt}` } })).json()).data.integrations;
  assert.deepEqual(await list(mallory), [], "nothing attached to the attacker");
  assert.deepEqual(await list(await token("victim")), [], "nothing attached to the victim");
});

await browser.close();
system.child.kill("SIGINT");
const failed = results.filter((r) => !r.ok);
console.log(`browser tests: ${results.length - failed.length}/${results.length} passed in ${((Date.now() - started) / 1000).toFixed(1)} s; screenshots in ${shots}`);
process.exit(failed.length ? 1 : 0);
