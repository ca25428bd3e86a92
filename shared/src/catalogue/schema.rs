//! The TOML schema of a catalogue entry, as written in shared/providers.toml: field names,
//! defaults and what may be omitted. Fields are documented in docs/providers.md; resolve.rs turns
//! a raw entry into a [`super::Provider`].

use std::collections::BTreeMap;

use serde::Deserialize;

use super::model::*;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEntry {
    pub(super) display_name: String,
    #[serde(default)]
    pub(super) documentation: Option<String>,
    #[serde(default)]
    pub(super) issuer: Option<String>,
    #[serde(default)]
    pub(super) discovery: bool,
    #[serde(default)]
    pub(super) authorization_response_iss: Option<bool>,
    #[serde(default)]
    pub(super) authorization_url: Option<String>,
    #[serde(default)]
    pub(super) token_url: Option<String>,
    #[serde(default)]
    pub(super) scopes: Vec<String>,
    #[serde(default = "default_scope_param")]
    pub(super) scope_param: String,
    #[serde(default = "default_scope_separator")]
    pub(super) scope_separator: String,
    #[serde(default = "default_client_id_param")]
    pub(super) client_id_param: String,
    #[serde(default)]
    pub(super) pkce: Option<Pkce>,
    #[serde(default)]
    pub(super) token_auth: Option<TokenAuth>,
    #[serde(default)]
    pub(super) authorization_params: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) http_headers: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) ok_field: Option<String>,
    #[serde(default)]
    pub(super) token_response: TokenResponseShape,
    #[serde(default)]
    pub(super) refresh: RefreshModel,
    #[serde(default = "default_dead_grant_errors")]
    pub(super) dead_grant_errors: Vec<String>,
    #[serde(default)]
    pub(super) busy_errors: Vec<String>,
    #[serde(default)]
    pub(super) long_lived: Option<RawLongLived>,
    #[serde(default)]
    pub(super) revocation: Option<RawRevocation>,
    pub(super) userinfo: RawUserinfo,
    #[serde(default)]
    pub(super) calendar: Option<RawCalendar>,
    #[serde(default)]
    pub(super) contacts: Option<RawContacts>,
}

pub(super) fn default_scope_param() -> String {
    "scope".into()
}
pub(super) fn default_scope_separator() -> String {
    " ".into()
}
pub(super) fn default_client_id_param() -> String {
    "client_id".into()
}
pub(super) fn default_dead_grant_errors() -> Vec<String> {
    vec!["invalid_grant".into()]
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCalendar {
    pub(super) api: CalendarApi,
    pub(super) events_url: String,
    #[serde(default)]
    pub(super) default_sync: DefaultSync,
    #[serde(default)]
    pub(super) write_url: Option<String>,
    #[serde(default)]
    pub(super) write_scopes: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawContacts {
    pub(super) api: ContactsApi,
    pub(super) url: String,
    #[serde(default)]
    pub(super) scopes: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLongLived {
    pub(super) exchange_url: String,
    pub(super) exchange_grant_type: String,
    pub(super) refresh_url: String,
    pub(super) refresh_grant_type: String,
    #[serde(default)]
    pub(super) refresh_after_secs: i64,
    #[serde(default)]
    pub(super) renew_before_secs: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRevocation {
    pub(super) style: RevocationStyle,
    pub(super) url: String,
    #[serde(default)]
    pub(super) token: Option<RevokedTokens>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawUserinfo {
    #[serde(default)]
    pub(super) url: Option<String>,
    #[serde(default)]
    pub(super) method: UserinfoMethod,
    #[serde(default)]
    pub(super) headers: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) token: TokenPlacement,
    #[serde(deserialize_with = "one_or_many")]
    pub(super) id: Vec<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    pub(super) email: Vec<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    pub(super) name: Vec<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    pub(super) avatar: Vec<String>,
}
