// The demo app of `make dev`: everything it does with the API goes through the web kit.
import { createConnector } from "/connect.js";

const { apiBaseUrl } = await (await fetch("/config.json")).json();
let token = null;
const connector = createConnector({ apiBaseUrl, getToken: async () => token });
const $ = (id) => document.getElementById(id);

function say(text, isError = false) {
  $("message").textContent = text;
  $("message").className = isError ? "error" : "";
}

function describe(error) {
  const code = error.code || "error";
  const id = error.correlationId ? ` (correlation id ${error.correlationId})` : "";
  const at = error.provider ? ` at ${error.provider}` : "";
  return `${code}${at}: ${error.message}${id}`;
}

async function guarded(what, work) {
  try {
    await work();
  } catch (error) {
    say(`${what} failed: ${describe(error)}`, true);
    console.warn(what, error);
  }
}

function element(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  for (const child of children) node.append(child);
  return node;
}

async function showProviders() {
  const answer = await (await fetch(`${apiBaseUrl}/providers`)).json();
  $("providers").replaceChildren(
    ...answer.data.providers
      .filter((p) => p.configured)
      .map((p) => {
        const button = element("button", { textContent: `Connect ${p.displayName}` });
        button.dataset.connect = p.id;
        // connect() opens its window inside this click: no await before it.
        button.onclick = () =>
          guarded("Connect", async () => {
            say(`Connecting ${p.displayName}…`);
            // The demo syncs both types: connect asks for the scopes each needs.
            const integration = await connector.connect(p.id, { syncTypes: ["calendar", "contacts"] });
            say(`Connected ${integration.email || integration.externalAccountId}`);
            await showIntegrations();
          });
        return button;
      }),
  );
}

function card(integration) {
  const node = element("div", { className: "card" });
  node.dataset.provider = integration.provider;
  node.dataset.id = integration.id;
  const badge = element("span", { className: `badge status ${integration.status}`, textContent: integration.status });
  const email = element("span", { className: "email", textContent: integration.email || integration.externalAccountId });
  const lastSync = element("div", { className: "last-sync", textContent: `Last sync: ${integration.lastSyncAt || "never"}` });
  const actions = element("div");
  const action = (label, cls, work) => {
    const button = element("button", { textContent: label, className: cls });
    button.onclick = () => guarded(label, work);
    actions.append(button, " ");
  };
  action("Test", "test", async () => {
    const result = await connector.test(integration.id);
    say(result.ok ? `Connection works (${result.latencyMs} ms)` : `Connection test failed: ${result.error}`, !result.ok);
  });
  action("Sync", "sync", async () => {
    say("Syncing…");
    const { jobs } = await connector.sync(integration.id, { syncTypes: ["calendar", "contacts"] });
    const finished = await Promise.all(jobs.map((j) => connector.waitForSync(integration.id, j.jobId, { intervalMs: 500 })));
    const failed = finished.find((job) => job.status !== "succeeded");
    say(`Sync ${failed ? failed.status : "succeeded"}`, Boolean(failed));
    await showEvents(integration.id);
    await showContacts(integration.id);
    await showIntegrations();
  });
  action(integration.syncSettings.enabled ? "Pause hourly sync" : "Sync hourly", "settings", async () => {
    const settings = { ...integration.syncSettings, enabled: !integration.syncSettings.enabled };
    await connector.updateSettings(integration.id, settings);
    await showIntegrations();
  });
  action("Add event", "add-event", async () => {
    // Tomorrow 09:00-09:30 UTC; the key makes a double click one event.
    const start = new Date(Math.floor(Date.now() / 86400000) * 86400000 + 86400000 + 9 * 3600000);
    const end = new Date(start.getTime() + 30 * 60000);
    const event = await connector.createEvent(
      integration.id,
      { title: "Made with the web kit", startTime: start.toISOString(), endTime: end.toISOString() },
      { idempotencyKey: `demo-${integration.id}-${start.getTime()}` },
    );
    say(`Event created at ${integration.provider}: ${event.externalId}`);
    await showEvents(integration.id);
  });
  action("Disconnect", "disconnect", async () => {
    const result = await connector.disconnect(integration.id);
    say(result.revoked ? "Disconnected and revoked at the provider" : "Disconnected");
    $("events").replaceChildren();
    $("contacts").replaceChildren();
    await showIntegrations();
  });
  const account = element("div", {}, badge, " ");
  if (integration.avatarUrl) {
    account.append(element("img", { className: "avatar", src: integration.avatarUrl, alt: "", width: 24, height: 24 }), " ");
  }
  account.append(element("strong", { textContent: integration.provider }), " ", email);
  node.append(account, lastSync, actions);
  if (integration.lastError) {
    node.append(element("div", { className: "error", textContent: `${integration.lastError.code}: ${integration.lastError.message}` }));
  }
  return node;
}

async function showIntegrations() {
  // A disconnected integration is no longer listed.
  const integrations = await connector.list();
  $("cards").replaceChildren(...(integrations.length ? integrations.map(card) : [element("p", { textContent: "No integrations yet." })]));
  await showAudit();
}

async function showContacts(id) {
  const page = await connector.contacts(id, { limit: 50 });
  $("contacts").replaceChildren(
    ...page.contacts.filter((c) => !c.deleted).map((c) => element("li", { textContent: `${c.displayName || c.externalId} ${c.emails[0] || ""}` })),
  );
}

async function showEvents(id) {
  const page = await connector.events(id, { limit: 50 });
  $("events").replaceChildren(...page.events.map((e) => element("li", { textContent: `${e.start || ""} ${e.title || e.summary || e.id}` })));
}

async function showAudit() {
  const response = await fetch(`${apiBaseUrl}/audit?limit=10`, { headers: { Authorization: `Bearer ${token}` } });
  const answer = await response.json();
  const entries = (answer.data && answer.data.entries) || [];
  $("audit").replaceChildren(...entries.map((e) => element("li", { textContent: `${e.at} ${e.event}${e.reason ? ` (${e.reason})` : ""}` })));
}

$("signin").onclick = () =>
  guarded("Sign in", async () => {
    const user = $("user").value.trim();
    token = (await (await fetch(`/dev-token?user=${encodeURIComponent(user)}`)).json()).token;
    $("signed-in").textContent = `signed in as ${user}`;
    say("");
    await showIntegrations();
  });

await guarded("Loading providers", showProviders);
