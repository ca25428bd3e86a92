//! `RefreshLeases`: the one-refresh-at-a-time lease on the integration item, and the fenced
//! writes that end it (docs/architecture.md, "Refresh protocol").

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::DynamoTable;
use super::codec::*;
use super::keys;
use crate::domain::{Integration, IntegrationError, IntegrationStatus};
use crate::ids::{IntegrationId, UserId};
use crate::store::{RefreshLease, RefreshLeases, RefreshedTokens, StoreError};

/// A refreshed token set's write: the envelope, expiry and refresh-index keys, the token
/// version bumped, the lease removed (and a refresh failure's `lastError`). The caller adds its condition's values.
fn token_write(
    id: &str,
    tokens: &RefreshedTokens<'_>,
) -> (String, HashMap<String, AttributeValue>) {
    let mut values = HashMap::from([
        (":tokens".to_string(), envelope_value(tokens.envelope)),
        (":refreshed".to_string(), n(tokens.refreshed_at)),
        (":now".to_string(), s(crate::clock::now_rfc3339())),
        (":one".to_string(), n(1)),
    ]);
    let mut set = vec![
        "tokenEnvelope = :tokens",
        "refreshedAt = :refreshed",
        "updatedAt = :now",
        "version = version + :one",
    ];
    let mut remove = vec!["leaseOwner", "leaseUntil"];
    if tokens.clear_error {
        remove.push("lastError");
    }
    match tokens.expires_at {
        Some(at) => {
            values.insert(":expires".into(), n(at));
            set.push("expiresAt = :expires");
        }
        None => remove.push("expiresAt"),
    }
    let (pk, sk) = refresh_index_values(id, tokens.refresh_at);
    values.insert(":gsi1pk".into(), pk);
    values.insert(":gsi1sk".into(), sk);
    set.extend(["GSI1PK = :gsi1pk", "GSI1SK = :gsi1sk"]);
    let expression = format!("SET {} REMOVE {}", set.join(", "), remove.join(", "));
    (expression, values)
}

/// The item an update returned (ReturnValues ALL_NEW).
fn returned(
    attributes: Option<&HashMap<String, AttributeValue>>,
) -> Result<&HashMap<String, AttributeValue>, StoreError> {
    attributes.ok_or_else(|| StoreError::Corrupt("no attributes returned".into()))
}

/// The fence every write after the lease carries.
const FENCE: &str = "leaseOwner = :owner AND version = :version";

impl DynamoTable {
    pub(super) fn integration_update(
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
            .expression_attribute_values(":version", n(i.token_version))
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
        let (expression, mut values) = token_write(i.id.as_str(), &tokens);
        values.insert(":owner".into(), s(lease.owner.clone()));
        values.insert(":version".into(), n(i.token_version));
        let result = self
            .integration_update(i)
            .update_expression(expression)
            .condition_expression(FENCE)
            .set_expression_attribute_values(Some(values))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => integration_from(returned(out.attributes.as_ref())?),
            Err(e) if is_condition_failure(&e) => Err(StoreError::Conflict),
            Err(e) => Err(service_error(e)),
        }
    }

    async fn recover(
        &self,
        user: &UserId,
        id: &IntegrationId,
        token_version: u64,
        tokens: RefreshedTokens<'_>,
    ) -> Result<Option<Integration>, StoreError> {
        let (expression, mut values) = token_write(id.as_str(), &tokens);
        values.insert(":version".into(), n(token_version));
        values.insert(
            ":connected".into(),
            s(IntegrationStatus::Connected.as_str()),
        );
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::user(user.as_str())))
            .key(keys::SK, s(keys::integration(id.as_str())))
            .update_expression(expression)
            // No lease condition: the refresh that obtained these held it, and whoever holds it
            // now still works on this token version, so it is fenced out by the bump.
            .condition_expression("version = :version AND #status = :connected")
            .expression_attribute_names("#status", "status")
            .set_expression_attribute_values(Some(values))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => integration_from(returned(out.attributes.as_ref())?).map(Some),
            Err(e) if is_condition_failure(&e) => Ok(None),
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
            .expression_attribute_values(":now", s(crate::clock::now_rfc3339()))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":owner", s(lease.owner.clone()))
            .expression_attribute_values(":version", n(i.token_version))
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
