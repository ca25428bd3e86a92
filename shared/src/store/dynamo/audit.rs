//! `AuditTrail`: audit entries under `USER#{userId}` (or the anonymous partition), kept 90 days.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use super::DynamoTable;
use super::codec::*;
use super::keys;
use crate::clock::now_epoch;
use crate::domain::{AuditEntry, AuditEvent};
use crate::ids::{IntegrationId, ProviderId, UserId};
use crate::store::{AuditTrail, StoreError};

const AUDIT_RETENTION_SECS: i64 = 90 * 24 * 3600;

#[async_trait]
impl AuditTrail for DynamoTable {
    async fn append(&self, e: &AuditEntry) -> Result<(), StoreError> {
        let Some(user) = &e.user_id else {
            return self.count_anonymous(e).await;
        };
        let mut item = attributes_of(e);
        item.insert(keys::PK.to_string(), s(keys::user(user.as_str())));
        item.insert(
            keys::SK.to_string(),
            s(format!("AUDIT#{}#{}", e.at, crate::ids::random_id())),
        );
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
                // Written from typed ids, so they parse; an unreadable one is left out.
                provider: it
                    .opt_s("provider")
                    .and_then(|p| ProviderId::parse(&p).ok()),
                integration_id: it
                    .opt_s("integrationId")
                    .and_then(|i| IntegrationId::parse(&i).ok()),
                at: it.s("at")?,
                ip: it.opt_s("ip"),
                user_agent: it.opt_s("userAgent"),
                correlation_id: it.s("correlationId")?,
                reason: it.opt_s("reason"),
                principal: it.opt_s("principal"),
                count: it
                    .opt_n("count")?
                    .map(|c| u32::try_from(c).unwrap_or(u32::MAX)),
            });
        }
        let next = out
            .last_evaluated_key
            .as_ref()
            .and_then(|k| Item(k).opt_s(keys::SK));
        Ok((entries, next))
    }
}

impl DynamoTable {
    /// An entry no user is known for (a refused state at the public callback): one item per
    /// source, event, reason and minute, counting the requests it stands for. A flood of forged
    /// callbacks from one source adds one item a minute, and each other source keeps its own.
    async fn count_anonymous(&self, e: &AuditEntry) -> Result<(), StoreError> {
        let minute = e.at.get(..16).unwrap_or(&e.at);
        let source =
            e.ip.as_deref()
                .map_or("unknown".into(), |ip| truncate(ip, 64));
        // The reason too (a handful of fixed words): a flood of one kind does not hide another.
        let reason = e.reason.as_deref().map_or("-".into(), |r| truncate(r, 64));
        let sort = format!("AUDIT#{minute}#{}#{reason}#{source}", e.event.as_str());
        // The first request's attributes stay; `lastAt` and `count` follow the later ones.
        let mut sets = vec!["lastAt = :at".to_string(), "#ttl = :ttl".to_string()];
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::ANONYMOUS_AUDIT))
            .key(keys::SK, s(sort))
            .expression_attribute_names("#ttl", keys::TTL)
            .expression_attribute_values(":one", n(1));
        for (i, (name, value)) in attributes_of(e).into_iter().enumerate() {
            if name == keys::TTL {
                update = update.expression_attribute_values(":ttl", value);
                continue;
            }
            sets.push(format!("#a{i} = if_not_exists(#a{i}, :v{i})"));
            update = update
                .expression_attribute_names(format!("#a{i}"), name)
                .expression_attribute_values(format!(":v{i}"), value);
        }
        update
            .expression_attribute_values(":at", s(e.at.clone()))
            .update_expression(format!("SET {} ADD #count :one", sets.join(", ")))
            .expression_attribute_names("#count", "count")
            .send()
            .await
            .map_err(service_error)?;
        Ok(())
    }
}

/// An entry's attributes, keys aside.
fn attributes_of(e: &AuditEntry) -> HashMap<String, AttributeValue> {
    let mut item = HashMap::from([
        ("event".to_string(), s(e.event.as_str())),
        ("at".to_string(), s(e.at.clone())),
        ("correlationId".to_string(), s(e.correlation_id.clone())),
        (keys::TTL.to_string(), n(now_epoch() + AUDIT_RETENTION_SECS)),
    ]);
    let ids = [
        ("provider", e.provider.as_ref().map(ProviderId::as_str)),
        (
            "integrationId",
            e.integration_id.as_ref().map(IntegrationId::as_str),
        ),
    ];
    for (name, value) in ids {
        if let Some(v) = value {
            item.insert(name.to_string(), s(v));
        }
    }
    for (name, value) in [
        ("ip", &e.ip),
        ("userAgent", &e.user_agent),
        ("reason", &e.reason),
        ("principal", &e.principal),
    ] {
        if let Some(v) = value {
            item.insert(name.to_string(), s(truncate(v, 512)));
        }
    }
    item
}
