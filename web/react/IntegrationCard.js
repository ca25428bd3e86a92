// The integration card of the integration guide: status badge (connected / expired / error),
// the account, last sync, test / sync / settings / disconnect, and the last error.
import { createElement as h } from "react";

const BADGE = { connected: "#2a7d3f", expired: "#a36b00", error: "#b3261e" };

export function IntegrationCard({ integration, busy, onTest, onSync, onToggleSync, onDisconnect }) {
  const { id, provider, status, email, avatarUrl, externalAccountId, lastSyncAt, lastError, syncSettings } = integration;
  const button = (label, className, onClick) => h("button", { className, disabled: busy, onClick: () => onClick(integration) }, label);
  return h(
    "div",
    { className: "card", "data-provider": provider, "data-id": id },
    h(
      "div",
      null,
      h("span", { className: `badge status ${status}`, style: { background: BADGE[status] || "#666" } }, status),
      " ",
      avatarUrl && h("img", { className: "avatar", src: avatarUrl, alt: "", width: 24, height: 24 }),
      avatarUrl && " ",
      h("strong", null, provider),
      " ",
      h("span", { className: "email" }, email || externalAccountId),
    ),
    h("div", { className: "last-sync" }, `Last sync: ${lastSyncAt || "never"}`),
    h(
      "div",
      null,
      button("Test", "test", (i) => onTest(i.id)),
      " ",
      button("Sync", "sync", (i) => onSync(i.id)),
      " ",
      button(syncSettings.enabled ? "Pause hourly sync" : "Sync hourly", "settings", onToggleSync),
      " ",
      button("Disconnect", "disconnect", (i) => onDisconnect(i.id)),
    ),
    lastError && h("div", { className: "error" }, `${lastError.code}: ${lastError.message}`),
  );
}
