//! The route table: which function serves which method and path. template.yaml and
//! docs/openapi.yaml are tested against it; the dev gateway routes by it.

use std::collections::HashMap;

/// One Lambda function of template.yaml.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    Health,
    Providers,
    Connect,
    Callback,
    ListIntegrations,
    GetIntegration,
    Disconnect,
    Audit,
    Refresh,
    TestConnection,
    Token,
    RefreshScheduler,
    RefreshWorker,
    Sync,
    ListEvents,
    UpdateIntegration,
    SyncWorker,
    TokenRecovery,
    CreateEvent,
    UpdateEvent,
    DeleteEvent,
    ListContacts,
}

impl Function {
    /// The crate and binary name under functions/.
    pub fn name(self) -> &'static str {
        match self {
            Self::Health => "health",
            Self::Providers => "providers",
            Self::Connect => "connect",
            Self::Callback => "callback",
            Self::ListIntegrations => "list-integrations",
            Self::GetIntegration => "get-integration",
            Self::Disconnect => "disconnect",
            Self::Audit => "audit",
            Self::Refresh => "refresh",
            Self::TestConnection => "test-connection",
            Self::Token => "token",
            Self::RefreshScheduler => "refresh-scheduler",
            Self::RefreshWorker => "refresh-worker",
            Self::Sync => "sync",
            Self::ListEvents => "list-events",
            Self::UpdateIntegration => "update-integration",
            Self::SyncWorker => "sync-worker",
            Self::TokenRecovery => "token-recovery",
            Self::CreateEvent => "create-event",
            Self::UpdateEvent => "update-event",
            Self::DeleteEvent => "delete-event",
            Self::ListContacts => "list-contacts",
        }
    }

    /// Every function of template.yaml, one crate each under functions/.
    /// Whether the function's container builds AWS clients. The static routes (`/health`,
    /// `/providers`) answer from the embedded catalogue and make no AWS call, so theirs build
    /// none: no SDK configuration, no client, nothing read at cold start.
    pub fn builds_aws_clients(self) -> bool {
        !matches!(self, Function::Health | Function::Providers)
    }

    pub const ALL: &[Function] = &[
        Self::Health,
        Self::Providers,
        Self::Connect,
        Self::Callback,
        Self::ListIntegrations,
        Self::GetIntegration,
        Self::Disconnect,
        Self::Audit,
        Self::Refresh,
        Self::TestConnection,
        Self::Token,
        Self::RefreshScheduler,
        Self::RefreshWorker,
        Self::Sync,
        Self::ListEvents,
        Self::UpdateIntegration,
        Self::SyncWorker,
        Self::TokenRecovery,
        Self::CreateEvent,
        Self::UpdateEvent,
        Self::DeleteEvent,
        Self::ListContacts,
    ];
}

/// Who API Gateway lets through to a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// No authorization.
    Public,
    /// A user's JWT (the HTTP API's JWT authorizer); the caller is its `sub`.
    User,
    /// IAM (SigV4): the application's own backend.
    Backend,
}

pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub function: Function,
    pub auth: Auth,
    /// Whose budget a request spends (crate::rate_limit); None: not limited per caller.
    pub limit: Option<LimitClass>,
}

/// A per-caller rate-limit class: each has its own budget per caller and window
/// (`RATE_LIMITS`, config::RateLimits; docs/architecture.md, "Rate limits"). The caller is the
/// route's [`Auth`]: the user, the backend principal, or for the public callback the source IP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitClass {
    /// Every read: the integrations, one integration, its events, a sync job, the audit trail.
    Read,
    Connect,
    /// The app's completion (POST callback).
    Callback,
    Refresh,
    Disconnect,
    /// A provider call each.
    Test,
    /// A sync job each (a full listing can be thousands of provider pages).
    Sync,
    Settings,
    /// The backend's token hand-out, per backend principal.
    Token,
    /// The provider's redirect (GET callback): public, so per source IP.
    BrowserCallback,
    /// A provider write each: creating, changing or deleting an event.
    EventWrite,
}

impl LimitClass {
    pub const ALL: &[LimitClass] = &[
        Self::Read,
        Self::Connect,
        Self::Callback,
        Self::Refresh,
        Self::Disconnect,
        Self::Test,
        Self::Sync,
        Self::Settings,
        Self::Token,
        Self::BrowserCallback,
        Self::EventWrite,
    ];

    /// Its name in `RATE_LIMITS` and in the counters' keys.
    pub fn name(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Connect => "connect",
            Self::Callback => "callback",
            Self::Refresh => "refresh",
            Self::Disconnect => "disconnect",
            Self::Test => "test",
            Self::Sync => "sync",
            Self::Settings => "settings",
            Self::Token => "token",
            Self::BrowserCallback => "browser-callback",
            Self::EventWrite => "event-write",
        }
    }

    /// Requests per caller and minute unless `RATE_LIMITS` says otherwise: the product's API
    /// contract for status (read), connect, callback, refresh and disconnect; the others ours.
    pub fn default_per_minute(self) -> u32 {
        match self {
            Self::Read => 60,
            Self::Connect | Self::Test | Self::Sync => 10,
            Self::Callback | Self::Disconnect => 20,
            Self::Refresh | Self::Settings | Self::BrowserCallback | Self::EventWrite => 30,
            Self::Token => 1200,
        }
    }
}

/// The route `function` serves for `method`: each function has at most one route per method.
pub fn route_of(function: Function, method: &str) -> Option<&'static Route> {
    ROUTES
        .iter()
        .find(|r| r.function == function && r.method.eq_ignore_ascii_case(method))
}

pub const ROUTES: &[Route] = &[
    // Static like /providers (no table call): not limited per caller; the route throttle bounds it.
    Route {
        method: "GET",
        path: "/health",
        function: Function::Health,
        auth: Auth::Public,
        limit: None,
    },
    Route {
        method: "GET",
        path: "/providers",
        function: Function::Providers,
        auth: Auth::Public,
        limit: None,
    },
    Route {
        method: "POST",
        path: "/providers/{provider}/connect",
        function: Function::Connect,
        auth: Auth::User,
        limit: Some(LimitClass::Connect),
    },
    Route {
        method: "GET",
        path: "/providers/{provider}/callback",
        function: Function::Callback,
        auth: Auth::Public,
        limit: Some(LimitClass::BrowserCallback),
    },
    Route {
        method: "POST",
        path: "/providers/{provider}/callback",
        function: Function::Callback,
        auth: Auth::User,
        limit: Some(LimitClass::Callback),
    },
    Route {
        method: "GET",
        path: "/integrations",
        function: Function::ListIntegrations,
        auth: Auth::User,
        limit: Some(LimitClass::Read),
    },
    Route {
        method: "GET",
        path: "/integrations/{id}",
        function: Function::GetIntegration,
        auth: Auth::User,
        limit: Some(LimitClass::Read),
    },
    Route {
        method: "DELETE",
        path: "/integrations/{id}",
        function: Function::Disconnect,
        auth: Auth::User,
        limit: Some(LimitClass::Disconnect),
    },
    Route {
        method: "GET",
        path: "/audit",
        function: Function::Audit,
        auth: Auth::User,
        limit: Some(LimitClass::Read),
    },
    Route {
        method: "POST",
        path: "/integrations/{id}/refresh",
        function: Function::Refresh,
        auth: Auth::User,
        limit: Some(LimitClass::Refresh),
    },
    Route {
        method: "POST",
        path: "/integrations/{id}/test",
        function: Function::TestConnection,
        auth: Auth::User,
        limit: Some(LimitClass::Test),
    },
    Route {
        method: "GET",
        path: "/users/{userId}/integrations/{id}/token",
        function: Function::Token,
        auth: Auth::Backend,
        limit: Some(LimitClass::Token),
    },
    Route {
        method: "POST",
        path: "/integrations/{id}/sync",
        function: Function::Sync,
        auth: Auth::User,
        limit: Some(LimitClass::Sync),
    },
    Route {
        method: "GET",
        path: "/integrations/{id}/sync/{jobId}",
        function: Function::Sync,
        auth: Auth::User,
        limit: Some(LimitClass::Read),
    },
    Route {
        method: "GET",
        path: "/integrations/{id}/events",
        function: Function::ListEvents,
        auth: Auth::User,
        limit: Some(LimitClass::Read),
    },
    Route {
        method: "PATCH",
        path: "/integrations/{id}",
        function: Function::UpdateIntegration,
        auth: Auth::User,
        limit: Some(LimitClass::Settings),
    },
    Route {
        method: "GET",
        path: "/integrations/{id}/contacts",
        function: Function::ListContacts,
        auth: Auth::User,
        limit: Some(LimitClass::Read),
    },
    Route {
        method: "POST",
        path: "/integrations/{id}/events",
        function: Function::CreateEvent,
        auth: Auth::User,
        limit: Some(LimitClass::EventWrite),
    },
    Route {
        method: "PATCH",
        path: "/integrations/{id}/events/{eventId}",
        function: Function::UpdateEvent,
        auth: Auth::User,
        limit: Some(LimitClass::EventWrite),
    },
    Route {
        method: "DELETE",
        path: "/integrations/{id}/events/{eventId}",
        function: Function::DeleteEvent,
        auth: Auth::User,
        limit: Some(LimitClass::EventWrite),
    },
];

/// The route for a request and its path parameters (percent-decoded).
/// CORS, as API Gateway answers it for the app's origins (template.yaml's
/// `CorsConfiguration`, and the dev gateway; a test holds the three to the same values).
/// A browser app sends its JWT in `Authorization` and JSON bodies: both need a preflight.
pub mod cors {
    /// `idempotency-key`: a retried event create makes one event (handlers::event_writes).
    pub const ALLOW_HEADERS: &[&str] = &["authorization", "content-type", "idempotency-key"];
    /// What a page may read beyond the basics: when to retry, and its rate-limit budget (the
    /// correlation id is in the body).
    pub const EXPOSE_HEADERS: &[&str] = &[
        "retry-after",
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
    ];
    /// A preflight is reused for 10 minutes.
    pub const MAX_AGE_SECS: u32 = 600;

    /// Every method of the route table, each once, in the table's order.
    pub fn allow_methods() -> Vec<&'static str> {
        let mut methods = Vec::new();
        for route in super::ROUTES {
            if !methods.contains(&route.method) {
                methods.push(route.method);
            }
        }
        methods
    }
}

/// The methods some route serves at `path`, for a 405's `Allow`; empty: no such path.
pub fn methods_at(path: &str) -> Vec<&'static str> {
    cors::allow_methods()
        .into_iter()
        .filter(|m| match_route(m, path).is_some())
        .collect()
}

pub fn match_route(method: &str, path: &str) -> Option<(&'static Route, HashMap<String, String>)> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    ROUTES
        .iter()
        .filter(|r| r.method.eq_ignore_ascii_case(method))
        .find_map(|route| {
            let pattern: Vec<&str> = route.path.split('/').collect();
            if pattern.len() != segments.len() {
                return None;
            }
            let mut params = HashMap::new();
            for (p, s) in pattern.iter().zip(&segments) {
                if let Some(name) = p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                    if s.is_empty() {
                        return None;
                    }
                    params.insert(name.to_string(), percent_decode(s)?);
                } else if p != s {
                    return None;
                }
            }
            Some((route, params))
        })
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
#[path = "tests/routes.rs"]
mod tests;
