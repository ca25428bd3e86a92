//! Key and attribute names of the single table (docs/architecture.md, "The single table").

use crate::domain::SyncType;

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

/// The sparse refresh index (GSI1): only connected integrations carry its keys, keyed by when
/// their renewal is due ([`NEVER_DUE`] for those with nothing to renew).
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
/// The refresh-index epoch of a connected integration with nothing to renew (a token without
/// expiry, or none to renew it with): in the index, so it is counted, and never due.
pub const NEVER_DUE: i64 = 999_999_999_999;
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

/// The sort-key prefix of a sync type's records under `INTEGRATION#{id}`.
pub fn record_prefix(sync_type: SyncType) -> &'static str {
    match sync_type {
        SyncType::Calendar => "EVENT#",
        SyncType::Contacts => "CONTACT#",
    }
}

/// A record's sort key.
pub fn record(sync_type: SyncType, external_id: &str) -> String {
    format!("{}{external_id}", record_prefix(sync_type))
}

/// The integration row's attributes of a sync type: its active job, since when (epoch
/// seconds), and where its next incremental listing starts. The calendar's predate contacts.
pub fn sync_attributes(sync_type: SyncType) -> (&'static str, &'static str, &'static str) {
    match sync_type {
        SyncType::Calendar => ("activeSyncJob", "activeSyncAt", "calendarCursor"),
        SyncType::Contacts => ("activeContactsJob", "activeContactsAt", "contactsCursor"),
    }
}
/// An event create's idempotency key, as its SHA-256 (hex), under the integration.
pub fn idempotency(key_hash: &str) -> String {
    format!("IDEMPOTENCY#{key_hash}")
}

/// A caller's rate-limit counters for one class: `RATE#{class}#{caller}`. A caller longer than
/// an IP, a user id or a role ARN usually is goes in as its SHA-256, so the key stays small.
pub fn rate(class: &str, caller: &str) -> String {
    if caller.len() <= 256 {
        format!("RATE#{class}#{caller}")
    } else {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(caller.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        format!("RATE#{class}#sha256:{hex}")
    }
}
/// The fixed window starting at `start` (epoch seconds).
pub fn rate_window(start: i64) -> String {
    format!("WINDOW#{start}")
}
