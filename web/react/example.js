// The React example: useIntegrations + IntegrationCard on the web kit. `?user=` picks the
// dev user (make dev mints the JWT; a real app has its own sign-in).
import { createElement as h, useMemo } from "react";
import { createRoot } from "react-dom/client";
import { createConnector } from "/connect.js";
import { useIntegrations } from "/react/useIntegrations.js";
import { IntegrationCard } from "/react/IntegrationCard.js";

const { apiBaseUrl } = await (await fetch("/config.json")).json();
const user = new URLSearchParams(location.search).get("user") || "alice";
const { token } = await (await fetch(`/dev-token?user=${encodeURIComponent(user)}`)).json();

function App() {
  const connector = useMemo(() => createConnector({ apiBaseUrl, getToken: async () => token }), []);
  const kit = useIntegrations(connector);
  return h(
    "div",
    null,
    h("h1", null, `Integrations of ${user}`),
    h("button", { "data-connect": "demo", disabled: kit.busy, onClick: () => kit.connect("demo") }, "Connect Demo"),
    kit.error && h("p", { className: "error", id: "error" }, `${kit.error.code}: ${kit.error.message}`),
    kit.integrations.length
      ? kit.integrations.map((i) =>
          h(IntegrationCard, {
            key: i.id,
            integration: i,
            busy: kit.busy,
            onTest: kit.test,
            onSync: kit.sync,
            onToggleSync: kit.toggleSync,
            onDisconnect: kit.disconnect,
          }),
        )
      : h("p", { id: "empty" }, "No integrations yet."),
  );
}

createRoot(document.getElementById("root")).render(h(App));
