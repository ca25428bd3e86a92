use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::{
    AuditTrail, AuthorizationStates, DueIntegration, DueScan, IntegrationRecords, RefreshIndex,
    RefreshLease, RefreshLeases, RefreshedTokens, StateClaim, StoreError,
};
use crate::crypto::Envelope;
use crate::domain::{
    AuditEntry, AuditEvent, Integration, IntegrationError, IntegrationStatus, PendingAuthorization,
    SyncSettings, now_epoch,
};
use crate::ids::{IntegrationId, ProviderId, UserId};
use crate::state::StateId;

#[path = "sync_items.rs"]
mod sync_items;

/// Key and attribute names of the single table (architecture.md, "Data").
pub mod keys {
    pub const PK: &str = "PK";
    pub const SK: &str = "SK";
    pub const TTL: &str = "ttl";
    pub const TOKEN_ENVELOPE: &str = "tokenEnvelope";
    pub const ANONYMOUS_AUDIT: &str = "AUDIT#anonymous";

    pub fn user(user: &str) -> String {
        format!("USER#{user}")
    }
    pub fn integration(id: &str) -> String {
        format!("INTEGRATION#{id}")
    }
    pub fn state(id: &str) -> String {
        format!("STATE#{id}")
    }

    /// The sparse refresh index (GSI1): only connected, refreshable integrations carry its keys.
    pub const REFRESH_INDEX: &str = "GSI1";
    pub const GSI1PK: &str = "GSI1PK";
    pub const GSI1SK: &str = "GSI1SK";
    /// Index partitions the refresh index is spread over, so no single partition takes every
    /// write. Changing it strands existing entries in shards the scheduler no longer reads.
    pub const REFRESH_SHARDS: u8 = 8;

    /// An integration id's shard: ids are hex digests, so their first byte is uniform.
    pub fn refresh_shard(id: &str) -> u8 {
        id.get(..2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .unwrap_or(0)
            % REFRESH_SHARDS
    }
    pub fn refresh_partition(shard: u8) -> String {
        format!("REFRESH#{shard}")
    }
    /// `{expiresAt, 12 digits}#{id}`: sorts by expiry as text.
    pub fn refresh_sort(expires_at: i64, id: &str) -> String {
        format!("{:012}#{id}", expires_at.max(0))
    }
    /// The greatest sort key of anything expiring at or before `until` (`~` sorts after hex).
    pub fn refresh_sort_upper(until: i64) -> String {
        format!("{:012}#~", until.max(0))
    }

    /// The sparse due-sync index (GSI2): same shape as the refresh index, keyed by next sync.
    pub const SYNC_INDEX: &str = "GSI2";
    pub const GSI2PK: &str = "GSI2PK";
    pub const GSI2SK: &str = "GSI2SK";
    pub fn sync_partition(shard: u8) -> String {
        format!("SYNC#{shard}")
    }
    pub fn sync_job(job_id: &str) -> String {
        format!("SYNCJOB#{job_id}")
    }
    pub fn event(external_id: &str) -> String {
        format!("EVENT#{external_id}")
    }
}

const AUDIT_RETENTION_SECS: i64 = 90 * 24 * 3600;

/// Every store port against one DynamoDB table.
#[derive(Clone)]
pub struct DynamoTable {
    client: Client,
    table: String,
}

impl DynamoTable {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
    pub fn client(&self) -> &Client {
        &self.client
    }
    pub fn table_name(&self) -> &str {
        &self.table
    }
}

fn service_error<E: std::error::Error + 'static>(
    e: aws_sdk_dynamodb::error::SdkError<E>,
) -> StoreError {
    StoreError::Service(aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}
fn list(values: &[String]) -> AttributeValue {
    AttributeValue::L(values.iter().map(|v| s(v.clone())).collect())
}

/// Typed reads from an item, with errors naming the attribute.
struct Item<'a>(&'a HashMap<String, AttributeValue>);

impl Item<'_> {
    fn opt_s(&self, name: &str) -> Option<String> {
        self.0.get(name).and_then(|v| v.as_s().ok()).cloned()
    }
    fn s(&self, name: &str) -> Result<String, StoreError> {
        self.opt_s(name)
            .ok_or_else(|| StoreError::Corrupt(format!("missing string attribute {name}")))
    }
    fn opt_n(&self, name: &str) -> Result<Option<i64>, StoreError> {
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
    fn strings(&self, name: &str) -> Vec<String> {
        match self.0.get(name) {
            Some(AttributeValue::L(items)) => items
                .iter()
                .filter_map(|v| v.as_s().ok().cloned())
                .collect(),
            _ => Vec::new(),
        }
    }
    fn bytes(&self, name: &str) -> Result<Vec<u8>, StoreError> {
        match self.0.get(name) {
            Some(AttributeValue::B(b)) => Ok(b.clone().into_inner()),
            _ => Err(StoreError::Corrupt(format!(
                "missing binary attribute {name}"
            ))),
        }
    }
    fn integration_error(&self, name: &str) -> Result<Option<IntegrationError>, StoreError> {
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
    fn envelope(&self, name: &str) -> Result<Option<Envelope>, StoreError> {
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

fn envelope_value(e: &Envelope) -> AttributeValue {
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

fn integration_from(item: &HashMap<String, AttributeValue>) -> Result<Integration, StoreError> {
    let it = Item(item);
    let corrupt = |what: &str| StoreError::Corrupt(format!("integration {what}"));
    let sync_settings = match item.get("syncSettings") {
        Some(AttributeValue::M(m)) => {
            let m = Item(m);
            SyncSettings {
                enabled: matches!(m.0.get("enabled"), Some(AttributeValue::Bool(true))),
                sync_types: m.strings("syncTypes"),
                frequency: m.opt_s("frequency").unwrap_or_else(|| "hourly".into()),
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
        scopes: it.strings("scopes"),
        sync_settings,
        last_sync_at: it.opt_s("lastSyncAt"),
        last_error: it.integration_error("lastError")?,
        expires_at: it.opt_n("expiresAt")?,
        created_at: it.s("createdAt")?,
        updated_at: it.s("updatedAt")?,
        version: it.opt_n("version")?.unwrap_or(0) as u64,
        refreshed_at: it.opt_n("refreshedAt")?,
        lease_until_ms: it.opt_n("leaseUntil")?,
        calendar_cursor: it.opt_s("calendarCursor"),
        active_sync_job: it.opt_s("activeSyncJob"),
    })
}

fn pending_from(
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

/// Everything of an integration item except the token envelope: lists and gets never fetch it.
const INTEGRATION_PROJECTION: &str = "id, userId, provider, #status, externalAccountId, displayName, email, scopes, syncSettings, lastSyncAt, lastError, expiresAt, createdAt, updatedAt, version, refreshedAt, leaseUntil, calendarCursor, activeSyncJob";

#[async_trait]
impl AuthorizationStates for DynamoTable {
    async fn put_pending(&self, p: &PendingAuthorization) -> Result<(), StoreError> {
        let mut item = HashMap::from([
            (keys::PK.to_string(), s(keys::state(&p.state_id.0))),
            (keys::SK.to_string(), s("STATE")),
            ("userId".to_string(), s(p.user_id.as_str())),
            ("provider".to_string(), s(p.provider.as_str())),
            ("redirectUri".to_string(), s(p.redirect_uri.clone())),
            ("scopes".to_string(), list(&p.scopes)),
            ("expiresAt".to_string(), n(p.expires_at)),
            (keys::TTL.to_string(), n(p.expires_at)),
        ]);
        if let Some(r) = &p.return_to {
            item.insert("returnTo".into(), s(r.clone()));
        }
        if let Some(v) = &p.pkce_verifier {
            item.insert("pkceVerifier".into(), envelope_value(v));
        }
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await
            .map_err(service_error)?;
        Ok(())
    }

    async fn take_pending(
        &self,
        id: &StateId,
        claim: StateClaim<'_>,
    ) -> Result<Option<PendingAuthorization>, StoreError> {
        let mut condition = "attribute_exists(PK) AND provider = :provider".to_string();
        let mut values = HashMap::from([(":provider".to_string(), s(claim.provider.as_str()))]);
        if let Some(user) = claim.user {
            condition.push_str(" AND userId = :user");
            values.insert(":user".into(), s(user.as_str()));
        }
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::state(&id.0)))
            .key(keys::SK, s("STATE"))
            .condition_expression(condition)
            .set_expression_attribute_values(Some(values))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(service_error(e)),
        };
        out.attributes
            .as_ref()
            .map(|item| pending_from(id, item))
            .transpose()
    }

    async fn peek_pending(&self, id: &StateId) -> Result<Option<PendingAuthorization>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::state(&id.0)))
            .key(keys::SK, s("STATE"))
            .consistent_read(true)
            .send()
            .await
            .map_err(service_error)?;
        out.item
            .as_ref()
            .map(|item| pending_from(id, item))
            .transpose()
    }
}

#[async_trait]
impl IntegrationRecords for DynamoTable {
    async fn save_connected(
        &self,
        i: &Integration,
        tokens: &Envelope,
        refresh_at: Option<i64>,
    ) -> Result<Integration, StoreError> {
        let mut names = HashMap::from([("#status".to_string(), "status".to_string())]);
        let mut values = HashMap::from([
            (":id".to_string(), s(i.id.as_str())),
            (":user".to_string(), s(i.user_id.as_str())),
            (":provider".to_string(), s(i.provider.as_str())),
            (
                ":status".to_string(),
                s(IntegrationStatus::Connected.as_str()),
            ),
            (":account".to_string(), s(i.external_account_id.clone())),
            (":scopes".to_string(), list(&i.scopes)),
            (":tokens".to_string(), envelope_value(tokens)),
            (":now".to_string(), s(i.updated_at.clone())),
            (":one".to_string(), n(1)),
            (":zero".to_string(), n(0)),
            (":sync".to_string(), sync_settings_value(&i.sync_settings)),
        ]);
        let mut set = vec![
            "id = :id",
            "userId = :user",
            "provider = :provider",
            "#status = :status",
            "externalAccountId = :account",
            "scopes = :scopes",
            "tokenEnvelope = :tokens",
            "updatedAt = :now",
            "createdAt = if_not_exists(createdAt, :now)",
            "syncSettings = if_not_exists(syncSettings, :sync)",
            "version = if_not_exists(version, :zero) + :one",
        ];
        let mut remove = vec!["lastError"];
        for (attr, placeholder, value) in [
            ("displayName", ":name", i.display_name.as_ref()),
            ("email", ":email", i.email.as_ref()),
        ] {
            match value {
                Some(v) => {
                    values.insert(placeholder.to_string(), s(v.clone()));
                    set.push(if attr == "displayName" {
                        "displayName = :name"
                    } else {
                        "email = :email"
                    });
                }
                None => remove.push(attr),
            }
        }
        match i.expires_at {
            Some(at) => {
                values.insert(":expires".into(), n(at));
                set.push("expiresAt = :expires");
            }
            None => remove.push("expiresAt"),
        }
        match refresh_at {
            Some(at) => {
                let (pk, sk) = refresh_index_values(i.id.as_str(), at);
                values.insert(":gsi1pk".into(), pk);
                values.insert(":gsi1sk".into(), sk);
                set.push("GSI1PK = :gsi1pk");
                set.push("GSI1SK = :gsi1sk");
            }
            None => remove.extend([keys::GSI1PK, keys::GSI1SK]),
        }
        names.insert("#pk".into(), keys::PK.into());
        let expression = format!("SET {} REMOVE {}", set.join(", "), remove.join(", "));
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::user(i.user_id.as_str())))
            .key(keys::SK, s(keys::integration(i.id.as_str())))
            .update_expression(expression)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            // A row of this key can only ever belong to this user, provider and account: the id is derived from them.
            .condition_expression("attribute_not_exists(#pk) OR (provider = :provider AND externalAccountId = :account)")
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(service_error)?;
        integration_from(
            out.attributes
                .as_ref()
                .ok_or_else(|| StoreError::Corrupt("no attributes returned".into()))?,
        )
    }

    async fn get(
        &self,
        user: &UserId,
        id: &IntegrationId,
    ) -> Result<Option<Integration>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::user(user.as_str())))
            .key(keys::SK, s(keys::integration(id.as_str())))
            .projection_expression(INTEGRATION_PROJECTION)
            .expression_attribute_names("#status", "status")
            .send()
            .await
            .map_err(service_error)?;
        out.item.as_ref().map(integration_from).transpose()
    }

    async fn get_with_tokens(
        &self,
        user: &UserId,
        id: &IntegrationId,
    ) -> Result<Option<(Integration, Option<Envelope>)>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::user(user.as_str())))
            .key(keys::SK, s(keys::integration(id.as_str())))
            .consistent_read(true)
            .send()
            .await
            .map_err(service_error)?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        Ok(Some((
            integration_from(&item)?,
            Item(&item).envelope(keys::TOKEN_ENVELOPE)?,
        )))
    }

    async fn list(&self, user: &UserId) -> Result<Vec<Integration>, StoreError> {
        let mut integrations = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
                .expression_attribute_values(":pk", s(keys::user(user.as_str())))
                .expression_attribute_values(":prefix", s("INTEGRATION#"))
                .projection_expression(INTEGRATION_PROJECTION)
                .expression_attribute_names("#status", "status")
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(service_error)?;
            for item in out.items() {
                integrations.push(integration_from(item)?);
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        Ok(integrations)
    }

    async fn mark_disconnected(&self, i: &Integration) -> Result<Option<Envelope>, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::user(i.user_id.as_str())))
            .key(keys::SK, s(keys::integration(i.id.as_str())))
            .update_expression("SET #status = :status, updatedAt = :now, version = version + :one REMOVE tokenEnvelope, expiresAt, GSI1PK, GSI1SK")
            .condition_expression("version = :version")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(IntegrationStatus::Disconnected.as_str()))
            .expression_attribute_values(":now", s(crate::http::now_rfc3339()))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":version", n(i.version))
            // The old item: the envelope this write removed, so exactly its holder revokes it.
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => match out.attributes {
                Some(old) => Item(&old).envelope(keys::TOKEN_ENVELOPE),
                None => Err(StoreError::Corrupt("no attributes returned".into())),
            },
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Err(StoreError::Conflict)
            }
            Err(e) => Err(service_error(e)),
        }
    }
}

fn refresh_index_values(id: &str, refresh_at: i64) -> (AttributeValue, AttributeValue) {
    (
        s(keys::refresh_partition(keys::refresh_shard(id))),
        s(keys::refresh_sort(refresh_at, id)),
    )
}

fn integration_error_value(e: &IntegrationError) -> AttributeValue {
    let mut map = HashMap::from([
        ("code".to_string(), s(e.code.clone())),
        ("message".to_string(), s(truncate(&e.message, 512))),
    ]);
    if let Some(at) = &e.at {
        map.insert("at".into(), s(at.clone()));
    }
    AttributeValue::M(map)
}

fn is_condition_failure(
    e: &aws_sdk_dynamodb::error::SdkError<
        aws_sdk_dynamodb::operation::update_item::UpdateItemError,
    >,
) -> bool {
    e.as_service_error()
        .is_some_and(|s| s.is_conditional_check_failed_exception())
}

/// An update's outcome: applied (true), or its condition did not hold (false).
fn applied<T>(
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

/// The fence every write after the lease carries.
const FENCE: &str = "leaseOwner = :owner AND version = :version";

impl DynamoTable {
    fn integration_update(
        &self,
        i: &Integration,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::user(i.user_id.as_str())))
            .key(keys::SK, s(keys::integration(i.id.as_str())))
    }
}

#[async_trait]
impl RefreshLeases for DynamoTable {
    async fn acquire(
        &self,
        i: &Integration,
        lease: &RefreshLease,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let result = self
            .integration_update(i)
            .update_expression("SET leaseOwner = :owner, leaseUntil = :until")
            .condition_expression(
                "version = :version AND #status = :connected AND (attribute_not_exists(leaseUntil) OR leaseUntil < :now)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":owner", s(lease.owner.clone()))
            .expression_attribute_values(":until", n(lease.until_ms))
            .expression_attribute_values(":version", n(i.version))
            .expression_attribute_values(":connected", s(IntegrationStatus::Connected.as_str()))
            .expression_attribute_values(":now", n(now_ms))
            .send()
            .await;
        applied(result)
    }

    async fn complete(
        &self,
        i: &Integration,
        lease: &RefreshLease,
        tokens: RefreshedTokens<'_>,
    ) -> Result<Integration, StoreError> {
        let mut values = HashMap::from([
            (":owner".to_string(), s(lease.owner.clone())),
            (":version".to_string(), n(i.version)),
            (":tokens".to_string(), envelope_value(tokens.envelope)),
            (":refreshed".to_string(), n(tokens.refreshed_at)),
            (":now".to_string(), s(crate::http::now_rfc3339())),
            (":one".to_string(), n(1)),
        ]);
        let mut set = vec![
            "tokenEnvelope = :tokens",
            "refreshedAt = :refreshed",
            "updatedAt = :now",
            "version = version + :one",
        ];
        let mut remove = vec!["leaseOwner", "leaseUntil", "lastError"];
        match tokens.expires_at {
            Some(at) => {
                values.insert(":expires".into(), n(at));
                set.push("expiresAt = :expires");
            }
            None => remove.push("expiresAt"),
        }
        match tokens.refresh_at {
            Some(at) => {
                let (pk, sk) = refresh_index_values(i.id.as_str(), at);
                values.insert(":gsi1pk".into(), pk);
                values.insert(":gsi1sk".into(), sk);
                set.extend(["GSI1PK = :gsi1pk", "GSI1SK = :gsi1sk"]);
            }
            None => remove.extend([keys::GSI1PK, keys::GSI1SK]),
        }
        let result = self
            .integration_update(i)
            .update_expression(format!(
                "SET {} REMOVE {}",
                set.join(", "),
                remove.join(", ")
            ))
            .condition_expression(FENCE)
            .set_expression_attribute_values(Some(values))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => integration_from(
                out.attributes
                    .as_ref()
                    .ok_or_else(|| StoreError::Corrupt("no attributes returned".into()))?,
            ),
            Err(e) if is_condition_failure(&e) => Err(StoreError::Conflict),
            Err(e) => Err(service_error(e)),
        }
    }

    async fn expire(
        &self,
        i: &Integration,
        lease: &RefreshLease,
        error: &IntegrationError,
    ) -> Result<(), StoreError> {
        let result = self
            .integration_update(i)
            .update_expression("SET #status = :expired, lastError = :error, updatedAt = :now, version = version + :one REMOVE GSI1PK, GSI1SK, leaseOwner, leaseUntil")
            .condition_expression(FENCE)
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":expired", s(IntegrationStatus::Expired.as_str()))
            .expression_attribute_values(":error", integration_error_value(error))
            .expression_attribute_values(":now", s(crate::http::now_rfc3339()))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":owner", s(lease.owner.clone()))
            .expression_attribute_values(":version", n(i.version))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Err(StoreError::Conflict),
            Err(e) => Err(service_error(e)),
        }
    }

    async fn release(
        &self,
        i: &Integration,
        lease: &RefreshLease,
        error: Option<&IntegrationError>,
    ) -> Result<(), StoreError> {
        let mut request = self
            .integration_update(i)
            .condition_expression("leaseOwner = :owner")
            .expression_attribute_values(":owner", s(lease.owner.clone()));
        request = match error {
            Some(e) => request
                .update_expression("SET lastError = :error REMOVE leaseOwner, leaseUntil")
                .expression_attribute_values(":error", integration_error_value(e)),
            None => request.update_expression("REMOVE leaseOwner, leaseUntil"),
        };
        match request.send().await {
            // Someone took over an expired lease: theirs now, nothing of ours to release.
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(service_error(e)),
        }
    }
}

#[async_trait]
impl RefreshIndex for DynamoTable {
    async fn due(&self, shard: u8, until: i64) -> Result<DueScan, StoreError> {
        self.due_on(
            keys::REFRESH_INDEX,
            keys::GSI1PK,
            keys::GSI1SK,
            keys::refresh_partition(shard),
            until,
        )
        .await
    }
}

impl DynamoTable {
    /// The integrations of one shard of a sparse due-index (`{epoch}#{id}` sort keys) that are
    /// due at or before `until`: a key-condition query, so only due items are read.
    async fn due_on(
        &self,
        index: &str,
        pk_name: &str,
        sk_name: &str,
        partition: String,
        until: i64,
    ) -> Result<DueScan, StoreError> {
        let mut scan = DueScan::default();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression("#pk = :pk AND #sk <= :until")
                .expression_attribute_names("#pk", pk_name)
                .expression_attribute_names("#sk", sk_name)
                .expression_attribute_values(":pk", s(partition.clone()))
                .expression_attribute_values(":until", s(keys::refresh_sort_upper(until)))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(service_error)?;
            scan.pages += 1;
            scan.items_read += usize::try_from(out.scanned_count).unwrap_or(0);
            for item in out.items() {
                let it = Item(item);
                let user = it.s(keys::PK)?;
                let sk = it.s(keys::SK)?;
                let corrupt = || StoreError::Corrupt("due-index entry keys".into());
                let user_id = user
                    .strip_prefix("USER#")
                    .and_then(|u| UserId::parse(u).ok())
                    .ok_or_else(corrupt)?;
                let integration_id = sk
                    .strip_prefix("INTEGRATION#")
                    .and_then(|i| IntegrationId::parse(i).ok())
                    .ok_or_else(corrupt)?;
                scan.due.push(DueIntegration {
                    user_id,
                    integration_id,
                });
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        Ok(scan)
    }
}

fn sync_settings_value(settings: &SyncSettings) -> AttributeValue {
    AttributeValue::M(HashMap::from([
        (
            "enabled".to_string(),
            AttributeValue::Bool(settings.enabled),
        ),
        ("syncTypes".to_string(), list(&settings.sync_types)),
        ("frequency".to_string(), s(settings.frequency.clone())),
    ]))
}

#[async_trait]
impl AuditTrail for DynamoTable {
    async fn append(&self, e: &AuditEntry) -> Result<(), StoreError> {
        let pk = e
            .user_id
            .as_ref()
            .map(|u| keys::user(u.as_str()))
            .unwrap_or_else(|| keys::ANONYMOUS_AUDIT.to_string());
        let mut item = HashMap::from([
            (keys::PK.to_string(), s(pk)),
            (
                keys::SK.to_string(),
                s(format!("AUDIT#{}#{}", e.at, crate::ids::random_id())),
            ),
            ("event".to_string(), s(e.event.as_str())),
            ("at".to_string(), s(e.at.clone())),
            ("correlationId".to_string(), s(e.correlation_id.clone())),
            (keys::TTL.to_string(), n(now_epoch() + AUDIT_RETENTION_SECS)),
        ]);
        for (name, value) in [
            ("provider", &e.provider),
            ("integrationId", &e.integration_id),
            ("ip", &e.ip),
            ("userAgent", &e.user_agent),
            ("reason", &e.reason),
        ] {
            if let Some(v) = value {
                item.insert(name.to_string(), s(truncate(v, 512)));
            }
        }
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(service_error)?;
        Ok(())
    }

    async fn page(
        &self,
        user: Option<&UserId>,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<(Vec<AuditEntry>, Option<String>), StoreError> {
        let pk = user
            .map(|u| keys::user(u.as_str()))
            .unwrap_or_else(|| keys::ANONYMOUS_AUDIT.to_string());
        // The cursor carries only the sort key; the partition always comes from the caller.
        let start = cursor.map(|c| {
            HashMap::from([
                (keys::PK.to_string(), s(pk.clone())),
                (keys::SK.to_string(), s(c.to_string())),
            ])
        });
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
            .expression_attribute_values(":pk", s(pk.clone()))
            .expression_attribute_values(":prefix", s("AUDIT#"))
            .scan_index_forward(false)
            .limit(limit as i32)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(service_error)?;
        let mut entries = Vec::new();
        for item in out.items() {
            let it = Item(item);
            entries.push(AuditEntry {
                event: AuditEvent::parse(&it.s("event")?)
                    .ok_or_else(|| StoreError::Corrupt("audit event".into()))?,
                user_id: user.cloned(),
                provider: it.opt_s("provider"),
                integration_id: it.opt_s("integrationId"),
                at: it.s("at")?,
                ip: it.opt_s("ip"),
                user_agent: it.opt_s("userAgent"),
                correlation_id: it.s("correlationId")?,
                reason: it.opt_s("reason"),
            });
        }
        let next = out
            .last_evaluated_key
            .as_ref()
            .and_then(|k| Item(k).opt_s(keys::SK));
        Ok((entries, next))
    }
}

fn truncate(v: &str, max: usize) -> String {
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
