//! Items to and from DynamoDB attribute values: typed reads naming the attribute, the token
//! envelope's encoding, condition-failure handling and opaque pagination cursors.

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::keys;
use crate::crypto::Envelope;
use crate::domain::{
    Integration, IntegrationError, IntegrationStatus, Metadata, PendingAuthorization,
    SyncFrequency, SyncSettings, SyncType,
};
use crate::ids::{IntegrationId, JobId, ProviderId, UserId};
use crate::state::StateId;
use crate::store::StoreError;

pub(super) fn service_error<E: std::error::Error + 'static>(
    e: aws_sdk_dynamodb::error::SdkError<E>,
) -> StoreError {
    StoreError::Service(aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())
}

pub(super) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
pub(super) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}
pub(super) fn list(values: &[String]) -> AttributeValue {
    AttributeValue::L(values.iter().map(|v| s(v.clone())).collect())
}

/// Typed reads from an item, with errors naming the attribute.
pub(super) struct Item<'a>(pub(super) &'a HashMap<String, AttributeValue>);

impl Item<'_> {
    pub(super) fn opt_s(&self, name: &str) -> Option<String> {
        self.0.get(name).and_then(|v| v.as_s().ok()).cloned()
    }
    pub(super) fn s(&self, name: &str) -> Result<String, StoreError> {
        self.opt_s(name)
            .ok_or_else(|| StoreError::Corrupt(format!("missing string attribute {name}")))
    }
    pub(super) fn opt_n(&self, name: &str) -> Result<Option<i64>, StoreError> {
        match self.0.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(v) => {
                let text = v
                    .as_n()
                    .map_err(|_| StoreError::Corrupt(format!("{name} is not a number")))?;
                text.parse()
                    .map(Some)
                    .map_err(|_| StoreError::Corrupt(format!("{name} is not an integer")))
            }
        }
    }
    pub(super) fn strings(&self, name: &str) -> Vec<String> {
        match self.0.get(name) {
            Some(AttributeValue::L(items)) => items
                .iter()
                .filter_map(|v| v.as_s().ok().cloned())
                .collect(),
            _ => Vec::new(),
        }
    }
    pub(super) fn bytes(&self, name: &str) -> Result<Vec<u8>, StoreError> {
        match self.0.get(name) {
            Some(AttributeValue::B(b)) => Ok(b.clone().into_inner()),
            _ => Err(StoreError::Corrupt(format!(
                "missing binary attribute {name}"
            ))),
        }
    }
    pub(super) fn integration_error(
        &self,
        name: &str,
    ) -> Result<Option<IntegrationError>, StoreError> {
        let Some(AttributeValue::M(map)) = self.0.get(name) else {
            return Ok(None);
        };
        let m = Item(map);
        Ok(Some(IntegrationError {
            code: m.s("code")?,
            message: m.s("message")?,
            at: m.opt_s("at"),
        }))
    }
    pub(super) fn envelope(&self, name: &str) -> Result<Option<Envelope>, StoreError> {
        let Some(AttributeValue::M(map)) = self.0.get(name) else {
            return Ok(None);
        };
        let inner = Item(map);
        Ok(Some(Envelope {
            version: u8::try_from(inner.opt_n("v")?.unwrap_or(0))
                .map_err(|_| StoreError::Corrupt("envelope version".into()))?,
            key_id: inner.s("keyId")?,
            encrypted_data_key: inner.bytes("edk")?,
            nonce: inner.bytes("nonce")?,
            ciphertext: inner.bytes("ct")?,
        }))
    }
}

pub(super) fn envelope_value(e: &Envelope) -> AttributeValue {
    AttributeValue::M(HashMap::from([
        ("v".to_string(), n(e.version)),
        ("keyId".to_string(), s(e.key_id.clone())),
        (
            "edk".to_string(),
            AttributeValue::B(Blob::new(e.encrypted_data_key.clone())),
        ),
        (
            "nonce".to_string(),
            AttributeValue::B(Blob::new(e.nonce.clone())),
        ),
        (
            "ct".to_string(),
            AttributeValue::B(Blob::new(e.ciphertext.clone())),
        ),
    ]))
}

pub(super) fn integration_from(
    item: &HashMap<String, AttributeValue>,
) -> Result<Integration, StoreError> {
    let it = Item(item);
    let corrupt = |what: &str| StoreError::Corrupt(format!("integration {what}"));
    let sync_settings = match item.get("syncSettings") {
        Some(AttributeValue::M(m)) => {
            let m = Item(m);
            SyncSettings {
                enabled: matches!(m.0.get("enabled"), Some(AttributeValue::Bool(true))),
                // Lenient, as the defaults were: an unknown value reads as the default.
                sync_types: m
                    .strings("syncTypes")
                    .iter()
                    .filter_map(|t| SyncType::parse(t))
                    .collect(),
                frequency: m
                    .opt_s("frequency")
                    .and_then(|f| SyncFrequency::parse(&f))
                    .unwrap_or(SyncFrequency::Hourly),
            }
        }
        _ => SyncSettings::default(),
    };
    Ok(Integration {
        id: IntegrationId::parse(&it.s("id")?).map_err(|_| corrupt("id"))?,
        user_id: UserId::parse(&it.s("userId")?).map_err(|_| corrupt("userId"))?,
        provider: ProviderId::parse(&it.s("provider")?).map_err(|_| corrupt("provider"))?,
        status: IntegrationStatus::parse(&it.s("status")?).ok_or_else(|| corrupt("status"))?,
        external_account_id: it.s("externalAccountId")?,
        display_name: it.opt_s("displayName"),
        email: it.opt_s("email"),
        avatar_url: it.opt_s("avatarUrl"),
        scopes: it.strings("scopes"),
        sync_settings,
        metadata: it
            .opt_s("metadata")
            .map(|text| Metadata::from_json(&text))
            .transpose()
            .map_err(|_| corrupt("metadata"))?
            .unwrap_or_default(),
        last_sync_at: it.opt_s("lastSyncAt"),
        last_error: it.integration_error("lastError")?,
        expires_at: it.opt_n("expiresAt")?,
        created_at: it.s("createdAt")?,
        updated_at: it.s("updatedAt")?,
        token_version: it.opt_n("version")?.unwrap_or(0) as u64,
        refreshed_at: it.opt_n("refreshedAt")?,
        lease_until_ms: it.opt_n("leaseUntil")?,
        calendar_cursor: it.opt_s("calendarCursor"),
        active_sync_job: it
            .opt_s("activeSyncJob")
            .map(|j| parse_job_id(&j))
            .transpose()?,
        contacts_cursor: it.opt_s("contactsCursor"),
        active_contacts_job: it
            .opt_s("activeContactsJob")
            .map(|j| parse_job_id(&j))
            .transpose()?,
    })
}

pub(super) fn pending_from(
    id: &StateId,
    item: &HashMap<String, AttributeValue>,
) -> Result<PendingAuthorization, StoreError> {
    let it = Item(item);
    let corrupt = |what: &str| StoreError::Corrupt(format!("state {what}"));
    Ok(PendingAuthorization {
        state_id: id.clone(),
        user_id: UserId::parse(&it.s("userId")?).map_err(|_| corrupt("userId"))?,
        provider: ProviderId::parse(&it.s("provider")?).map_err(|_| corrupt("provider"))?,
        redirect_uri: it.s("redirectUri")?,
        return_to: it.opt_s("returnTo"),
        scopes: it.strings("scopes"),
        pkce_verifier: it.envelope("pkceVerifier")?,
        expires_at: it.opt_n("expiresAt")?.unwrap_or(0),
    })
}

/// The refresh-index keys of a connected integration: due at `refresh_at`, or never (see
/// [`keys::NEVER_DUE`]).
pub(super) fn refresh_index_values(
    id: &str,
    refresh_at: Option<i64>,
) -> (AttributeValue, AttributeValue) {
    (
        s(keys::refresh_partition(keys::refresh_shard(id))),
        s(keys::refresh_sort(
            refresh_at.unwrap_or(keys::NEVER_DUE),
            id,
        )),
    )
}

pub(super) fn integration_error_value(e: &IntegrationError) -> AttributeValue {
    let mut map = HashMap::from([
        ("code".to_string(), s(e.code.clone())),
        ("message".to_string(), s(truncate(&e.message, 512))),
    ]);
    if let Some(at) = &e.at {
        map.insert("at".into(), s(at.clone()));
    }
    AttributeValue::M(map)
}

pub(super) fn is_condition_failure(
    e: &aws_sdk_dynamodb::error::SdkError<
        aws_sdk_dynamodb::operation::update_item::UpdateItemError,
    >,
) -> bool {
    e.as_service_error()
        .is_some_and(|s| s.is_conditional_check_failed_exception())
}

/// An update's outcome: applied (true), or its condition did not hold (false).
pub(super) fn applied<T>(
    result: Result<
        T,
        aws_sdk_dynamodb::error::SdkError<
            aws_sdk_dynamodb::operation::update_item::UpdateItemError,
        >,
    >,
) -> Result<bool, StoreError> {
    match result {
        Ok(_) => Ok(true),
        Err(e) if is_condition_failure(&e) => Ok(false),
        Err(e) => Err(service_error(e)),
    }
}

pub(super) fn sync_settings_value(settings: &SyncSettings) -> AttributeValue {
    AttributeValue::M(HashMap::from([
        (
            "enabled".to_string(),
            AttributeValue::Bool(settings.enabled),
        ),
        (
            "syncTypes".to_string(),
            AttributeValue::L(settings.sync_types.iter().map(|t| s(t.as_str())).collect()),
        ),
        ("frequency".to_string(), s(settings.frequency.as_str())),
    ]))
}

pub(super) fn truncate(v: &str, max: usize) -> String {
    if v.len() <= max {
        return v.to_string();
    }
    let mut end = max;
    while !v.is_char_boundary(end) {
        end -= 1;
    }
    v[..end].to_string()
}

/// Opaque pagination cursors: base64url of the sort key.
pub fn encode_cursor(sort_key: &str) -> String {
    URL_SAFE_NO_PAD.encode(sort_key)
}

pub fn decode_cursor(cursor: &str, prefix: &str) -> Option<String> {
    let raw = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = String::from_utf8(raw).ok()?;
    text.starts_with(prefix).then_some(text)
}

pub(super) fn build<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, StoreError> {
    r.map_err(|e| StoreError::Service(format!("request not built: {e}")))
}

/// Everything of an integration item except the token envelope: lists and gets never fetch it.
pub(super) const INTEGRATION_PROJECTION: &str = "id, userId, provider, #status, externalAccountId, displayName, email, avatarUrl, scopes, syncSettings, metadata, lastSyncAt, lastError, expiresAt, createdAt, updatedAt, version, refreshedAt, leaseUntil, calendarCursor, activeSyncJob, contactsCursor, activeContactsJob";

pub(super) fn parse_job_id(raw: &str) -> Result<JobId, StoreError> {
    JobId::parse(raw).map_err(|_| StoreError::Corrupt("job id".into()))
}
