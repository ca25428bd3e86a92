//! The contract test of a catalogue entry: replays the provider's recording
//! (tests/providers/<id>.toml, written from its documentation) through a [`ProviderFake`] while
//! the real handlers run connect → callback → token → refresh → token → disconnect, and checks
//! every request the provider received against what the recording says it requires.

use std::collections::BTreeMap;

use base64::Engine;
use lambda_http::http::Method;
use serde::Deserialize;
use shared::crypto::{RowBinding, SealPurpose};
use shared::store::{RefreshLease, RefreshedTokens};

use crate::browser::ProviderRedirect;
use crate::provider_fake::{ProviderFake, Received, Scripted, rebase_catalogue};
use crate::{API_BASE, Options, Reply, TestApp, request};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recording {
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    pub authorize: Authorize,
    #[serde(default)]
    pub exchange: Vec<Exchange>,
    pub expect: Expect,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authorize {
    pub url: String,
    pub params: BTreeMap<String, String>,
    #[serde(default)]
    pub absent: Vec<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    Callback,
    Refresh,
    Disconnect,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exchange {
    pub step: Step,
    pub method: String,
    pub url: String,
    #[serde(default)]
    pub client_auth: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    #[serde(default)]
    pub form: BTreeMap<String, String>,
    #[serde(default)]
    pub json: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub absent: Vec<String>,
    pub response: Answer,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    pub status: u16,
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub body: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub account_id: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    /// The integration's `avatarUrl` (none: the entry takes no picture from this answer).
    #[serde(default)]
    pub avatar: Option<String>,
    pub access_token: String,
    pub refreshable: bool,
    #[serde(default)]
    pub token_age_secs: i64,
    #[serde(default)]
    pub refreshed_access_token: Option<String>,
    pub revoked: bool,
}

impl Recording {
    pub fn load(id: &str) -> Self {
        let path = format!("{}/providers/{id}.toml", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        toml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// The fake's answers for `step`, URLs with their placeholders filled in.
    pub fn scripted(&self, step: Step, values: &Placeholders) -> Vec<Scripted> {
        self.exchanges(step)
            .map(|x| Scripted {
                method: x.method.clone(),
                url: values.fill(&x.url),
                status: x.response.status,
                content_type: x.response.content_type.clone(),
                body: x.response.body.trim().to_string(),
            })
            .collect()
    }

    /// Every token the recording's provider hands out (what must never reach a log line).
    pub fn tokens(&self) -> Vec<String> {
        fn walk(value: &serde_json::Value, out: &mut Vec<String>) {
            match value {
                serde_json::Value::Object(map) => {
                    for (key, v) in map {
                        match v {
                            serde_json::Value::String(s)
                                if key.ends_with("access_token")
                                    || key.ends_with("refresh_token")
                                    || key == "id_token" =>
                            {
                                out.push(s.clone())
                            }
                            _ => walk(v, out),
                        }
                    }
                }
                serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
                _ => {}
            }
        }
        let mut out = Vec::new();
        for exchange in &self.exchange {
            if let Ok(body) = serde_json::from_str(&exchange.response.body) {
                walk(&body, &mut out);
            }
        }
        out
    }

    pub fn exchanges(&self, step: Step) -> impl Iterator<Item = &Exchange> {
        self.exchange.iter().filter(move |x| x.step == step)
    }
}

/// The values placeholders stand for.
pub struct Placeholders {
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uri: String,
    pub code: String,
    /// The authorization URL's `code_challenge`, once seen.
    pub code_challenge: Option<String>,
}

impl Placeholders {
    pub fn for_provider(id: &str) -> Self {
        Self {
            client_id: format!("{id}-client-id"),
            client_secret: format!("{id}-secret_123"),
            redirect_uri: format!("{API_BASE}/providers/{id}/callback"),
            code: format!("{id}-code-1"),
            code_challenge: None,
        }
    }

    fn fill(&self, text: &str) -> String {
        text.replace("{client_id}", &self.client_id)
            .replace("{client_secret}", &self.client_secret)
            .replace("{redirect_uri}", &self.redirect_uri)
            .replace("{code}", &self.code)
    }

    /// Whether `actual` is what `expected` (with placeholders) asks for.
    fn matches(&self, expected: &str, actual: &str) -> bool {
        match expected {
            "{any}" => !actual.is_empty(),
            "{code_verifier}" => {
                use sha2::Digest;
                let hash = sha2::Sha256::digest(actual.as_bytes());
                let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hash);
                self.code_challenge.as_deref() == Some(challenge.as_str())
            }
            _ => self.fill(expected) == actual,
        }
    }

    /// HTTP Basic of the client credentials (RFC 7617). The test credentials hold no
    /// character that RFC 6749 §2.3.1's form-encoding changes, so both readings agree here;
    /// the encoding itself is unit-tested (shared/src/tests/oauth_wire.rs).
    fn basic(&self) -> String {
        let pair = format!("{}:{}", self.client_id, self.client_secret);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    }
}

/// Every way `received` differs from `expected`, as readable lines.
pub fn differences(
    expected: &[&Exchange],
    received: &[Received],
    values: &Placeholders,
) -> Vec<String> {
    let mut out = Vec::new();
    if expected.len() != received.len() {
        out.push(format!(
            "expected {} requests, got {}: {:?}",
            expected.len(),
            received.len(),
            received
                .iter()
                .map(|r| format!("{} {}", r.method, r.url))
                .collect::<Vec<_>>()
        ));
    }
    for (i, (x, r)) in expected.iter().zip(received).enumerate() {
        let at = format!("request {} ({} {})", i + 1, x.method, x.url);
        if x.method != r.method || values.fill(&x.url) != r.url {
            out.push(format!("{at}: got {} {}", r.method, r.url));
            continue;
        }
        let authorization = r.header("authorization").unwrap_or_default();
        match x.client_auth.as_deref() {
            Some("basic") if authorization != values.basic() => out.push(format!(
                "{at}: client authentication must be HTTP Basic of the client credentials"
            )),
            None if authorization.starts_with("Basic ") => out.push(format!(
                "{at}: no HTTP Basic client authentication expected"
            )),
            _ => {}
        }
        for (name, value) in &x.headers {
            match r.header(name) {
                Some(actual) if values.matches(value, actual) => {}
                actual => out.push(format!(
                    "{at}: header {name}: want {value:?}, got {actual:?}"
                )),
            }
        }
        let form = r.form();
        let json = r.json();
        let lookup = |pairs: &[(String, String)], name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        for (name, value) in &x.query {
            match lookup(&r.query, name) {
                Some(actual) if values.matches(value, &actual) => {}
                actual => out.push(format!(
                    "{at}: query {name}: want {value:?}, got {actual:?}"
                )),
            }
        }
        for (name, value) in &x.form {
            match lookup(&form, name) {
                Some(actual) if values.matches(value, &actual) => {}
                actual => out.push(format!("{at}: form {name}: want {value:?}, got {actual:?}")),
            }
        }
        for (name, value) in &x.json {
            let actual = json.as_ref().and_then(|j| j.get(name));
            let ok = match (value, actual) {
                (serde_json::Value::String(want), Some(serde_json::Value::String(got))) => {
                    values.matches(want, got)
                }
                (want, Some(got)) => want == got,
                _ => false,
            };
            if !ok {
                out.push(format!("{at}: JSON {name}: want {value}, got {actual:?}"));
            }
        }
        for name in &x.absent {
            let present = lookup(&r.query, name).is_some()
                || lookup(&form, name).is_some()
                || json.as_ref().is_some_and(|j| j.get(name).is_some());
            if present {
                out.push(format!("{at}: `{name}` must not be sent"));
            }
        }
    }
    out
}

/// A catalogue entry under test: the app, with the entry's URLs served by a [`ProviderFake`].
pub struct Contract {
    pub id: String,
    pub user: &'static str,
    pub app: TestApp,
    pub fake: ProviderFake,
    pub values: Placeholders,
    pub recording: Recording,
}

impl Contract {
    pub async fn start(id: &str) -> Self {
        let recording = Recording::load(id);
        let fake = ProviderFake::start().await.expect("provider fake");
        let values = Placeholders::for_provider(id);
        let prefix = shared::ids::ProviderId::parse(id)
            .expect("provider id")
            .env_prefix();
        let mut env = vec![
            (format!("{prefix}_CLIENT_ID"), values.client_id.clone()),
            (
                format!("{prefix}_CLIENT_SECRET"),
                values.client_secret.clone(),
            ),
        ];
        env.extend(recording.env.clone());
        let app = TestApp::with(Options {
            catalogue: Some(rebase_catalogue(shared::catalogue::EMBEDDED, &fake.base())),
            env,
            ..Options::default()
        })
        .await;
        Self {
            id: id.to_string(),
            user: "ada",
            app,
            fake,
            values,
            recording,
        }
    }

    /// Checks the requests the fake got since the last check against `expected`.
    pub fn check(&self, step: &str, expected: Vec<&Exchange>, context: &str) {
        let received = self.fake.take_received();
        let problems = differences(&expected, &received, &self.values);
        assert!(
            problems.is_empty(),
            "{}, {step}: the provider saw requests its documentation does not allow:\n  {}\n{context}",
            self.id,
            problems.join("\n  ")
        );
    }

    /// POST /providers/{id}/connect, checked against the recording's `[authorize]`; the
    /// authorization URL's parameters.
    pub async fn authorize(&mut self) -> BTreeMap<String, String> {
        let id = self.id.clone();
        let started = self
            .app
            .send(
                request(Method::POST, &format!("/providers/{id}/connect"))
                    .user(self.user)
                    .path_param("provider", &id)
                    .build(),
            )
            .await;
        assert_eq!(started.status(), 200, "{id} connect: {}", started.body());
        let auth_url = url::Url::parse(started.data()["authUrl"].as_str().unwrap_or_default())
            .expect("authUrl");
        let params: BTreeMap<String, String> = auth_url.query_pairs().into_owned().collect();
        let mut base = auth_url.clone();
        base.set_query(None);
        assert_eq!(
            self.fake.provider_url(base.as_str()).as_deref(),
            Some(self.recording.authorize.url.as_str()),
            "{id}: authorization endpoint"
        );
        self.values.code_challenge = params.get("code_challenge").cloned();
        let mut problems = Vec::new();
        for (name, want) in &self.recording.authorize.params {
            match params.get(name) {
                Some(got) if self.values.matches(want, got) => {}
                got => problems.push(format!("{name}: want {want:?}, got {got:?}")),
            }
        }
        for name in &self.recording.authorize.absent {
            if params.contains_key(name) {
                problems.push(format!("`{name}` must not be sent"));
            }
        }
        assert!(
            problems.is_empty(),
            "{id}: authorization URL {auth_url}:\n  {}",
            problems.join("\n  ")
        );
        params
    }

    /// The provider's redirect to the GET callback with the recording's code, after scripting
    /// `answers` at the fake.
    pub async fn callback(&self, state: &str, answers: Vec<Scripted>) -> Reply {
        self.fake.script(answers);
        let mut callback = url::Url::parse(&self.values.redirect_uri).expect("redirect URI");
        callback
            .query_pairs_mut()
            .append_pair("code", &self.values.code)
            .append_pair("state", state);
        self.app
            .send(
                ProviderRedirect { url: callback }
                    .callback_request()
                    .build(),
            )
            .await
    }

    /// Connect and callback as the recording describes them; the integration's JSON.
    pub async fn connect(&mut self) -> serde_json::Value {
        let params = self.authorize().await;
        let reply = self
            .callback(
                &params["state"],
                self.recording.scripted(Step::Callback, &self.values),
            )
            .await;
        self.check(
            "callback",
            self.recording.exchanges(Step::Callback).collect(),
            &format!("callback answered {}: {}", reply.status(), reply.body()),
        );
        assert_eq!(
            reply.status(),
            200,
            "{} callback: {}",
            self.id,
            reply.body()
        );
        integration_of(&self.app, &self.id, self.user).await
    }

    /// Whether the refresh index will ever find it due: every connected integration is in the
    /// index (to be counted), those with nothing to renew under a never-due key.
    pub async fn in_refresh_index(&self, integration_id: &str) -> bool {
        let never = shared::store::keys::refresh_sort(shared::store::keys::NEVER_DUE, "");
        match self
            .app
            .integration_item(self.user, integration_id)
            .await
            .get("GSI1SK")
        {
            Some(aws_sdk_dynamodb::types::AttributeValue::S(sort)) => !sort.starts_with(&never),
            _ => false,
        }
    }
}

/// Runs the whole contract of catalogue entry `id` against its recording.
pub async fn replay(id: &str) {
    let mut contract = Contract::start(id).await;
    let integration = contract.connect().await;
    let (app, user) = (&contract.app, contract.user);
    let integration_id = integration["id"].as_str().unwrap_or_default().to_string();
    let expect = &contract.recording.expect;
    assert_eq!(
        integration["externalAccountId"],
        expect.account_id.as_str(),
        "{id}: account id"
    );
    assert_eq!(
        integration["email"].as_str(),
        expect.email.as_deref(),
        "{id}: email"
    );
    assert_eq!(
        integration["displayName"].as_str(),
        expect.name.as_deref(),
        "{id}: display name"
    );
    assert_eq!(
        integration["avatarUrl"].as_str(),
        expect.avatar.as_deref(),
        "{id}: avatar"
    );

    // The token the application's backend gets, with no provider call.
    assert_eq!(
        token_of(app, user, &integration_id).await,
        expect.access_token,
        "{id}: token after connect"
    );
    contract.check("token", Vec::new(), "");
    assert_eq!(
        contract.in_refresh_index(&integration_id).await,
        expect.refreshable,
        "{id}: in the refresh index after connect"
    );

    // A forced refresh.
    if expect.token_age_secs > 0 {
        age_tokens(app, user, &integration_id, expect.token_age_secs).await;
    }
    contract
        .fake
        .script(contract.recording.scripted(Step::Refresh, &contract.values));
    let refreshed = app.manual_refresh(user, &integration_id).await;
    contract.check(
        "refresh",
        contract.recording.exchanges(Step::Refresh).collect(),
        &format!(
            "refresh answered {}: {}",
            refreshed.status(),
            refreshed.body()
        ),
    );
    assert_eq!(
        refreshed.status(),
        200,
        "{id} refresh: {}",
        refreshed.body()
    );
    let want = expect
        .refreshed_access_token
        .as_deref()
        .unwrap_or(&expect.access_token);
    assert_eq!(
        token_of(app, user, &integration_id).await,
        want,
        "{id}: token after refresh"
    );
    contract.check("token", Vec::new(), "");
    assert_eq!(
        contract.in_refresh_index(&integration_id).await,
        expect.refreshable,
        "{id}: in the refresh index after the refresh"
    );

    // Disconnect: revocation in the provider's style.
    contract.fake.script(
        contract
            .recording
            .scripted(Step::Disconnect, &contract.values),
    );
    let removed = app
        .send(
            request(Method::DELETE, &format!("/integrations/{integration_id}"))
                .user(user)
                .build(),
        )
        .await;
    contract.check(
        "disconnect",
        contract.recording.exchanges(Step::Disconnect).collect(),
        &format!(
            "disconnect answered {}: {}",
            removed.status(),
            removed.body()
        ),
    );
    assert_eq!(removed.status(), 200, "{id} disconnect: {}", removed.body());
    assert_eq!(removed.data()["revoked"], expect.revoked, "{id}: revoked");
    let unused = contract.fake.unused();
    assert!(unused.is_empty(), "{id}: never asked: {unused:?}");
}

pub async fn integration_of(app: &TestApp, provider: &str, user: &str) -> serde_json::Value {
    let list = app
        .send(request(Method::GET, "/integrations").user(user).build())
        .await;
    list.data()["integrations"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .find(|i| i["provider"] == provider)
        .unwrap_or_else(|| panic!("no {provider} integration: {}", list.body()))
}

pub async fn token_of(app: &TestApp, user: &str, id: &str) -> String {
    let reply: Reply = app.token_route(user, id).await;
    assert_eq!(reply.status(), 200, "token route: {}", reply.body());
    reply.data()["accessToken"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Time travel: the stored tokens were issued `secs` seconds earlier than they were.
pub async fn age_tokens(app: &TestApp, user: &str, id: &str, secs: i64) {
    rewrite_tokens(app, user, id, |tokens, now| {
        tokens.issued_at = Some(tokens.issued_at.unwrap_or(now) - secs);
    })
    .await
}

/// Rewrites the sealed token set of an integration, under a lease like a refresh.
async fn rewrite_tokens(
    app: &TestApp,
    user: &str,
    id: &str,
    change: impl FnOnce(&mut shared::oauth::TokenSet, i64),
) {
    let user_id = shared::ids::UserId::parse(user).expect("user");
    let integration_id = shared::ids::IntegrationId::parse(id).expect("id");
    let (integration, envelope) = app
        .app
        .integrations()
        .get_with_tokens(&user_id, &integration_id)
        .await
        .expect("read")
        .expect("integration");
    let row = RowBinding {
        user_id: user,
        record_id: id,
        provider: integration.provider.as_str(),
    };
    let plain = app
        .app
        .cipher
        .open(SealPurpose::TokenSet, &row, &envelope.expect("envelope"))
        .await
        .expect("open");
    let mut tokens = shared::oauth::TokenSet::from_plaintext(&plain).expect("tokens");
    let now = shared::clock::now_epoch();
    change(&mut tokens, now);
    let sealed = app
        .app
        .cipher
        .seal(SealPurpose::TokenSet, &row, &tokens.to_plaintext())
        .await
        .expect("seal");
    let lease = RefreshLease {
        owner: "test-time-travel".into(),
        until_ms: shared::clock::now_epoch_ms() + 10_000,
    };
    let now_ms = shared::clock::now_epoch_ms();
    assert!(
        app.app
            .leases()
            .acquire(&integration, &lease, now_ms)
            .await
            .expect("lease")
    );
    app.app
        .leases()
        .complete(
            &integration,
            &lease,
            RefreshedTokens {
                envelope: &sealed,
                expires_at: tokens.expires_at,
                refresh_at: app
                    .app
                    .catalogue
                    .get(integration.provider.as_str())
                    .and_then(|p| p.refresh_at(&tokens)),
                refreshed_at: integration.refreshed_at.unwrap_or(now - 3600),
                clear_error: false,
            },
        )
        .await
        .expect("aged tokens written");
}

/// Time travel: the stored access token expired a minute ago (the refresh token is kept).
pub async fn expire_tokens(app: &TestApp, user: &str, id: &str) {
    rewrite_tokens(app, user, id, |tokens, now| {
        tokens.expires_at = Some(now - 60);
    })
    .await
}
