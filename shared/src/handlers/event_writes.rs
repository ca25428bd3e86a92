//! Writing events to the user's calendar: `create-event` (POST /integrations/{id}/events),
//! `update-event` (PATCH /integrations/{id}/events/{eventId}) and `delete-event` (DELETE, the
//! same path). Each writes at the provider with a fresh token from the one refresh path, then
//! stores the event as the provider answered, where the next sync finds it (not twice: records
//! are keyed by the provider's event id). `{eventId}` is the event's `externalId`.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::time::Instant;

use super::{audit_entry, owned_integration};
use crate::app::App;
use crate::catalogue::{CalendarSource, Provider};
use crate::clock::now_epoch;
use crate::domain::{AuditEvent, EventRecord, Integration, IntegrationError};
use crate::error::ApiError;
use crate::http::{ApiRequest, ApiResponse};
use crate::ids::{IntegrationId, hex, random_id};
use crate::refresh::{RefreshPolicy, fresh_tokens};
use crate::store::KeyClaim;
use crate::sync::records::{record_of, storable_id};
use crate::sync::source::ProviderEvent;
use crate::sync::writes::{self, EventFields, EventTime, WriteError};

/// How long an `Idempotency-Key` is remembered: a day, as the IETF draft's examples keep them.
const KEY_TTL_SECS: i64 = 86_400;
const MAX_TITLE: usize = 1024;
const MAX_DESCRIPTION: usize = 8 * 1024;
const MAX_LOCATION: usize = 1024;
const MAX_ATTENDEES: usize = 100;
const MAX_EMAIL: usize = 254;
const MAX_TIME_ZONE: usize = 64;
const MAX_KEY: usize = 255;

/// The writable fields of the API's `Event`. `null` is refused rather than read as "left out".
#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EventBody {
    #[serde(default, deserialize_with = "crate::http::present")]
    title: Option<String>,
    #[serde(default, deserialize_with = "crate::http::present")]
    description: Option<String>,
    #[serde(default, deserialize_with = "crate::http::present")]
    start_time: Option<String>,
    #[serde(default, deserialize_with = "crate::http::present")]
    end_time: Option<String>,
    #[serde(default, deserialize_with = "crate::http::present")]
    time_zone: Option<String>,
    #[serde(default, deserialize_with = "crate::http::present")]
    location: Option<String>,
    #[serde(default, deserialize_with = "crate::http::present")]
    attendees: Option<Vec<String>>,
}

/// POST /integrations/{id}/events: creates the event at the provider. With an
/// `Idempotency-Key`, a repeated request makes no second event and answers with the first.
pub async fn create(app: &App, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let body: EventBody = req.json_body()?;
    for (name, value) in [
        ("title", body.title.is_some()),
        ("startTime", body.start_time.is_some()),
        ("endTime", body.end_time.is_some()),
    ] {
        if !value {
            return Err(ApiError::Validation(format!("`{name}` is required")));
        }
    }
    let fields = checked(&body)?;
    let key = idempotency_key(req)?;
    let (integration, provider, source) = writable(app, req).await?;
    let client_id = match key {
        Some(key) => {
            let claim = app
                .event_writes()
                .claim_key(
                    &integration.id,
                    &hex(&Sha256::digest(key.as_bytes())),
                    &fingerprint(&body),
                    now_epoch(),
                    now_epoch() + KEY_TTL_SECS,
                )
                .await?;
            if claim == KeyClaim::Reused {
                return Err(ApiError::IdempotencyKeyReused);
            }
            derived_id(&integration.id, key)
        }
        None => random_id(),
    };
    let write = Write::Insert {
        client_id: &client_id,
        fields: &fields,
    };
    let event = with_token(app, req, &integration, provider, source, write)
        .await?
        .ok_or_else(|| ApiError::ProviderUnavailable("no event in the answer".into()))?;
    let record = stored(app, req, &integration, &event, AuditEvent::EventCreated).await?;
    Ok(ApiResponse::with_status(
        lambda_http::http::StatusCode::CREATED,
        &req.request_id,
        serde_json::json!({ "event": record }),
    ))
}

/// PATCH /integrations/{id}/events/{eventId}: changes the fields given, at the provider.
pub async fn update(app: &App, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let body: EventBody = req.json_body()?;
    let fields = checked(&body)?;
    if fields.is_empty() {
        return Err(ApiError::Validation(
            "nothing to change: send at least one field".into(),
        ));
    }
    let external_id = event_id(req)?;
    let (integration, provider, source) = writable(app, req).await?;
    let write = Write::Patch {
        external_id,
        fields: &fields,
    };
    let event = with_token(app, req, &integration, provider, source, write)
        .await?
        .ok_or_else(|| ApiError::ProviderUnavailable("no event in the answer".into()))?;
    let record = stored(app, req, &integration, &event, AuditEvent::EventUpdated).await?;
    Ok(ApiResponse::ok(
        &req.request_id,
        serde_json::json!({ "event": record }),
    ))
}

/// DELETE /integrations/{id}/events/{eventId}: deletes it at the provider and marks the stored
/// record deleted. Deleting it again answers the same, so a client may retry.
pub async fn delete(app: &App, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let external_id = event_id(req)?;
    let (integration, provider, source) = writable(app, req).await?;
    let deleted = with_token(
        app,
        req,
        &integration,
        provider,
        source,
        Write::Delete { external_id },
    )
    .await;
    let stored = match deleted {
        Ok(_) => {
            app.event_writes()
                .mark_deleted(&integration.id, external_id)
                .await?
        }
        // Gone at the provider already: a repeated delete, if the record says it existed.
        Err(e) if matches!(e.peeled(), ApiError::EventNotFound) => {
            if !app
                .event_writes()
                .mark_deleted(&integration.id, external_id)
                .await?
            {
                return Err(e);
            }
            true
        }
        Err(e) => return Err(e),
    };
    tracing::info!(
        integration_id = integration.id.as_str(),
        stored,
        "event deleted"
    );
    let entry = audit_entry(req, AuditEvent::EventDeleted, Some(&integration.user_id));
    app.audit(entry.integration(&integration)).await;
    Ok(ApiResponse::ok(
        &req.request_id,
        serde_json::json!({ "deleted": true }),
    ))
}

/// The caller's integration, its entry and the calendar to write to.
async fn writable<'a>(
    app: &'a App,
    req: &ApiRequest,
) -> Result<(Integration, &'a Provider, &'a CalendarSource), ApiError> {
    let integration = owned_integration(app, req).await?;
    let provider = app
        .catalogue
        .get(integration.provider.as_str())
        .ok_or_else(|| ApiError::InvalidProvider(integration.provider.to_string()))?;
    let source = provider.calendar.as_ref().ok_or_else(|| {
        ApiError::Validation(format!("{} has no calendar to write to", provider.id))
    })?;
    Ok((integration, provider, source))
}

/// A write at the provider.
#[derive(Clone, Copy)]
enum Write<'a> {
    Insert {
        client_id: &'a str,
        fields: &'a EventFields,
    },
    Patch {
        external_id: &'a str,
        fields: &'a EventFields,
    },
    Delete {
        external_id: &'a str,
    },
}

impl Write<'_> {
    /// The event as the provider answered (None: a deletion).
    async fn send(
        self,
        http: &reqwest::Client,
        source: &CalendarSource,
        token: &SecretString,
    ) -> Result<Option<ProviderEvent>, WriteError> {
        match self {
            Self::Insert { client_id, fields } => {
                match writes::insert(http, source, token, client_id, fields).await {
                    // Google: a retry of a create that went through. Its event is the answer.
                    Err(WriteError::Duplicate) => writes::get(http, source, token, client_id).await,
                    other => other,
                }
                .map(Some)
            }
            Self::Patch {
                external_id,
                fields,
            } => writes::patch(http, source, token, external_id, fields)
                .await
                .map(Some),
            Self::Delete { external_id } => writes::delete(http, source, token, external_id)
                .await
                .map(|()| None),
        }
    }
}

/// Sends `write` with a fresh access token from the one refresh path. A 401 gets one refresh
/// and one more try; a second expires the integration, as a sync does. Failures name the
/// provider.
async fn with_token(
    app: &App,
    req: &ApiRequest,
    integration: &Integration,
    provider: &Provider,
    source: &CalendarSource,
    write: Write<'_>,
) -> Result<Option<ProviderEvent>, ApiError> {
    let http = app.oauth.http()?;
    let at = |e: ApiError| e.at_provider(&integration.provider);
    let deadline = Instant::now() + app.refresh_tuning.request_budget;
    let mut policy = RefreshPolicy::IfExpiringWithin(app.settings.refresh_margin_secs);
    let (user, id, origin) = (&integration.user_id, &integration.id, req.origin());
    for attempt in 0..2 {
        let fresh = fresh_tokens(app, user, id, policy, &origin, deadline)
            .await
            .map_err(|e| at(e.into()))?;
        let error = match write.send(http, source, &fresh.tokens.access_token).await {
            Ok(answer) => return Ok(answer),
            Err(e) => e,
        };
        app.metrics
            .provider_error(integration.provider.as_str(), &error.status_name());
        match error {
            // Perhaps revoked early or expired ahead of its stated time: one refresh.
            WriteError::Unauthorized if attempt == 0 => {
                policy = RefreshPolicy::UnlessRefreshedWithin(0);
            }
            WriteError::Unauthorized => {
                let error = IntegrationError {
                    code: "TOKEN_EXPIRED".into(),
                    message:
                        "the provider rejected a freshly refreshed access token; connect again"
                            .into(),
                    at: Some(crate::clock::now_rfc3339()),
                };
                if let Err(e) = crate::refresh::expire(app, user, id, &error, &origin).await {
                    tracing::warn!(integration_id = id.as_str(), error = %e, "integration not marked expired");
                }
                return Err(at(ApiError::TokenExpired));
            }
            other => return Err(at(api_error(other, provider))),
        }
    }
    Err(at(ApiError::TokenExpired))
}

fn api_error(error: WriteError, provider: &Provider) -> ApiError {
    match error {
        WriteError::InsufficientScope => ApiError::InsufficientScope {
            scopes: provider
                .calendar
                .as_ref()
                .map(|c| c.write_scopes.clone())
                .unwrap_or_default(),
        },
        WriteError::NotFound => ApiError::EventNotFound,
        WriteError::Refused { status, message } => {
            ApiError::ProviderRefused(format!("{status}: {message}"))
        }
        WriteError::Duplicate => {
            ApiError::Conflict("the provider has another event with this id".into())
        }
        e @ (WriteError::Unauthorized
        | WriteError::Busy { .. }
        | WriteError::Unavailable(_)
        | WriteError::BadResponse(_)) => ApiError::ProviderUnavailable(e.to_string()),
    }
}

/// Stores the event as the provider answered the write, and audits the write.
async fn stored(
    app: &App,
    req: &ApiRequest,
    integration: &Integration,
    event: &ProviderEvent,
    audited: AuditEvent,
) -> Result<EventRecord, ApiError> {
    if !storable_id(&event.external_id) {
        return Err(ApiError::ProviderUnavailable(
            "the provider answered with an event id that cannot be stored".into(),
        ));
    }
    let record = record_of(&integration.id, event);
    app.event_writes()
        .put_written(&integration.id, &record)
        .await?;
    let entry = audit_entry(req, audited, Some(&integration.user_id));
    app.audit(entry.integration(integration)).await;
    Ok(record)
}

/// The event's `externalId` from the path, if the table could key it.
fn event_id(req: &ApiRequest) -> Result<&str, ApiError> {
    let id = req.path_param("eventId")?;
    if !storable_id(id) {
        return Err(ApiError::Validation(
            "`eventId` must be an event's externalId".into(),
        ));
    }
    Ok(id)
}

/// The `Idempotency-Key` header: 1 to 255 visible ASCII characters.
fn idempotency_key(req: &ApiRequest) -> Result<Option<&str>, ApiError> {
    let Some(value) = req.headers.get("idempotency-key") else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .filter(|k| (1..=MAX_KEY).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
        .map(Some)
        .ok_or_else(|| {
            ApiError::Validation(format!(
                "`Idempotency-Key` must be 1 to {MAX_KEY} visible ASCII characters"
            ))
        })
}

/// The event id a create with `key` asks for: the same for every retry of it, and a valid
/// Google event id (hex is within base32hex).
fn derived_id(integration: &IntegrationId, key: &str) -> String {
    let mut hash = Sha256::new();
    for part in [integration.as_str(), key] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    hex(&hash.finalize())
}

/// What a repeated request must match: the body as read (field order fixed by the struct).
fn fingerprint(body: &EventBody) -> String {
    hex(&Sha256::digest(
        serde_json::to_vec(body).unwrap_or_default(),
    ))
}

/// The body's fields, checked: sizes, e-mail addresses, times and the time zone's form.
fn checked(body: &EventBody) -> Result<EventFields, ApiError> {
    let invalid = |m: String| Err(ApiError::Validation(m));
    for (name, value, max) in [
        ("title", &body.title, MAX_TITLE),
        ("description", &body.description, MAX_DESCRIPTION),
        ("location", &body.location, MAX_LOCATION),
    ] {
        // Characters, as the schema's maxLength counts them.
        if value.as_ref().is_some_and(|v| v.chars().count() > max) {
            return invalid(format!("`{name}` is longer than {max} characters"));
        }
    }
    if body.title.as_ref().is_some_and(|t| t.trim().is_empty()) {
        return invalid("`title` must not be blank".into());
    }
    if let Some(attendees) = &body.attendees {
        if attendees.len() > MAX_ATTENDEES {
            return invalid(format!("at most {MAX_ATTENDEES} `attendees`"));
        }
        if let Some(bad) = attendees.iter().find(|a| !is_email(a)) {
            return invalid(format!("`attendees`: {bad:?} is not an e-mail address"));
        }
    }
    if let Some(zone) = &body.time_zone
        && !is_time_zone(zone)
    {
        return invalid("`timeZone` must be an IANA time zone name, like Europe/Paris".into());
    }
    let times = match (&body.start_time, &body.end_time) {
        // Providers take a zone with the times it applies to: alone it would change nothing.
        (None, None) if body.time_zone.is_some() => {
            return invalid("`timeZone` goes with `startTime` and `endTime`".into());
        }
        (None, None) => None,
        (Some(start), Some(end)) => Some(checked_times(start, end)?),
        _ => return invalid("`startTime` and `endTime` change together".into()),
    };
    Ok(EventFields {
        title: body.title.clone(),
        description: body.description.clone(),
        location: body.location.clone(),
        attendees: body.attendees.clone(),
        times,
        time_zone: body.time_zone.clone(),
    })
}

/// Both date-times (RFC 3339, with an offset) or both dates (`YYYY-MM-DD`, the end exclusive),
/// the end after the start.
fn checked_times(start: &str, end: &str) -> Result<(EventTime, EventTime), ApiError> {
    let date = time::macros::format_description!("[year]-[month]-[day]");
    let utc = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let instant = |text: &str| OffsetDateTime::parse(text, &Rfc3339).ok();
    let day = |text: &str| time::Date::parse(text, date).ok();
    let later = match (instant(start), instant(end), day(start), day(end)) {
        (Some(a), Some(b), ..) => {
            let at = |text: &str, t: OffsetDateTime| EventTime::At {
                rfc3339: text.to_string(),
                utc: t
                    .to_offset(time::UtcOffset::UTC)
                    .format(utc)
                    .unwrap_or_default(),
            };
            (b > a).then(|| (at(start, a), at(end, b)))
        }
        (.., Some(a), Some(b)) => (b > a).then(|| {
            (
                EventTime::Day(start.to_string()),
                EventTime::Day(end.to_string()),
            )
        }),
        _ => {
            return Err(ApiError::Validation(
                "`startTime` and `endTime` must both be RFC 3339 date-times with an offset, or both dates (YYYY-MM-DD)".into(),
            ));
        }
    };
    later.ok_or_else(|| ApiError::Validation("`endTime` must be after `startTime`".into()))
}

/// A plausible address: one `@` between a local part and a dotted domain, nothing invisible.
fn is_email(text: &str) -> bool {
    text.len() <= MAX_EMAIL
        && text.bytes().all(|b| b.is_ascii_graphic() || b >= 0x80)
        && text.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.contains('@')
        })
}

/// The form of an IANA name (`Area/Location`, `UTC`): whether it exists is the provider's to say.
fn is_time_zone(text: &str) -> bool {
    (1..=MAX_TIME_ZONE).contains(&text.len())
        && text.starts_with(|c: char| c.is_ascii_alphabetic())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_+-".contains(&b))
}

#[cfg(test)]
#[path = "../tests/event_writes.rs"]
mod tests;
