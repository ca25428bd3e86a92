//! The route table: which function serves which method and path. template.yaml and
//! docs/openapi.yaml are tested against it; the dev gateway routes by it.

use std::collections::HashMap;

/// One Lambda function of template.yaml.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    Providers,
    Connect,
    Callback,
    ListIntegrations,
    GetIntegration,
    Disconnect,
    Audit,
}

impl Function {
    /// The crate and binary name under functions/.
    pub fn name(self) -> &'static str {
        match self {
            Self::Providers => "providers",
            Self::Connect => "connect",
            Self::Callback => "callback",
            Self::ListIntegrations => "list-integrations",
            Self::GetIntegration => "get-integration",
            Self::Disconnect => "disconnect",
            Self::Audit => "audit",
        }
    }
}

pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub function: Function,
    /// No JWT: API Gateway lets it through unauthenticated.
    pub public: bool,
}

pub const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/providers",
        function: Function::Providers,
        public: true,
    },
    Route {
        method: "POST",
        path: "/providers/{provider}/connect",
        function: Function::Connect,
        public: false,
    },
    Route {
        method: "GET",
        path: "/providers/{provider}/callback",
        function: Function::Callback,
        public: true,
    },
    Route {
        method: "POST",
        path: "/providers/{provider}/callback",
        function: Function::Callback,
        public: false,
    },
    Route {
        method: "GET",
        path: "/integrations",
        function: Function::ListIntegrations,
        public: false,
    },
    Route {
        method: "GET",
        path: "/integrations/{id}",
        function: Function::GetIntegration,
        public: false,
    },
    Route {
        method: "DELETE",
        path: "/integrations/{id}",
        function: Function::Disconnect,
        public: false,
    },
    Route {
        method: "GET",
        path: "/audit",
        function: Function::Audit,
        public: false,
    },
];

/// The route for a request and its path parameters (percent-decoded).
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
