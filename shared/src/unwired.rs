//! The ports of a container that builds no AWS client (`/health`, `/providers`: answered from
//! the embedded catalogue). Every call fails as a service error naming why, so a route wired to
//! the wrong runner shows up as an error answer, never as a crash or silent success, and the
//! function's binary links no AWS SDK at all (#18: size and cold start).

use std::collections::HashMap;

use async_trait::async_trait;
use secrecy::SecretString;

use crate::crypto::{CryptoError, DataKey, DataKeySource, Envelope, GeneratedDataKey, SealPurpose};
use crate::domain::{
    AuditEntry, ContactRecord, EventRecord, Integration, IntegrationError, PendingAuthorization,
    RecordChange, SyncCounts, SyncJob, SyncType, SyncedRecord,
};
use crate::ids::{IntegrationId, JobId, UserId};
use crate::secrets::{SecretError, SecretSource};
use crate::state::StateId;
use crate::store::{
    AuditTrail, AuthorizationStates, DueIntegration, DueScan, EventWrites, IntegrationChanges,
    IntegrationRecords, JobOutcome, JobStart, KeyClaim, RateCounters, RateWindow, RefreshIndex,
    RefreshLease, RefreshLeases, RefreshedTokens, StateClaim, StoreError, StoredMark, SyncJobs,
    SyncSchedules, SyncedRecords,
};

const WHY: &str = "this function builds no AWS client (routes::Function::builds_aws_clients)";

/// Stands in for the table, the key service and the secret store.
pub struct Unwired;

/// Implements a store port whose every method fails with [`WHY`].
macro_rules! unwired_store {
    ($port:ident { $(fn $method:ident($($ty:ty),*) -> $answer:ty;)+ }) => {
        #[async_trait]
        impl $port for Unwired {
            $(async fn $method(&self, $(_: $ty),*) -> Result<$answer, StoreError> {
                Err(StoreError::Service(WHY.into()))
            })+
        }
    };
}

unwired_store!(AuthorizationStates {
    fn put_pending(&PendingAuthorization) -> ();
    fn peek_pending(&StateId) -> Option<PendingAuthorization>;
    fn take_pending(&StateId, StateClaim<'_>) -> Option<PendingAuthorization>;
});

unwired_store!(IntegrationRecords {
    fn save_connected(&Integration, &Envelope, Option<i64>) -> Integration;
    fn get(&UserId, &IntegrationId) -> Option<Integration>;
    fn get_with_tokens(&UserId, &IntegrationId) -> Option<(Integration, Option<Envelope>)>;
    fn list(&UserId) -> Vec<Integration>;
    fn mark_disconnected(&Integration) -> Option<Envelope>;
    fn save_changes(&Integration, &IntegrationChanges<'_>) -> Integration;
});

unwired_store!(RefreshLeases {
    fn acquire(&Integration, &RefreshLease, i64) -> bool;
    fn complete(&Integration, &RefreshLease, RefreshedTokens<'_>) -> Integration;
    fn expire(&Integration, &RefreshLease, &IntegrationError) -> ();
    fn recover(&UserId, &IntegrationId, u64, RefreshedTokens<'_>) -> Option<Integration>;
    fn release(&Integration, &RefreshLease, Option<&IntegrationError>) -> ();
});

unwired_store!(RefreshIndex {
    fn due(u8, i64) -> DueScan;
    fn count_connected(u8) -> (usize, usize);
});

unwired_store!(AuditTrail {
    fn append(&AuditEntry) -> ();
    fn page(Option<&UserId>, u32, Option<&str>) -> (Vec<AuditEntry>, Option<String>);
});

unwired_store!(RateCounters {
    fn count(&RateWindow<'_>) -> Option<u32>;
});

unwired_store!(SyncJobs {
    fn start(&Integration, &SyncJob, i64) -> JobStart;
    fn get(&IntegrationId, &JobId) -> Option<SyncJob>;
    fn mark_running(&SyncJob, Option<&str>) -> bool;
    fn commit_page(&SyncJob, SyncCounts, Option<&str>, Option<&str>) -> bool;
    fn restart_full(&SyncJob) -> bool;
    fn finish(&SyncJob, JobOutcome<'_>) -> ();
});

unwired_store!(EventWrites {
    fn put_written(&IntegrationId, &EventRecord) -> ();
    fn mark_deleted(&IntegrationId, &str) -> bool;
    fn claim_key(&IntegrationId, &str, &str, i64, i64) -> KeyClaim;
});

unwired_store!(SyncedRecords {
    fn marks(&IntegrationId, SyncType, &[String]) -> HashMap<String, StoredMark>;
    fn put_page(&IntegrationId, &[(SyncedRecord, RecordChange)], &JobId, u32) -> ();
    fn sweep_unlisted(&IntegrationId, SyncType, &JobId) -> u64;
    fn page(&IntegrationId, u32, Option<&str>) -> (Vec<EventRecord>, Option<String>);
    fn contacts_page(&IntegrationId, u32, Option<&str>) -> (Vec<ContactRecord>, Option<String>);
});

unwired_store!(SyncSchedules {
    fn due_syncs(u8, i64) -> DueScan;
    fn reschedule(&DueIntegration, i64) -> ();
});

#[async_trait]
impl DataKeySource for Unwired {
    async fn generate_data_key(&self, _: SealPurpose) -> Result<GeneratedDataKey, CryptoError> {
        Err(CryptoError::KeyService(WHY.into()))
    }

    async fn decrypt_data_key(
        &self,
        _: &str,
        _: &[u8],
        _: SealPurpose,
    ) -> Result<DataKey, CryptoError> {
        Err(CryptoError::KeyService(WHY.into()))
    }
}

#[async_trait]
impl SecretSource for Unwired {
    async fn secret_string(&self, _: &str) -> Result<SecretString, SecretError> {
        Err(SecretError::Service(WHY.into()))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use crate::app::App;
    use crate::http::ApiRequest;
    use crate::ids::UserId;
    use crate::routes::Function;

    fn get(path: &str) -> ApiRequest {
        ApiRequest {
            method: lambda_http::http::Method::GET,
            path: path.into(),
            path_params: HashMap::new(),
            query: HashMap::new(),
            headers: Default::default(),
            body: Vec::new(),
            claims: None,
            backend_principal: None,
            request_id: "unwired-test".into(),
            source_ip: Some("203.0.113.1".into()),
            user_agent: None,
            domain_name: None,
        }
    }

    /// The static routes answer from a container without AWS clients; a port asked anyway
    /// fails with a service error that says why, never a panic.
    #[tokio::test]
    async fn static_routes_answer_and_any_port_call_fails_naming_why() {
        let env = |name: &str| {
            match name {
                "TABLE_NAME" | "KMS_KEY_ID" | "STATE_KEY_SECRET" => Some("unused"),
                _ => None,
            }
            .map(str::to_string)
        };
        let app = App::without_aws_from(&env).unwrap();
        for (function, path) in [
            (Function::Health, "/health"),
            (Function::Providers, "/providers"),
        ] {
            assert!(!function.builds_aws_clients());
            let answer = crate::handlers::dispatch(&app, function, get(path)).await;
            assert_eq!(answer.status.as_u16(), 200, "{path}: {:?}", answer.body);
        }
        let user = UserId::parse("someone").unwrap();
        let refused = app.integrations().list(&user).await.unwrap_err();
        assert!(
            refused.to_string().contains("builds no AWS client"),
            "{refused}"
        );
        let secret = app.state_key().await.err().unwrap();
        assert!(
            secret.to_string().contains("builds no AWS client"),
            "{secret}"
        );
    }
}
