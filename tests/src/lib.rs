//! Test harness: one moto server and one local OAuth server per test process (started on free
//! ports on first use), and per test a [`TestApp`] with its own table and KMS key, so tests run
//! in parallel without seeing each other's data.

pub mod browser;
pub mod fault_proxy;
pub mod iam;
pub mod lifecycle;
pub mod logs;
pub mod provider_fake;
pub mod recording;
pub mod sync;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use devstack::process::{GuardedChild, OAuthServerOptions, start_moto, start_oauth_server};
use devstack::provision::{self, QueuePair};
use fault_proxy::FaultProxy;
use lambda_http::http::{HeaderMap, Method};
use shared::catalogue::ProviderCatalogue;
use shared::config::RefreshTuning;
use shared::config::Settings;
use shared::crypto::{
    CacheLimits, DataKey, DataKeySource, GeneratedDataKey, KmsDataKeys, SealPurpose,
};

use shared::store::DynamoTable;
use shared::{ApiRequest, ApiResponse, App, Function};
use tokio::sync::OnceCell;

pub const CLIENT_ID: &str = "demo-client";
pub const CLIENT_SECRET: &str = "demo-secret-for-tests-8f3b2c";
/// The API's base URL in tests; the provider redirects there, and the browser driver stops there.
pub const API_BASE: &str = "http://127.0.0.1:1";
pub const APP_ORIGIN: &str = "http://localhost:3000";
/// The application backend's IAM principal in tests (allowlisted for the token route).
pub const BACKEND_PRINCIPAL: &str = "arn:aws:iam::123456789012:user/app-backend";

pub struct Stack {
    pub moto_url: String,
    pub oauth_url: String,
    pub aws: aws_config::SdkConfig,
    _children: Vec<GuardedChild>,
}

static STACK: OnceCell<Stack> = OnceCell::const_new();

/// The process-wide local stack.
pub async fn stack() -> &'static Stack {
    // Logs only when asked: `TEST_LOG=1 cargo test`.
    logs::install_global_subscriber();
    STACK
        .get_or_init(|| async {
            let (moto, moto_url) = start_moto(devstack::free_port().expect("free port"))
                .await
                .expect("moto server");
            let (oauth, oauth_url) = start_oauth_server(&OAuthServerOptions {
                port: devstack::free_port().expect("free port"),
                client_id: CLIENT_ID.into(),
                client_secret: CLIENT_SECRET.into(),
                // `oidc` is the same server found by discovery (tests/api/providers.rs).
                redirect_uris: vec![
                    format!("{API_BASE}/providers/demo/callback"),
                    format!("{API_BASE}/providers/oidc/callback"),
                ],
                access_token_ttl_secs: 3600,
            })
            .await
            .expect("local OAuth server");
            let aws = provision::local_aws_config(&moto_url).await;
            Stack {
                moto_url,
                oauth_url,
                aws,
                _children: vec![moto, oauth],
            }
        })
        .await
}

/// KMS data keys, counted.
pub struct CountingKeys {
    inner: KmsDataKeys,
    pub generated: AtomicUsize,
    pub decrypted: AtomicUsize,
    /// Every plaintext data key handed out, base64 and hex, for the log-secrecy test to search for.
    pub seen_plaintext: std::sync::Mutex<Vec<String>>,
}

impl CountingKeys {
    pub fn calls(&self) -> usize {
        self.generated.load(Ordering::SeqCst) + self.decrypted.load(Ordering::SeqCst)
    }

    fn remember(&self, key: &DataKey) {
        use base64::Engine;
        use secrecy::ExposeSecret;
        let bytes = key.expose_secret();
        let mut seen = self
            .seen_plaintext
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        seen.push(base64::engine::general_purpose::STANDARD.encode(bytes));
        seen.push(shared::ids::hex(bytes));
    }
}

#[async_trait]
impl DataKeySource for CountingKeys {
    async fn generate_data_key(
        &self,
        purpose: SealPurpose,
    ) -> Result<GeneratedDataKey, shared::crypto::CryptoError> {
        self.generated.fetch_add(1, Ordering::SeqCst);
        let key = self.inner.generate_data_key(purpose).await?;
        self.remember(&key.plaintext);
        Ok(key)
    }
    async fn decrypt_data_key(
        &self,
        key_id: &str,
        encrypted: &[u8],
        purpose: SealPurpose,
    ) -> Result<DataKey, shared::crypto::CryptoError> {
        self.decrypted.fetch_add(1, Ordering::SeqCst);
        let key = self
            .inner
            .decrypt_data_key(key_id, encrypted, purpose)
            .await?;
        self.remember(&key);
        Ok(key)
    }
}

pub struct TestApp {
    pub app: Arc<App>,
    pub table_name: String,
    pub kms_key_id: String,
    /// Straight to moto (never through the fault proxy): for the test's own reads and writes.
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub keys: Arc<CountingKeys>,
    pub state_secret: String,
    /// The variables that name this app's secrets in moto (`STATE_KEY_SECRET`,
    /// `DEMO_CREDENTIALS_SECRET`…), as template.yaml gives them to a function.
    pub secret_names: Vec<(String, String)>,
    pub stack: &'static Stack,
    /// The OAuth server this app's `demo` provider is: the shared one, or its own.
    pub oauth_url: String,
    /// Between the app and moto's DynamoDB, when [`Options::store_proxy`] asked for it.
    pub store: Option<FaultProxy>,
    pub queues: Option<QueuePair>,
    pub sync_queues: Option<QueuePair>,
    pub recovery_queues: Option<QueuePair>,
    /// The queue the lifecycle-event bus's rule delivers to (`Options::events`).
    pub app_events_queue: Option<String>,
    _own_oauth_server: Option<GuardedChild>,
}

#[derive(Default)]
pub struct Options {
    pub state_ttl_secs: Option<i64>,
    /// `CALLBACK_COMPLETION` (`direct` when None: most tests connect in one GET callback; the
    /// product's default, `app`, is completion.rs's and the browser tests').
    pub callback_completion: Option<&'static str>,
    /// An OAuth server of this test's own, so its counters and injected faults are this
    /// test's alone (the shared one serves every test of the process at once).
    pub own_oauth_server: bool,
    /// Access-token lifetime of the own OAuth server (3600 s when None).
    pub access_token_ttl_secs: Option<u64>,
    /// The app reaches DynamoDB through a [`FaultProxy`] (`TestApp::store`).
    pub store_proxy: bool,
    /// A refresh queue and its dead-letter queue on moto: `(visibility timeout s, max receives)`.
    pub refresh_queue: Option<(u32, u32)>,
    /// A sync queue and its dead-letter queue on moto, likewise.
    pub sync_queue: Option<(u32, u32)>,
    /// A token-recovery queue and its dead-letter queue on moto, likewise.
    pub recovery_queue: Option<(u32, u32)>,
    pub sync_tuning: Option<shared::config::SyncTuning>,
    pub refresh_tuning: Option<RefreshTuning>,
    /// The provider catalogue's text (the embedded one when None).
    pub catalogue: Option<String>,
    /// More environment for the app (provider credentials, catalogue variables).
    pub env: Vec<(String, String)>,
    /// Keep data keys as a container does (`CacheLimits::default()`). Off by default: one app
    /// plays every function here, and a key cached by one would hide the next one's KMS call
    /// from the IAM check (in AWS each function has its own cache).
    pub key_cache: bool,
    /// A lifecycle-event bus on moto with a rule to a queue (`TestApp::published_events`).
    pub events: bool,
}

/// `RATE_LIMITS` far above the product's budgets, for the benches: they measure the routes and
/// paths, not the 429s.
pub fn unlimited_rate_limits() -> (String, String) {
    let budgets: Vec<String> = shared::routes::LimitClass::ALL
        .iter()
        .map(|class| format!("{}=1000000", class.name()))
        .collect();
    ("RATE_LIMITS".into(), budgets.join(","))
}

/// Quick sync retries for tests: the same rules, shorter waits.
pub fn fast_sync_tuning() -> shared::config::SyncTuning {
    let mut tuning = shared::config::SyncTuning::default();
    tuning.provider_retry.base = std::time::Duration::from_millis(50);
    tuning.provider_retry.cap = std::time::Duration::from_millis(400);
    tuning.page_reserve = std::time::Duration::from_secs(2);
    tuning
}

/// Quick retries for tests: the same rules, shorter waits.
pub fn fast_tuning() -> RefreshTuning {
    let mut tuning = RefreshTuning::default();
    tuning.provider_retry.base = std::time::Duration::from_millis(50);
    tuning.provider_retry.cap = std::time::Duration::from_millis(400);
    tuning.write_retry.base = std::time::Duration::from_millis(20);
    tuning.write_retry.cap = std::time::Duration::from_millis(200);
    tuning
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with(Options::default()).await
    }

    pub async fn with(options: Options) -> Self {
        let stack = stack().await;
        let table_name = format!("test-{}", shared::ids::random_id());
        let state_secret = shared::ids::random_id() + &shared::ids::random_id();
        let resources = provision::provision(&stack.aws, &table_name)
            .await
            .expect("provisioning");
        let own_oauth_server = if options.own_oauth_server {
            let (child, url) = start_oauth_server(&OAuthServerOptions {
                port: devstack::free_port().expect("free port"),
                client_id: CLIENT_ID.into(),
                client_secret: CLIENT_SECRET.into(),
                redirect_uris: vec![format!("{API_BASE}/providers/demo/callback")],
                access_token_ttl_secs: options.access_token_ttl_secs.unwrap_or(3600),
            })
            .await
            .expect("own OAuth server");
            Some((child, url))
        } else {
            None
        };
        let oauth_url = own_oauth_server
            .as_ref()
            .map(|(_, url)| url.clone())
            .unwrap_or_else(|| stack.oauth_url.clone());
        let queue_pair = |wanted: Option<(u32, u32)>, kind: provision::QueueKind| {
            let (aws, name) = (&stack.aws, &table_name);
            async move {
                match wanted {
                    Some((visibility, receives)) => Some(
                        provision::provision_queues(aws, name, kind, visibility, receives)
                            .await
                            .expect("queues"),
                    ),
                    None => None,
                }
            }
        };
        let queues = queue_pair(options.refresh_queue, provision::QueueKind::Refresh).await;
        let sync_queues = queue_pair(options.sync_queue, provision::QueueKind::Sync).await;
        let recovery_queues =
            queue_pair(options.recovery_queue, provision::QueueKind::Recovery).await;
        let mut env_map: HashMap<&str, String> = HashMap::from([
            ("TABLE_NAME", table_name.clone()),
            ("KMS_KEY_ID", resources.kms_key_id.clone()),
            ("STATE_SECRET", state_secret.clone()),
            (
                "STATE_TTL_SECONDS",
                options.state_ttl_secs.unwrap_or(600).to_string(),
            ),
            ("PUBLIC_BASE_URL", API_BASE.into()),
            // One app plays every function here: a cached secret would hide the next
            // function's read from the IAM check (in AWS each function has its own cache).
            ("SECRETS_CACHE_SECONDS", "0".into()),
            ("APP_ORIGINS", APP_ORIGIN.into()),
            (
                "CALLBACK_COMPLETION",
                options.callback_completion.unwrap_or("direct").into(),
            ),
            ("DEMO_OAUTH_URL", oauth_url.clone()),
            // The principal RequestBuilder::backend signs as, and the events' IAM context.
            ("BACKEND_PRINCIPAL_ARNS", BACKEND_PRINCIPAL.into()),
            ("DEMO_CLIENT_ID", CLIENT_ID.into()),
            ("DEMO_CLIENT_SECRET", CLIENT_SECRET.into()),
            // Configured, never called: only its states and callback route are exercised.
            ("GOOGLE_CLIENT_ID", "google-client".into()),
            ("GOOGLE_CLIENT_SECRET", "google-secret".into()),
        ]);
        if let Some(q) = &queues {
            env_map.insert("REFRESH_QUEUE_URL", q.queue_url.clone());
        }
        if let Some(q) = &sync_queues {
            env_map.insert("SYNC_QUEUE_URL", q.queue_url.clone());
        }
        let lookup = |k: &str| {
            options
                .env
                .iter()
                .find(|(name, _)| name == k)
                .map(|(_, v)| v.clone())
                .or_else(|| env_map.get(k).cloned())
        };
        // Secret values go into moto's Secrets Manager; the app's environment only names them.
        let names = env_map
            .keys()
            .map(|k| k.to_string())
            .chain(options.env.iter().map(|(k, _)| k.clone()));
        let named = devstack::secrets::store_secret_values(&stack.aws, &table_name, names, &lookup)
            .await
            .expect("secrets");
        let env = devstack::secrets::environment(&named, lookup);
        let settings = Settings::from_env(&env).expect("settings");
        let catalogue = match &options.catalogue {
            Some(text) => ProviderCatalogue::parse(text, &env),
            None => ProviderCatalogue::load(&env),
        }
        .expect("catalogue");
        let dynamodb = aws_sdk_dynamodb::Client::new(&stack.aws);
        let sqs = aws_sdk_sqs::Client::new(&stack.aws);
        let store = options
            .store_proxy
            .then(|| FaultProxy::start(&stack.moto_url).expect("fault proxy"));
        // The app's clients check each request against its function's IAM policy (iam.rs).
        let iam = iam::IamCheck::new();
        let mut app_dynamodb =
            aws_sdk_dynamodb::config::Builder::from(&stack.aws).interceptor(iam.clone());
        if let Some(proxy) = &store {
            app_dynamodb = app_dynamodb.endpoint_url(proxy.url());
        }
        let app_dynamodb = aws_sdk_dynamodb::Client::from_conf(app_dynamodb.build());
        let app_kms = aws_sdk_kms::Client::from_conf(
            aws_sdk_kms::config::Builder::from(&stack.aws)
                .interceptor(iam.clone())
                .build(),
        );
        let app_sqs = aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::from(&stack.aws)
                .interceptor(iam.clone())
                .build(),
        );
        let app_secrets = aws_sdk_secretsmanager::Client::from_conf(
            aws_sdk_secretsmanager::config::Builder::from(&stack.aws)
                .interceptor(iam.clone())
                .build(),
        );
        let event_bus = match options.events {
            true => Some(
                provision::provision_event_bus(&stack.aws, &table_name)
                    .await
                    .expect("event bus"),
            ),
            false => None,
        };
        let app_events = event_bus.as_ref().map(|(bus, _)| {
            let client = aws_sdk_eventbridge::Client::from_conf(
                aws_sdk_eventbridge::config::Builder::from(&stack.aws)
                    .interceptor(iam.clone())
                    .build(),
            );
            Arc::new(shared::publish::EventBridgePublisher::new(client, bus))
                as Arc<dyn shared::publish::EventPublisher>
        });
        let mut queue_names = std::collections::BTreeMap::new();
        for (pair, logical) in [
            (&queues, "RefreshQueue"),
            (&sync_queues, "SyncQueue"),
            (&recovery_queues, "RecoveryQueue"),
        ] {
            if let Some(pair) = pair {
                queue_names.insert(pair.queue_url.clone(), logical);
            }
        }
        iam.set_resources(iam::Resources {
            table: table_name.clone(),
            key_id: resources.kms_key_id.clone(),
            queues: queue_names,
            // The demo provider stands in for every provider the template grants.
            secrets: named
                .iter()
                .map(|(variable, id)| {
                    let logical = if variable == "STATE_KEY_SECRET" {
                        "StateSecretName"
                    } else {
                        iam::PROVIDER_CREDENTIALS
                    };
                    (id.clone(), logical)
                })
                .collect(),
            event_bus: event_bus.as_ref().map(|(bus, _)| bus.clone()),
        });
        let keys = Arc::new(CountingKeys {
            inner: KmsDataKeys::new(app_kms, resources.kms_key_id.clone()),
            generated: AtomicUsize::new(0),
            decrypted: AtomicUsize::new(0),
            seen_plaintext: Default::default(),
        });
        let queue = |pair: &Option<QueuePair>| {
            pair.as_ref().map(|q| {
                Arc::new(shared::queue::SqsQueue::new(
                    app_sqs.clone(),
                    q.queue_url.clone(),
                )) as Arc<dyn shared::queue::MessageQueue>
            })
        };
        let app = App::new(
            settings,
            catalogue,
            DynamoTable::new(app_dynamodb, table_name.clone()),
            keys.clone(),
            Arc::new(shared::secrets::SecretsManager::new(app_secrets)),
        )
        .with_cipher(shared::crypto::EnvelopeCipher::new(
            keys.clone(),
            if options.key_cache {
                CacheLimits::default()
            } else {
                CacheLimits {
                    max_age: std::time::Duration::ZERO,
                    ..CacheLimits::default()
                }
            },
        ))
        .with_queues(queue(&queues), queue(&sync_queues))
        .with_recovery_queue(queue(&recovery_queues))
        .with_refresh_tuning(options.refresh_tuning.unwrap_or_else(fast_tuning))
        .with_sync_tuning(options.sync_tuning.unwrap_or_else(fast_sync_tuning))
        .with_metrics(shared::metrics::Metrics::memory())
        .with_events(app_events);
        Self {
            app: Arc::new(app),
            table_name,
            kms_key_id: resources.kms_key_id,
            dynamodb,
            sqs,
            keys,
            state_secret,
            secret_names: named.clone(),
            stack,
            oauth_url,
            store,
            queues,
            sync_queues,
            recovery_queues,
            app_events_queue: event_bus.map(|(_, queue)| queue),
            _own_oauth_server: own_oauth_server.map(|(child, _)| child),
        }
    }

    /// Runs a request through the handler of the function the route table gives its method and
    /// path, as API Gateway and Lambda would.
    pub async fn send(&self, req: ApiRequest) -> Reply {
        let function = shared::routes::match_route(req.method.as_str(), &req.path)
            .map(|(route, _)| route.function)
            .unwrap_or_else(|| panic!("no route for {} {}", req.method, req.path));
        self.call(function, req).await
    }

    /// Runs a request through one named function, whatever its path: `sam local invoke` of an
    /// event file, where the template, not the path, picks the function.
    pub async fn call(&self, function: Function, req: ApiRequest) -> Reply {
        let served = shared::handlers::dispatch(&self.app, function, req);
        Reply(iam::as_function(function, served).await)
    }

    /// POST /providers/demo/connect as `user` with `body`: the authorization URL.
    pub async fn start_connect(&self, user: &str, body: serde_json::Value) -> String {
        let started = self
            .send(
                request(Method::POST, "/providers/demo/connect")
                    .user(user)
                    .json(body)
                    .build(),
            )
            .await;
        assert_eq!(started.status(), 200, "{}", started.body());
        started.data()["authUrl"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// [`TestApp::start_connect`], then login and consent at the OAuth server: the provider's
    /// redirect to the callback (code and state).
    pub async fn authorized(
        &self,
        user: &str,
        body: serde_json::Value,
    ) -> browser::ProviderRedirect {
        browser::authorize(&self.start_connect(user, body).await, user).await
    }

    /// connect → login and consent at the OAuth server → GET callback; the integration's JSON.
    pub async fn connect(&self, user: &str) -> serde_json::Value {
        let redirect = self.authorized(user, serde_json::json!({})).await;
        let reply = self.send(redirect.callback_request().build()).await;
        assert_eq!(reply.status(), 200, "callback: {}", reply.body());
        let list = self
            .send(request(Method::GET, "/integrations").user(user).build())
            .await;
        let integrations = list.data()["integrations"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        integrations
            .into_iter()
            .find(|i| i["provider"] == "demo" && i["externalAccountId"] == user)
            .expect("connected integration")
    }

    /// [`TestApp::connect`], for the integration's id only.
    pub async fn connected(&self, user: &str) -> String {
        self.connect(user).await["id"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The lifecycle events delivered since the last call (EventBridge envelopes), in the
    /// order the queue hands them out.
    pub async fn published_events(&self) -> Vec<serde_json::Value> {
        let queue = self.app_events_queue.as_ref().expect("Options::events");
        provision::drain_events(&self.sqs, queue)
            .await
            .expect("reading the app-events queue")
    }

    /// `make dev`'s gateway over this app, on a free loopback port, checking JWTs signed with
    /// `jwt_secret`: its base URL, and the task serving it (abort it when done).
    pub async fn serve_gateway(&self, jwt_secret: &str) -> (String, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let base = format!("http://{}", listener.local_addr().expect("its address"));
        let gateway = Arc::new(devstack::gateway::Gateway {
            app: self.app.clone(),
            jwt_secret: jwt_secret.to_string(),
        });
        (base, tokio::spawn(gateway.serve(listener)))
    }

    /// The EMF lines this app has written so far, parsed.
    pub fn metric_lines(&self) -> Vec<serde_json::Value> {
        self.app
            .metrics
            .lines()
            .iter()
            .map(|line| serde_json::from_str(line).expect("an EMF line is JSON"))
            .collect()
    }

    /// One run of the refresh scheduler (its EventBridge schedule, at `now`).
    pub async fn schedule(
        &self,
        now: i64,
    ) -> Result<shared::jobs::SchedulerReport, shared::jobs::SchedulerError> {
        let run = shared::jobs::schedule_refreshes(&self.app, now);
        iam::as_function(Function::RefreshScheduler, run).await
    }

    /// The token set stored for an integration, decrypted the way the service does.
    pub async fn stored_tokens(&self, user: &str, id: &str) -> Option<shared::oauth::TokenSet> {
        let user = shared::ids::UserId::parse(user).ok()?;
        let id = shared::ids::IntegrationId::parse(id).ok()?;
        let (integration, envelope) = self
            .app
            .integrations()
            .get_with_tokens(&user, &id)
            .await
            .ok()??;
        let plain = self
            .app
            .cipher
            .open(SealPurpose::TokenSet, &integration.token_row(), &envelope?)
            .await
            .ok()?;
        shared::oauth::TokenSet::from_plaintext(&plain).ok()
    }

    /// Audit events recorded for `user` (None: the anonymous partition).
    pub async fn audit_events(&self, user: Option<&str>) -> Vec<serde_json::Value> {
        let user = user.map(|u| shared::ids::UserId::parse(u).expect("user id"));
        let (entries, _) = self
            .app
            .audit_trail()
            .page(user.as_ref(), 100, None)
            .await
            .expect("audit page");
        entries
            .iter()
            .map(|e| serde_json::to_value(e).unwrap_or_default())
            .collect()
    }
}

/// A handler's response, with accessors for tests.
#[derive(Debug)]
pub struct Reply(pub ApiResponse);

impl Reply {
    pub fn status(&self) -> u16 {
        self.0.status.as_u16()
    }
    pub fn body(&self) -> &str {
        &self.0.body
    }
    pub fn json(&self) -> serde_json::Value {
        self.0.json_value()
    }
    pub fn data(&self) -> serde_json::Value {
        self.json()["data"].clone()
    }
    pub fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.0
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

pub struct RequestBuilder(ApiRequest);

/// A request as API Gateway would hand it to the function.
pub fn request(method: Method, path: &str) -> RequestBuilder {
    let path_params = shared::routes::match_route(method.as_str(), path)
        .map(|(_, params)| params)
        .unwrap_or_default();
    RequestBuilder(ApiRequest {
        method,
        path: path.to_string(),
        path_params,
        query: HashMap::new(),
        headers: HeaderMap::new(),
        body: Vec::new(),
        claims: None,
        backend_principal: None,
        request_id: format!("test-{}", shared::ids::random_id()),
        source_ip: Some("203.0.113.10".into()),
        user_agent: Some("integration-tests".into()),
        domain_name: Some("api.test".into()),
    })
}

impl RequestBuilder {
    pub fn user(mut self, user: &str) -> Self {
        self.0.claims = Some(HashMap::from([("sub".to_string(), user.to_string())]));
        self
    }
    /// Signed by the application's backend (API Gateway's IAM authorization).
    pub fn backend(mut self) -> Self {
        self.0.backend_principal = Some(BACKEND_PRINCIPAL.into());
        self
    }
    /// The client's address as API Gateway saw it (`requestContext.http.sourceIp`).
    pub fn source_ip(mut self, ip: &str) -> Self {
        self.0.source_ip = Some(ip.into());
        self
    }
    pub fn path_param(mut self, name: &str, value: &str) -> Self {
        self.0.path_params.insert(name.into(), value.into());
        self
    }
    pub fn query(mut self, name: &str, value: &str) -> Self {
        self.0.query.insert(name.into(), value.into());
        self
    }
    pub fn json(mut self, body: serde_json::Value) -> Self {
        self.0.body = body.to_string().into_bytes();
        self
    }
    pub fn raw_body(mut self, body: &[u8]) -> Self {
        self.0.body = body.to_vec();
        self
    }
    pub fn build(self) -> ApiRequest {
        self.0
    }
}
