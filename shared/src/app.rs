//! The clients and configuration one container builds once and every request shares.

use std::sync::Arc;

use crate::catalogue::{CatalogueError, ProviderCatalogue};
use crate::config::RefreshTuning;
use crate::config::SyncTuning;
use crate::config::{ConfigError, Settings};
use crate::crypto::{CacheLimits, DataKeySource, EnvelopeCipher, KmsDataKeys};
use crate::domain::AuditEntry;
use crate::metrics::Metrics;
use crate::oauth::OAuthHttp;
use crate::publish::{AppEvent, EventBridgePublisher, EventPublisher};
use crate::queue::{MessageQueue, SqsQueue};
use crate::secrets::{SecretCache, SecretError, SecretSource, SecretsManager};
use crate::state::StateKey;
use crate::unwired::Unwired;

use crate::store::{
    AuditTrail, AuthorizationStates, DynamoTable, EventWrites, IntegrationRecords, RateCounters,
    RefreshIndex, RefreshLeases, SyncJobs, SyncSchedules, SyncedRecords,
};

pub struct App {
    pub settings: Settings,
    pub catalogue: ProviderCatalogue,
    pub cipher: EnvelopeCipher,
    /// The table behind every store port (`app.integrations()` and the rest, below); None for
    /// the static routes, whose ports are [`Unwired`].
    table: Option<Arc<DynamoTable>>,
    /// Set where `REFRESH_QUEUE_URL` is (the scheduler's function).
    pub refresh_queue: Option<Arc<dyn MessageQueue>>,
    /// Set where `SYNC_QUEUE_URL` is (the sync routes, the scheduler, the sync worker).
    pub sync_queue: Option<Arc<dyn MessageQueue>>,
    /// Set where `RECOVERY_QUEUE_URL` is (every function that refreshes).
    pub recovery_queue: Option<Arc<dyn MessageQueue>>,
    pub refresh_tuning: RefreshTuning,
    pub sync_tuning: SyncTuning,
    pub oauth: OAuthHttp,
    /// The state key and the providers' client credentials, read at first use (crate::secrets).
    pub secrets: Arc<SecretCache>,
    /// EMF lines (crate::metrics): standard output in Lambda, a file in `make dev`.
    pub metrics: Metrics,
    /// Lifecycle events to the application (crate::publish); None: `EVENT_BUS_NAME` unset.
    pub events: Option<Arc<dyn EventPublisher>>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Catalogue(#[from] CatalogueError),
    #[error(transparent)]
    Aws(#[from] crate::aws::MissingVariable),
}

impl App {
    /// From the process environment: settings, and the AWS configuration Lambda's variables give
    /// (crate::aws; `AWS_ENDPOINT_URL` points it at moto in `make dev`).
    pub fn from_env() -> Result<Self, StartupError> {
        let env = |name: &str| std::env::var(name).ok();
        let aws = crate::aws::sdk_config(&env)?;
        Self::from_lookup(&env, &aws)
    }

    /// Settings, catalogue and clients from `env` (the process environment, or `make dev`'s defaults).
    pub fn from_lookup(
        env: &dyn Fn(&str) -> Option<String>,
        aws: &aws_config::SdkConfig,
    ) -> Result<Self, StartupError> {
        let settings = Settings::from_env(env)?;
        let catalogue = ProviderCatalogue::load(env)?;
        let table = DynamoTable::new(
            aws_sdk_dynamodb::Client::new(aws),
            settings.table_name.clone(),
        );
        let keys = Arc::new(KmsDataKeys::new(
            aws_sdk_kms::Client::new(aws),
            settings.kms_key_id.clone(),
        ));
        // One SQS client for every queue the function is given (a client is a handle: clones
        // share its connections), and none for a function given no queue.
        let sqs = std::sync::OnceLock::new();
        let queue = |url: &Option<String>| {
            url.clone().map(|url| {
                let client = sqs.get_or_init(|| aws_sdk_sqs::Client::new(aws)).clone();
                Arc::new(SqsQueue::new(client, url)) as Arc<dyn MessageQueue>
            })
        };
        let (refresh_queue, sync_queue, recovery_queue) = (
            queue(&settings.refresh_queue_url),
            queue(&settings.sync_queue_url),
            queue(&settings.recovery_queue_url),
        );
        let secrets = Arc::new(SecretsManager::new(aws_sdk_secretsmanager::Client::new(
            aws,
        )));
        let metrics = Metrics::from_env(env)
            .map_err(|e| ConfigError(format!("METRICS_FILE cannot be opened: {e}")))?;
        let mut app = Self::new(settings, catalogue, table, keys, secrets).with_metrics(metrics);
        app.events = env("EVENT_BUS_NAME").filter(|b| !b.is_empty()).map(|bus| {
            Arc::new(EventBridgePublisher::new(
                aws_sdk_eventbridge::Client::new(aws),
                bus,
            )) as Arc<dyn EventPublisher>
        });
        app.refresh_queue = refresh_queue;
        app.sync_queue = sync_queue;
        app.recovery_queue = recovery_queue;
        Ok(app)
    }

    /// A container of a function that builds no AWS client (the static routes): settings,
    /// catalogue and metrics from the process environment, every port [`Unwired`]. Its binary
    /// links none of the AWS SDK.
    pub fn without_aws() -> Result<Self, StartupError> {
        Self::without_aws_from(&|name: &str| std::env::var(name).ok())
    }

    /// [`App::without_aws`] from `env`.
    pub fn without_aws_from(env: &dyn Fn(&str) -> Option<String>) -> Result<Self, StartupError> {
        let settings = Settings::from_env(env)?;
        let catalogue = ProviderCatalogue::load(env)?;
        let metrics = Metrics::from_env(env)
            .map_err(|e| ConfigError(format!("METRICS_FILE cannot be opened: {e}")))?;
        let unwired = Arc::new(Unwired);
        Ok(
            Self::assemble(settings, catalogue, None, unwired.clone(), unwired)
                .with_metrics(metrics),
        )
    }

    pub fn new(
        settings: Settings,
        catalogue: ProviderCatalogue,
        table: DynamoTable,
        keys: Arc<dyn DataKeySource>,
        secrets: Arc<dyn SecretSource>,
    ) -> Self {
        Self::assemble(settings, catalogue, Some(Arc::new(table)), keys, secrets)
    }

    fn assemble(
        settings: Settings,
        catalogue: ProviderCatalogue,
        table: Option<Arc<DynamoTable>>,
        keys: Arc<dyn DataKeySource>,
        secrets: Arc<dyn SecretSource>,
    ) -> Self {
        let secrets = Arc::new(SecretCache::new(secrets, settings.secrets_cache_time));
        Self {
            settings,
            catalogue,
            cipher: EnvelopeCipher::new(keys, CacheLimits::default()),
            table,
            refresh_queue: None,
            sync_queue: None,
            recovery_queue: None,
            sync_tuning: SyncTuning::default(),
            refresh_tuning: RefreshTuning::default(),
            oauth: OAuthHttp::new(secrets.clone()),
            secrets,
            metrics: Metrics::off(),
            events: None,
        }
    }

    pub fn with_events(mut self, events: Option<Arc<dyn EventPublisher>>) -> Self {
        self.events = events;
        self
    }

    /// Where metrics go (tests: [`Metrics::memory`]); provider errors are counted there too.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.oauth.set_metrics(metrics.clone());
        self.metrics = metrics;
        self
    }

    pub fn with_queues(
        mut self,
        refresh: Option<Arc<dyn MessageQueue>>,
        sync: Option<Arc<dyn MessageQueue>>,
    ) -> Self {
        self.refresh_queue = refresh;
        self.sync_queue = sync;
        self
    }

    pub fn with_recovery_queue(mut self, queue: Option<Arc<dyn MessageQueue>>) -> Self {
        self.recovery_queue = queue;
        self
    }

    /// Another cipher (the tests' data-key cache limits).
    pub fn with_cipher(mut self, cipher: EnvelopeCipher) -> Self {
        self.cipher = cipher;
        self
    }

    pub fn with_sync_tuning(mut self, tuning: SyncTuning) -> Self {
        self.sync_tuning = tuning;
        self
    }

    pub fn with_refresh_tuning(mut self, tuning: RefreshTuning) -> Self {
        self.refresh_tuning = tuning;
        self
    }

    /// The OAuth-state MAC key, from its secret (cached for `SECRETS_CACHE_SECONDS`).
    pub async fn state_key(&self) -> Result<StateKey, SecretError> {
        self.secrets
            .state_key(&self.settings.state_key_secret)
            .await
    }

    /// Publishes a lifecycle event. A failure (after the SDK's retries and one more for a
    /// refused entry) is logged and counted, never returned: the change it reports has
    /// happened, and the caller's operation must not fail for the news of it.
    pub async fn publish(&self, event: AppEvent) {
        let Some(events) = &self.events else {
            return;
        };
        if let Err(e) = events.publish(&event).await {
            tracing::error!(detail_type = event.detail_type, error = %e, "lifecycle event not published");
            self.metrics.event_unpublished(event.detail_type);
        }
    }

    /// Records an audit entry. A failed audit write is logged, not returned: by the time an entry
    /// is written the action it records has happened, and failing the request would hide that.
    pub async fn audit(&self, entry: AuditEntry) {
        if let Err(e) = self.audit_trail().append(&entry).await {
            tracing::error!(event = entry.event.as_str(), error = %e, "audit entry not written");
        }
    }
}

/// The store ports, each the table seen through one trait. The table becomes the trait object in
/// the accessor, not when the container is built: a binary links a port's code, and the SDK
/// operations it sends, only where its handler asks for that port (#18). Without a table (the
/// static routes), each port is [`Unwired`].
macro_rules! store_ports {
    ($($(#[$doc:meta])* $name:ident: $port:ident,)*) => {
        impl App {
            $(
                $(#[$doc])*
                pub fn $name(&self) -> &dyn $port {
                    match &self.table {
                        Some(table) => table.as_ref(),
                        None => &Unwired,
                    }
                }
            )*
        }
    };
}

store_ports! {
    states: AuthorizationStates,
    integrations: IntegrationRecords,
    audit_trail: AuditTrail,
    leases: RefreshLeases,
    refresh_index: RefreshIndex,
    /// The per-caller rate limits' counters (crate::rate_limit).
    rate_counters: RateCounters,
    sync_jobs: SyncJobs,
    synced_records: SyncedRecords,
    /// The event write routes' records and idempotency keys.
    event_writes: EventWrites,
    sync_schedules: SyncSchedules,
}
