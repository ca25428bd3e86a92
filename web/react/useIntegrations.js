// A React hook over the web kit: the user's live integrations and the actions on them, with
// the last error and a busy flag. Plain `createElement`, no JSX: it runs as is under a bundler
// (Vite, webpack) or from an import map, like example.html.
import { useCallback, useEffect, useState } from "react";

export function useIntegrations(connector) {
  const [integrations, setIntegrations] = useState([]);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);

  const reload = useCallback(async () => {
    try {
      // A disconnected integration is no longer listed.
      setIntegrations(await connector.list());
    } catch (e) {
      setError(e);
    }
  }, [connector]);

  useEffect(() => {
    reload();
  }, [reload]);

  // `work` starts before the first await, so connect() still opens its popup inside the click.
  const run = useCallback(
    async (work) => {
      setBusy(true);
      setError(null);
      try {
        const result = await work();
        await reload();
        return result;
      } catch (e) {
        setError(e);
        return undefined;
      } finally {
        setBusy(false);
      }
    },
    [reload],
  );

  return {
    integrations,
    error,
    busy,
    reload,
    connect: (provider, options) => run(() => connector.connect(provider, options)),
    test: (id) => run(() => connector.test(id)),
    sync: (id) =>
      run(async () => {
        const { jobId } = await connector.sync(id);
        return connector.waitForSync(id, jobId, { intervalMs: 500 });
      }),
    toggleSync: (integration) =>
      run(() =>
        connector.updateSettings(integration.id, {
          ...integration.syncSettings,
          enabled: !integration.syncSettings.enabled,
        }),
      ),
    disconnect: (id) => run(() => connector.disconnect(id)),
  };
}
