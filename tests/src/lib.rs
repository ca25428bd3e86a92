//! Test harness: one moto server and one local OAuth server per test process (started on free
//! ports on first use), and per test a [`TestApp`] with its own table and KMS key, so tests run
//! in parallel without seeing each other's data.

pub mod browser;
pub mod logs;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use devstack::process::{GuardedChild, OAuthServerOptions, start_moto, start_oauth_server};
use devstack::provision;
use lambda_http::http::{HeaderMap, Method};
use shared::catalogue::ProviderCatalogue;
use shared::config::Settings;
use shared::crypto::{DataKey, DataKeySource, GeneratedDataKey, KmsDataKeys, SealPurpose};
use shared::store::DynamoTable;
use shared::{ApiRequest, ApiResponse, App, Function};
use tokio::sync::OnceCell;

pub const CLIENT_ID: &str = "demo-client";
pub const CLIENT_SECRET: &str = "demo-secret-for-tests-8f3b2c";
/// The API's base URL in tests; the provider redirects there, and the browser driver stops there.
pub const API_BASE: &str = "http://127.0.0.1:1";
pub const APP_ORIGIN: &str = "http://localhost:3000";

pub struct Stack {
    pub moto_url: String,
    pub oauth_url: String,
    pub aws: aws_config::SdkConfig,
    _children: Vec<GuardedChild>,
}

static STACK: OnceCell<Stack> = OnceCell::const_new();

/// The process-wide local stack.
pub async fn stack() -> &'static Stack {
    if std::env::var_os("TEST_LOG").is_some() {
        // Logs only when asked: `TEST_LOG=1 cargo test`. A second init (other tests) is a no-op.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
    STACK
        .get_or_init(|| async {
            let (moto, moto_url) = start_moto(devstack::free_port().expect("free port"))
                .await
                .expect("moto server"); // allow-panic
            let (oauth, oauth_url) = start_oauth_server(&OAuthServerOptions {
                port: devstack::free_port().expect("free port"), // allow-panic
                client_id: CLIENT_ID.into(),
                client_secret: CLIENT_SECRET.into(),
                redirect_uris: vec![format!("{API_BASE}/providers/demo/callback")],
                access_token_ttl_secs: 3600,
            })
            .await
            .expect("local OAuth server"); // allow-panic
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
        encrypted: &[u8],
        purpose: SealPurpose,
    ) -> Result<DataKey, shared::crypto::CryptoError> {
        self.decrypted.fetch_add(1, Ordering::SeqCst);
        let key = self.inner.decrypt_data_key(encrypted, purpose).await?;
        self.remember(&key);
        Ok(key)
    }
}

pub struct TestApp {
    pub app: Arc<App>,
    pub table_name: String,
    pub kms_key_id: String,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub keys: Arc<CountingKeys>,
    pub state_secret: String,
    pub stack: &'static Stack,
}

#[derive(Default)]
pub struct Options {
    pub state_ttl_secs: Option<i64>,
    /// `CALLBACK_COMPLETION` (`direct` when None).
    pub callback_completion: Option<&'static str>,
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
            .expect("provisioning"); // allow-panic
        let env_map: HashMap<&str, String> = HashMap::from([
            ("TABLE_NAME", table_name.clone()),
            ("KMS_KEY_ID", resources.kms_key_id.clone()),
            ("STATE_SECRET", state_secret.clone()),
            (
                "STATE_TTL_SECONDS",
                options.state_ttl_secs.unwrap_or(600).to_string(),
            ),
            ("PUBLIC_BASE_URL", API_BASE.into()),
            ("RETURN_TO_ALLOWED_ORIGINS", APP_ORIGIN.into()),
            (
                "CALLBACK_COMPLETION",
                options.callback_completion.unwrap_or("direct").into(),
            ),
            ("DEMO_OAUTH_URL", stack.oauth_url.clone()),
            ("DEMO_CLIENT_ID", CLIENT_ID.into()),
            ("DEMO_CLIENT_SECRET", CLIENT_SECRET.into()),
            // Configured, never called: only its states and callback route are exercised.
            ("GOOGLE_CLIENT_ID", "google-client".into()),
            ("GOOGLE_CLIENT_SECRET", "google-secret".into()),
        ]);
        let env = |k: &str| env_map.get(k).cloned();
        let settings = Settings::from_env(&env).expect("settings"); // allow-panic
        let catalogue = ProviderCatalogue::load(&env).expect("catalogue"); // allow-panic
        let dynamodb = aws_sdk_dynamodb::Client::new(&stack.aws);
        let keys = Arc::new(CountingKeys {
            inner: KmsDataKeys::new(
                aws_sdk_kms::Client::new(&stack.aws),
                resources.kms_key_id.clone(),
            ),
            generated: AtomicUsize::new(0),
            decrypted: AtomicUsize::new(0),
            seen_plaintext: Default::default(),
        });
        let app = App::new(
            settings,
            catalogue,
            DynamoTable::new(dynamodb.clone(), table_name.clone()),
            keys.clone(),
        )
        .expect("app"); // allow-panic
        Self {
            app: Arc::new(app),
            table_name,
            kms_key_id: resources.kms_key_id,
            dynamodb,
            keys,
            state_secret,
            stack,
        }
    }

    /// Runs a request through the function's handler, as Lambda would.
    pub async fn call(&self, function: Function, req: ApiRequest) -> Reply {
        Reply(shared::handlers::handle(&self.app, function, req).await)
    }

    /// connect → login and consent at the OAuth server → GET callback; the integration's JSON.
    pub async fn connect(&self, user: &str) -> serde_json::Value {
        let started = self
            .call(
                Function::Connect,
                request(Method::POST, "/providers/demo/connect")
                    .user(user)
                    .path_param("provider", "demo")
                    .build(),
            )
            .await;
        assert_eq!(started.status(), 200, "{}", started.body()); // allow-panic
        let auth_url = started.data()["authUrl"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let redirect = browser::authorize(&auth_url, user).await;
        let reply = self
            .call(Function::Callback, redirect.callback_request().build())
            .await;
        assert_eq!(reply.status(), 200, "callback: {}", reply.body()); // allow-panic
        let list = self
            .call(
                Function::ListIntegrations,
                request(Method::GET, "/integrations").user(user).build(),
            )
            .await;
        let integrations = list.data()["integrations"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        integrations
            .into_iter()
            .find(|i| i["provider"] == "demo" && i["externalAccountId"] == user)
            .expect("connected integration") // allow-panic
    }

    /// Audit events recorded for `user` (None: the anonymous partition).
    pub async fn audit_events(&self, user: Option<&str>) -> Vec<serde_json::Value> {
        let user = user.map(|u| shared::ids::UserId::parse(u).expect("user id")); // allow-panic
        let (entries, _) = self
            .app
            .audit_trail
            .page(user.as_ref(), 100, None)
            .await
            .expect("audit page"); // allow-panic
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
    let mut path_params = HashMap::new();
    if let Some((route, params)) = shared::routes::match_route(method.as_str(), path) {
        let _ = route;
        path_params = params;
    }
    RequestBuilder(ApiRequest {
        method,
        path: path.to_string(),
        path_params,
        query: HashMap::new(),
        headers: HeaderMap::new(),
        body: Vec::new(),
        claims: None,
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
