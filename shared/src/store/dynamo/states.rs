//! `AuthorizationStates`: a started OAuth flow under `STATE#{id}`, taken once by the callback.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;

use super::DynamoTable;
use super::codec::*;
use super::keys;
use crate::domain::PendingAuthorization;
use crate::state::StateId;
use crate::store::{AuthorizationStates, StateClaim, StoreError};

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
