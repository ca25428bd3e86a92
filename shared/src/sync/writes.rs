//! Writing events to a provider's calendar, the other direction of source.rs: Google Calendar's
//! `events.insert` / `get` / `patch` / `delete` (the local `demo` provider serves the same) and
//! Microsoft Graph's `/me/events`. The wire format only: the token comes from the one refresh
//! path, and the caller decides what a failure means for the request.

use std::time::Duration;

use secrecy::SecretString;
use serde_json::{Map, Value, json};
use url::Url;

use super::answer::{self, Answer, AnswerError};
use super::source::{GoogleEvent, GraphEvent, ProviderEvent};
use crate::catalogue::{CalendarApi, CalendarSource};

/// The largest event answer read: an event with hundreds of attendees is tens of kilobytes.
const EVENT_ANSWER_LIMIT: usize = 1024 * 1024;

/// When an event takes place: an instant (RFC 3339, with its offset) or a whole day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventTime {
    /// The RFC 3339 text as given, and the same instant in UTC without an offset
    /// (`YYYY-MM-DDTHH:MM:SS`), as Graph's `dateTimeTimeZone` takes it.
    At { rfc3339: String, utc: String },
    /// `YYYY-MM-DD`; an end date is exclusive.
    Day(String),
}

/// The writable fields of an event; None leaves a field as it is (a patch) or unset (a create).
#[derive(Debug, Clone, Default)]
pub struct EventFields {
    pub title: Option<String>,
    pub description: Option<String>,
    pub location: Option<String>,
    pub attendees: Option<Vec<String>>,
    /// Start and end change together.
    pub times: Option<(EventTime, EventTime)>,
    /// An IANA time zone for the event's display (Google); Graph is sent UTC.
    pub time_zone: Option<String>,
}

impl EventFields {
    /// Nothing to change.
    pub fn is_empty(&self) -> bool {
        self.title.is_none()
            && self.description.is_none()
            && self.location.is_none()
            && self.attendees.is_none()
            && self.times.is_none()
            && self.time_zone.is_none()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("the provider refused the access token")]
    Unauthorized,
    /// The token lacks a scope the write needs (Google `insufficientPermissions`, Graph
    /// `ErrorAccessDenied`, RFC 6750 `insufficient_scope`).
    #[error("the access token lacks the scope to write events")]
    InsufficientScope,
    #[error("no such event at the provider")]
    NotFound,
    /// Google: an event with the client-chosen id exists already.
    #[error("an event with this id exists already")]
    Duplicate,
    /// The provider refused the request as such (400 and the like): its message, cut short.
    #[error("the provider refused the event ({status}): {message}")]
    Refused { status: u16, message: String },
    #[error("the provider answered {status}")]
    Busy {
        status: u16,
        retry_after: Option<Duration>,
    },
    #[error("the provider is unreachable: {0}")]
    Unavailable(String),
    #[error("unexpected provider response: {0}")]
    BadResponse(String),
}

impl WriteError {
    /// The `Status` dimension of `ProviderErrors`, as for a sync's failures.
    pub fn status_name(&self) -> String {
        match self {
            Self::Unauthorized => "401".into(),
            Self::InsufficientScope => "403".into(),
            Self::NotFound => "404".into(),
            Self::Duplicate => "409".into(),
            Self::Refused { status, .. } | Self::Busy { status, .. } => status.to_string(),
            Self::Unavailable(_) => "network".into(),
            Self::BadResponse(_) => "bad_response".into(),
        }
    }
}

/// Creates an event. `client_id`: Google's client-chosen event id (base32hex), Graph's
/// `transactionId`; a repeated create with the same one makes no second event
/// (https://developers.google.com/calendar/api/v3/reference/events, `id`;
/// https://blog.rykoma.net/2020/10/05/1559/ for Graph's `transactionId`). Google answers a
/// repeat with [`WriteError::Duplicate`]; Graph with the event it made the first time.
pub async fn insert(
    http: &reqwest::Client,
    source: &CalendarSource,
    token: &SecretString,
    client_id: &str,
    fields: &EventFields,
) -> Result<ProviderEvent, WriteError> {
    let mut body = request_body(source.api, fields);
    let id_field = match source.api {
        CalendarApi::GoogleCalendar => "id",
        CalendarApi::MicrosoftGraph => "transactionId",
    };
    body.insert(id_field.into(), client_id.into());
    let call = http.post(source.write_url.clone()).json(&body);
    event_answer(source.api, send(call, token).await?)
}

/// Reads one event (after a Google [`WriteError::Duplicate`]: the one the first create made).
pub async fn get(
    http: &reqwest::Client,
    source: &CalendarSource,
    token: &SecretString,
    external_id: &str,
) -> Result<ProviderEvent, WriteError> {
    let call = http.get(event_url(source, external_id));
    event_answer(source.api, send(call, token).await?)
}

pub async fn patch(
    http: &reqwest::Client,
    source: &CalendarSource,
    token: &SecretString,
    external_id: &str,
    fields: &EventFields,
) -> Result<ProviderEvent, WriteError> {
    let body = request_body(source.api, fields);
    let call = http.patch(event_url(source, external_id)).json(&body);
    event_answer(source.api, send(call, token).await?)
}

/// Deletes an event. One already deleted or never there: [`WriteError::NotFound`].
pub async fn delete(
    http: &reqwest::Client,
    source: &CalendarSource,
    token: &SecretString,
    external_id: &str,
) -> Result<(), WriteError> {
    send(http.delete(event_url(source, external_id)), token).await?;
    Ok(())
}

/// The event's URL under the write collection: the id as one path segment, percent-encoded.
fn event_url(source: &CalendarSource, external_id: &str) -> Url {
    let mut url = source.write_url.clone();
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.pop_if_empty().push(external_id);
    }
    url
}

fn request_body(api: CalendarApi, fields: &EventFields) -> Map<String, Value> {
    let mut body = Map::new();
    match api {
        CalendarApi::GoogleCalendar => {
            let mut put = |name: &str, value: &Option<String>| {
                if let Some(v) = value {
                    body.insert(name.into(), v.clone().into());
                }
            };
            put("summary", &fields.title);
            put("description", &fields.description);
            put("location", &fields.location);
            if let Some((start, end)) = &fields.times {
                let time = |t: &EventTime| match t {
                    EventTime::At { rfc3339, .. } => match &fields.time_zone {
                        Some(zone) => json!({"dateTime": rfc3339, "timeZone": zone}),
                        None => json!({"dateTime": rfc3339}),
                    },
                    EventTime::Day(date) => json!({"date": date}),
                };
                body.insert("start".into(), time(start));
                body.insert("end".into(), time(end));
            }
            if let Some(attendees) = &fields.attendees {
                let list: Vec<Value> = attendees.iter().map(|a| json!({"email": a})).collect();
                body.insert("attendees".into(), list.into());
            }
        }
        CalendarApi::MicrosoftGraph => {
            if let Some(title) = &fields.title {
                body.insert("subject".into(), title.clone().into());
            }
            if let Some(description) = &fields.description {
                body.insert(
                    "body".into(),
                    json!({"contentType": "text", "content": description}),
                );
            }
            if let Some(location) = &fields.location {
                body.insert("location".into(), json!({"displayName": location}));
            }
            if let Some((start, end)) = &fields.times {
                // UTC, so that the answer's times (in the zone sent) read back as UTC.
                let time = |t: &EventTime| match t {
                    EventTime::At { utc, .. } => json!({"dateTime": utc, "timeZone": "UTC"}),
                    EventTime::Day(date) => {
                        json!({"dateTime": format!("{date}T00:00:00"), "timeZone": "UTC"})
                    }
                };
                body.insert("start".into(), time(start));
                body.insert("end".into(), time(end));
                body.insert("isAllDay".into(), matches!(start, EventTime::Day(_)).into());
            }
            if let Some(attendees) = &fields.attendees {
                let list: Vec<Value> = attendees
                    .iter()
                    .map(|a| json!({"emailAddress": {"address": a}, "type": "required"}))
                    .collect();
                body.insert("attendees".into(), list.into());
            }
        }
    }
    body
}

fn event_answer(api: CalendarApi, body: Vec<u8>) -> Result<ProviderEvent, WriteError> {
    let bad = |e: serde_json::Error| WriteError::BadResponse(e.to_string());
    Ok(match api {
        CalendarApi::GoogleCalendar => serde_json::from_slice::<GoogleEvent>(&body)
            .map_err(bad)?
            .normalized(),
        CalendarApi::MicrosoftGraph => serde_json::from_slice::<GraphEvent>(&body)
            .map_err(bad)?
            .normalized(),
    })
}

/// Sends with the bearer token and reads a 2xx body; any other answer as its [`WriteError`].
async fn send(call: reqwest::RequestBuilder, token: &SecretString) -> Result<Vec<u8>, WriteError> {
    let Answer {
        status,
        retry_after,
        challenge,
        body,
    } = answer::send(call, token, EVENT_ANSWER_LIMIT)
        .await
        .map_err(|e| match e {
            AnswerError::Unavailable(why) => WriteError::Unavailable(why),
            AnswerError::TooLarge(why) => WriteError::BadResponse(why),
        })?;
    if (200..300).contains(&status) {
        return Ok(body);
    }
    let text = String::from_utf8_lossy(&body);
    Err(match status {
        401 => WriteError::Unauthorized,
        403 if challenge.contains("insufficient_scope")
            || [
                "insufficientPermissions",
                "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
                "ErrorAccessDenied",
            ]
            .iter()
            .any(|r| text.contains(r)) =>
        {
            WriteError::InsufficientScope
        }
        // Google signals quota with 403 rateLimitExceeded / userRateLimitExceeded.
        403 if text.contains("rateLimitExceeded") => WriteError::Busy {
            status,
            retry_after,
        },
        404 | 410 => WriteError::NotFound,
        409 => WriteError::Duplicate,
        429 | 500.. => WriteError::Busy {
            status,
            retry_after,
        },
        _ => WriteError::Refused {
            status,
            message: provider_message(&body),
        },
    })
}

/// The provider's own message (`error.message` in both dialects), cut to 300 characters: it
/// describes the request, never a token.
fn provider_message(body: &[u8]) -> String {
    let message = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.pointer("/error/message")?.as_str().map(str::to_string))
        .unwrap_or_else(|| "no reason given".into());
    message.chars().take(300).collect()
}

#[cfg(test)]
#[path = "../tests/sync_writes.rs"]
mod tests;
