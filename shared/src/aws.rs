//! The AWS SDK's configuration, built from what Lambda puts in the environment.
//!
//! `aws_config::defaults().load()` links and runs the whole default chain (profile files, SSO,
//! STS web identity and assume-role, ECS and IMDS credentials, an IMDS region lookup) into every
//! function, though a Lambda function gets its region and its role's credentials as environment
//! variables. This builds the same `SdkConfig` from those variables alone, with the settings
//! `load()` would default to for `BehaviorVersion::latest()`; `make dev` and the tests build
//! theirs here too, so they run the configuration Lambda runs.

use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::RuntimeComponents;
use aws_sdk_dynamodb::config::{
    Credentials, SharedCredentialsProvider, SharedHttpClient, StalledStreamProtectionConfig,
    retry::RetryConfig, timeout::TimeoutConfig,
};
use aws_smithy_async::rt::sleep::{SharedAsyncSleep, TokioSleep};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpConnector,
};

/// The connect timeout `load()` sets for the current behaviour version.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(3_100);

#[derive(Debug, thiserror::Error)]
#[error("{0} is not set (Lambda sets it; locally, set it or use make dev)")]
pub struct MissingVariable(&'static str);

/// `AWS_REGION` (or `AWS_DEFAULT_REGION`), the role's credentials (`AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`) and `AWS_ENDPOINT_URL` (moto, in `make dev`)
/// from `env`. Lambda's credentials do not change during a container's life (a process cannot
/// see its environment change), so reading them once is what a re-reading provider would do.
pub fn sdk_config(env: &dyn Fn(&str) -> Option<String>) -> Result<SdkConfig, MissingVariable> {
    let require = |name: &'static str| {
        env(name)
            .filter(|v| !v.is_empty())
            .ok_or(MissingVariable(name))
    };
    let region = require("AWS_REGION").or_else(|_| require("AWS_DEFAULT_REGION"))?;
    let credentials = Credentials::new(
        require("AWS_ACCESS_KEY_ID")?,
        require("AWS_SECRET_ACCESS_KEY")?,
        env("AWS_SESSION_TOKEN").filter(|t| !t.is_empty()),
        None,
        "environment",
    );
    let mut config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .http_client(http_client())
        .retry_config(RetryConfig::standard())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .build(),
        )
        .stalled_stream_protection(StalledStreamProtectionConfig::enabled().build())
        .sleep_impl(SharedAsyncSleep::new(TokioSleep::new()))
        .time_source(aws_smithy_async::time::SystemTimeSource::new());
    if let Some(endpoint) = env("AWS_ENDPOINT_URL").filter(|e| !e.is_empty()) {
        config = config.endpoint_url(endpoint);
    }
    Ok(config.build())
}

/// The HTTP client of every AWS SDK client: rustls with ring, the crypto reqwest already uses
/// for providers, so each binary carries one TLS crypto library (the SDK default is aws-lc).
/// Example followed: smithy-rs `aws-smithy-http-client/examples/client-ring.rs`.
///
/// Trusted roots: Mozilla's, compiled in, as reqwest's are (webpki-roots; a test holds the two
/// sets equal), instead of the SDK's default of reading the system's bundle at the first call.
/// Measured on this machine (#18): 0.8 ms to build these, 2.8-7 ms to read and parse
/// Debian's bundle file.
///
/// Built once per container, at its first AWS request, however many service clients share it
/// ([`FirstUseTls`]).
pub fn http_client() -> SharedHttpClient {
    SharedHttpClient::new(FirstUseTls::default())
}

/// The rustls + ring client of [`http_client`], with Mozilla's roots.
fn tls_client() -> SharedHttpClient {
    use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
    let roots = TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(root_certificates_pem());
    let builder = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring));
    match TlsContext::builder().with_trust_store(roots).build() {
        Ok(context) => builder.tls_context(context).build_https(),
        // Cannot happen (building a context only moves its parts); the system's roots then.
        Err(_) => builder.build_https(),
    }
}

/// The SDK's HTTP client, set up at the first request rather than at each service client's
/// creation.
///
/// `aws-smithy-http-client` builds a whole connector, and drops it, every time a service client
/// is created (`HyperClient::validate_base_client_config`, "so that native certs load at client
/// initialization time instead of upon first request"). For us that meant parsing the
/// compiled-in roots from PEM into a root store once per client: four or five times in a
/// function's cold start, for nothing (perf, #18: about a quarter of a cold start's CPU). There
/// are no native certificates to load early here. The client, its PEM text included, is built
/// at the first request, and its connector cached per connector settings for every service
/// client of the container.
#[derive(Debug, Default)]
struct FirstUseTls(std::sync::OnceLock<SharedHttpClient>);

impl FirstUseTls {
    fn client(&self) -> &SharedHttpClient {
        self.0.get_or_init(tls_client)
    }
}

impl HttpClient for FirstUseTls {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.client().http_connector(settings, components)
    }

    // `validate_base_client_config` and `validate_final_config` keep the trait's defaults, as
    // the client's own `validate_final_config` does: nothing to do up front.

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.client().connector_metadata()
    }
}

/// Mozilla's root certificates (webpki-root-certs) as one PEM text, the form the SDK takes.
fn root_certificates_pem() -> Vec<u8> {
    use base64::Engine;
    let mut pem = String::with_capacity(256 * 1024);
    for certificate in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        pem.push_str(&base64::engine::general_purpose::STANDARD.encode(certificate.as_ref()));
        pem.push_str("\n-----END CERTIFICATE-----\n");
    }
    pem.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::config::ConfigBag;
    use aws_smithy_runtime_api::box_error::BoxError;

    fn lookup<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[tokio::test]
    async fn lambda_variables_make_the_configuration_load_would() {
        let vars = [
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "AKID"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "session"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
        ];
        let config = sdk_config(&lookup(&vars)).unwrap();
        assert_eq!(config.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:5000"));
        assert_eq!(config.retry_config().map(|r| r.max_attempts()), Some(3));
        assert_eq!(
            config.timeout_config().and_then(|t| t.connect_timeout()),
            Some(CONNECT_TIMEOUT)
        );
        assert!(config.sleep_impl().is_some() && config.http_client().is_some());
        assert!(
            config
                .stalled_stream_protection()
                .is_some_and(|s| s.is_enabled())
        );
        use aws_sdk_dynamodb::config::ProvideCredentials;
        let credentials = config
            .credentials_provider()
            .unwrap()
            .provide_credentials()
            .await
            .unwrap();
        assert_eq!(credentials.access_key_id(), "AKID");
        assert_eq!(credentials.session_token(), Some("session"));
    }

    /// One root-certificate source: the SDK's roots are the trust anchors reqwest builds in.
    #[test]
    fn the_sdk_trusts_exactly_the_roots_reqwest_trusts() {
        use rustls::pki_types::{CertificateDer, pem::PemObject};
        let pem = root_certificates_pem();
        let mut ours = rustls::RootCertStore::empty();
        for certificate in CertificateDer::pem_slice_iter(&pem) {
            ours.add(certificate.unwrap()).unwrap();
        }
        let spki = |store: &rustls::RootCertStore| {
            let mut keys: Vec<Vec<u8>> = store
                .roots
                .iter()
                .map(|a| a.subject_public_key_info.to_vec())
                .collect();
            keys.sort();
            keys
        };
        let mut reqwests = rustls::RootCertStore::empty();
        reqwests.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        assert!(ours.len() > 100, "{} roots", ours.len());
        assert_eq!(spki(&ours), spki(&reqwests));
    }

    /// Counts the SDK's up-front set-up calls; never asked for a connector here.
    #[derive(Debug, Clone, Default)]
    struct CountingSetUp(std::sync::Arc<std::sync::atomic::AtomicUsize>);

    impl HttpClient for CountingSetUp {
        fn http_connector(
            &self,
            _: &HttpConnectorSettings,
            _: &RuntimeComponents,
        ) -> SharedHttpConnector {
            unreachable!("no request is made")
        }

        fn validate_base_client_config(
            &self,
            _: &aws_sdk_dynamodb::config::RuntimeComponentsBuilder,
            _: &ConfigBag,
        ) -> Result<(), BoxError> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        }
    }

    #[test]
    fn creating_service_clients_sets_up_no_connector() {
        let set_ups = |client: SharedHttpClient| {
            let config = SdkConfig::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new("us-east-1"))
                .http_client(client)
                .build();
            let _ = (
                aws_sdk_dynamodb::Client::new(&config),
                aws_sdk_kms::Client::new(&config),
                aws_sdk_sqs::Client::new(&config),
            );
        };
        // The SDK asks its HTTP client to set up once per service client (the inner client
        // builds a TLS connector each time)...
        let counting = CountingSetUp::default();
        set_ups(SharedHttpClient::new(counting.clone()));
        assert_eq!(counting.0.load(std::sync::atomic::Ordering::SeqCst), 3);
        // ...which `http_client`'s wrapper leaves to the first request.
        let counting = CountingSetUp::default();
        let first_use = FirstUseTls::default();
        let _ = first_use.0.set(SharedHttpClient::new(counting.clone()));
        set_ups(SharedHttpClient::new(first_use));
        assert_eq!(counting.0.load(std::sync::atomic::Ordering::SeqCst), 0);
    }

    #[test]
    fn a_missing_region_or_key_is_named() {
        let no_region = [("AWS_ACCESS_KEY_ID", "a"), ("AWS_SECRET_ACCESS_KEY", "s")];
        let e = sdk_config(&lookup(&no_region)).unwrap_err();
        assert!(e.to_string().contains("AWS_DEFAULT_REGION"), "{e}");
        let no_key = [("AWS_DEFAULT_REGION", "us-east-1")];
        let e = sdk_config(&lookup(&no_key)).unwrap_err();
        assert!(e.to_string().contains("AWS_ACCESS_KEY_ID"), "{e}");
    }
}
