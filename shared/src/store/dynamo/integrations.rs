//! `IntegrationRecords`: the integration item under `USER#{userId}` / `INTEGRATION#{id}`.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::DynamoTable;
use super::codec::*;
use super::keys;
use super::schedules::sync_index_values;
use crate::crypto::Envelope;
use crate::domain::{Integration, IntegrationStatus};
use crate::ids::{IntegrationId, UserId};
use crate::store::{IntegrationChanges, IntegrationRecords, StoreError};

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
        // A new token set fences out any refresh in flight (the version moves), so its lease,
        // and a failed holder's lingering one, no longer protects anything.
        let mut remove = vec!["lastError", "leaseOwner", "leaseUntil"];
        // The account's profile as the provider gives it now: what it no longer gives goes.
        for (attr, assignment, placeholder, value) in [
            (
                "displayName",
                "displayName = :name",
                ":name",
                &i.display_name,
            ),
            ("email", "email = :email", ":email", &i.email),
            ("avatarUrl", "avatarUrl = :avatar", ":avatar", &i.avatar_url),
        ] {
            match value {
                Some(v) => {
                    values.insert(placeholder.to_string(), s(v.clone()));
                    set.push(assignment);
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
        let (pk, sk) = refresh_index_values(i.id.as_str(), refresh_at);
        values.insert(":gsi1pk".into(), pk);
        values.insert(":gsi1sk".into(), sk);
        set.push("GSI1PK = :gsi1pk");
        set.push("GSI1SK = :gsi1sk");
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
            // The caller's metadata goes with the connection: a reconnect after it starts without.
            .update_expression("SET #status = :status, updatedAt = :now, version = version + :one REMOVE tokenEnvelope, expiresAt, GSI1PK, GSI1SK, metadata")
            // Whatever tokens the row holds now are the ones removed (and returned, to revoke):
            // a refresh completing meanwhile does not make the disconnect fail.
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(IntegrationStatus::Disconnected.as_str()))
            .expression_attribute_values(":now", s(crate::clock::now_rfc3339()))
            .expression_attribute_values(":one", n(1))
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

    async fn save_changes(
        &self,
        i: &Integration,
        changes: &IntegrationChanges<'_>,
    ) -> Result<Integration, StoreError> {
        let mut set = vec!["updatedAt = :now"];
        let mut remove = Vec::new();
        let mut values = HashMap::from([(":now".to_string(), s(crate::clock::now_rfc3339()))]);
        // Settings only for a connected integration (a sync needs its tokens); metadata for any
        // the API shows, never for one a disconnect removed it from meanwhile.
        let (condition, status) = match changes.sync {
            Some(_) => ("#status = :status", IntegrationStatus::Connected),
            None => ("#status <> :status", IntegrationStatus::Disconnected),
        };
        values.insert(":status".into(), s(status.as_str()));
        if let Some((settings, next_sync_at)) = changes.sync {
            values.insert(":settings".into(), sync_settings_value(settings));
            set.push("syncSettings = :settings");
            match next_sync_at {
                Some(at) => {
                    let (pk, sk) = sync_index_values(i.id.as_str(), at);
                    values.extend([
                        (":at".to_string(), n(at)),
                        (":pk2".to_string(), pk),
                        (":sk2".to_string(), sk),
                    ]);
                    set.extend(["nextSyncAt = :at", "GSI2PK = :pk2", "GSI2SK = :sk2"]);
                }
                None => remove.extend(["nextSyncAt", "GSI2PK", "GSI2SK"]),
            }
        }
        match changes.metadata {
            Some(m) if m.is_empty() => remove.push("metadata"),
            Some(m) => {
                values.insert(":metadata".into(), s(m.to_json()));
                set.push("metadata = :metadata");
            }
            None => {}
        }
        let mut expression = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::user(i.user_id.as_str())))
            .key(keys::SK, s(keys::integration(i.id.as_str())))
            // Not a token write: neither conditioned on the token version nor bumping it, so a
            // refresh in flight is not fenced out by it (docs/architecture.md, "Refresh protocol").
            .update_expression(expression)
            .condition_expression(format!("attribute_exists(PK) AND {condition}"))
            .expression_attribute_names("#status", "status")
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
}
