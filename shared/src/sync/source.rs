//! Calendar sources: one page of a provider's events, normalized. Two wire formats cover the
//! catalogue: Google Calendar's `events.list` (pageToken / nextSyncToken, `status: cancelled`,
//! 410 Gone for a stale sync token; the local `demo` provider serves the same format) and
//! Microsoft Graph's `calendarView/delta` (@odata.nextLink / @odata.deltaLink, `@removed`).

use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use super::answer::{Answer, AnswerError, send};
use crate::body::PAGE_ANSWER_LIMIT;
use crate::catalogue::{CalendarApi, CalendarSource};

/// Which page to fetch.
#[derive(Debug, Clone, Copy)]
pub enum PageRequest<'a> {
    /// The first page: a full listing (no cursor) or the changes since `cursor`.
    Start { cursor: Option<&'a str> },
    /// A following page, by the token (Google) or link (Graph) the previous page gave.
    Next(&'a str),
}

/// One provider event, normalized to the API's `Event` fields (docs/openapi.yaml).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderEvent {
    pub external_id: String,
    pub title: String,
    pub description: Option<String>,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    pub attendees: Vec<String>,
    pub location: Option<String>,
    pub updated_at: Option<String>,
    pub deleted: bool,
}

#[derive(Debug, Default)]
pub struct ProviderPage {
    pub events: Vec<ProviderEvent>,
    /// Where the listing goes on; None on its last page.
    pub next_page: Option<String>,
    /// The cursor for the next incremental sync, on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The stored cursor is no longer valid (Google 410; Graph 410 / syncStateNotFound): a full
    /// sync is required.
    #[error("the sync cursor is no longer valid")]
    CursorInvalid,
    #[error("the provider refused the access token")]
    Unauthorized,
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

impl From<AnswerError> for FetchError {
    fn from(e: AnswerError) -> Self {
        match e {
            AnswerError::Unavailable(why) => Self::Unavailable(why),
            AnswerError::TooLarge(why) => Self::BadResponse(why),
        }
    }
}

impl FetchError {
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Busy { .. } | Self::Unavailable(_))
    }

    /// The `Status` dimension of `ProviderErrors`: the HTTP status where it decides the error.
    pub fn status_name(&self) -> String {
        match self {
            Self::Busy { status, .. } => status.to_string(),
            Self::Unauthorized => "401".into(),
            Self::CursorInvalid => "410".into(),
            Self::Unavailable(_) => "network".into(),
            Self::BadResponse(_) => "bad_response".into(),
        }
    }
}

/// Events per page asked for (Google's default is 250; Graph takes it as a preference).
pub const PAGE_SIZE: u32 = 250;

pub async fn fetch_page(
    http: &reqwest::Client,
    source: &CalendarSource,
    token: &SecretString,
    request: PageRequest<'_>,
) -> Result<ProviderPage, FetchError> {
    let url = page_url(source, request)?;
    let mut call = http.get(url);
    if source.api == CalendarApi::MicrosoftGraph {
        call = call.header("Prefer", format!("odata.maxpagesize={PAGE_SIZE}"));
    }
    let Answer {
        status,
        retry_after,
        body,
        ..
    } = send(call, token, PAGE_ANSWER_LIMIT).await?;
    match status {
        200 => {}
        401 => return Err(FetchError::Unauthorized),
        410 => return Err(FetchError::CursorInvalid),
        429 => {
            return Err(FetchError::Busy {
                status: 429,
                retry_after,
            });
        }
        // Google signals quota with 403 rateLimitExceeded / userRateLimitExceeded.
        403 if is_rate_limit(&body) => {
            return Err(FetchError::Busy {
                status: 403,
                retry_after,
            });
        }
        s if s >= 500 => {
            return Err(FetchError::Busy {
                status: s,
                retry_after,
            });
        }
        // Graph can also answer a stale delta token with 400 syncStateNotFound / resyncRequired.
        400 if source.api == CalendarApi::MicrosoftGraph && is_graph_resync(&body) => {
            return Err(FetchError::CursorInvalid);
        }
        s => return Err(FetchError::BadResponse(format!("events answered {s}"))),
    }
    match source.api {
        CalendarApi::GoogleCalendar => google_page(&body),
        CalendarApi::MicrosoftGraph => graph_page(&body),
    }
}

/// The URL of a page. Links and cursors the provider hands back are followed only on the
/// source's own origin: our bearer token never goes anywhere else.
fn page_url(source: &CalendarSource, request: PageRequest<'_>) -> Result<Url, FetchError> {
    let mut url = source.events_url.clone();
    match (source.api, request) {
        (CalendarApi::GoogleCalendar, request) => {
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("maxResults", &PAGE_SIZE.to_string());
                // Cancelled events come back too, so deletions are seen in full syncs as well.
                q.append_pair("showDeleted", "true");
                q.append_pair("singleEvents", "true");
                match request {
                    PageRequest::Start { cursor: Some(c) } => {
                        q.append_pair("syncToken", c);
                    }
                    PageRequest::Start { cursor: None } => {}
                    PageRequest::Next(token) => {
                        q.append_pair("pageToken", token);
                    }
                }
            }
            Ok(url)
        }
        (CalendarApi::MicrosoftGraph, PageRequest::Start { cursor: None }) => {
            // calendarView needs a window: a month back, a year ahead.
            let now = time::OffsetDateTime::now_utc();
            let format = &time::format_description::well_known::Rfc3339;
            let from = (now - time::Duration::days(30))
                .format(format)
                .unwrap_or_default();
            let to = (now + time::Duration::days(365))
                .format(format)
                .unwrap_or_default();
            url.query_pairs_mut()
                .append_pair("startDateTime", &from)
                .append_pair("endDateTime", &to);
            Ok(url)
        }
        (CalendarApi::MicrosoftGraph, PageRequest::Start { cursor: Some(link) })
        | (CalendarApi::MicrosoftGraph, PageRequest::Next(link)) => {
            let link = Url::parse(link).map_err(|_| FetchError::CursorInvalid)?;
            if link.origin() != source.events_url.origin() {
                return Err(FetchError::BadResponse(
                    "a link to another origin than the events URL".into(),
                ));
            }
            Ok(link)
        }
    }
}

fn is_rate_limit(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(body);
    text.contains("rateLimitExceeded") || text.contains("userRateLimitExceeded")
}

fn is_graph_resync(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(body);
    text.contains("syncStateNotFound") || text.contains("resyncRequired")
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GoogleList {
    #[serde(default)]
    items: Vec<GoogleEvent>,
    next_page_token: Option<String>,
    next_sync_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GoogleEvent {
    id: String,
    #[serde(default)]
    status: Option<String>,
    summary: Option<String>,
    description: Option<String>,
    location: Option<String>,
    start: Option<GoogleTime>,
    end: Option<GoogleTime>,
    #[serde(default)]
    attendees: Vec<GoogleAttendee>,
    updated: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GoogleTime {
    date_time: Option<String>,
    /// All-day events carry a date instead.
    date: Option<String>,
}

#[derive(Deserialize)]
struct GoogleAttendee {
    email: Option<String>,
}

pub fn google_page(body: &[u8]) -> Result<ProviderPage, FetchError> {
    let list: GoogleList =
        serde_json::from_slice(body).map_err(|e| FetchError::BadResponse(e.to_string()))?;
    Ok(ProviderPage {
        events: list
            .items
            .into_iter()
            .map(GoogleEvent::normalized)
            .collect(),
        next_page: list.next_page_token,
        next_cursor: list.next_sync_token,
    })
}

impl GoogleEvent {
    pub(super) fn normalized(self) -> ProviderEvent {
        ProviderEvent {
            deleted: self.status.as_deref() == Some("cancelled"),
            external_id: self.id,
            title: self.summary.unwrap_or_default(),
            description: self.description,
            start_time: self.start.and_then(|t| t.date_time.or(t.date)),
            end_time: self.end.and_then(|t| t.date_time.or(t.date)),
            attendees: self.attendees.into_iter().filter_map(|a| a.email).collect(),
            location: self.location,
            updated_at: self.updated,
        }
    }
}

#[derive(Deserialize)]
struct GraphList {
    #[serde(default)]
    value: Vec<GraphEvent>,
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
    #[serde(rename = "@odata.deltaLink")]
    delta_link: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GraphEvent {
    id: String,
    #[serde(rename = "@removed")]
    removed: Option<serde_json::Value>,
    #[serde(default)]
    is_cancelled: bool,
    subject: Option<String>,
    body_preview: Option<String>,
    location: Option<GraphLocation>,
    start: Option<GraphTime>,
    end: Option<GraphTime>,
    #[serde(default)]
    attendees: Vec<GraphAttendee>,
    last_modified_date_time: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphLocation {
    display_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphTime {
    date_time: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphAttendee {
    email_address: Option<GraphEmail>,
}

#[derive(Deserialize)]
struct GraphEmail {
    address: Option<String>,
}

pub fn graph_page(body: &[u8]) -> Result<ProviderPage, FetchError> {
    let list: GraphList =
        serde_json::from_slice(body).map_err(|e| FetchError::BadResponse(e.to_string()))?;
    Ok(ProviderPage {
        events: list.value.into_iter().map(GraphEvent::normalized).collect(),
        next_page: list.next_link,
        next_cursor: list.delta_link,
    })
}

impl GraphEvent {
    pub(super) fn normalized(self) -> ProviderEvent {
        ProviderEvent {
            deleted: self.removed.is_some() || self.is_cancelled,
            external_id: self.id,
            title: self.subject.unwrap_or_default(),
            description: self.body_preview.filter(|d| !d.is_empty()),
            // Graph's times are UTC here (no Prefer: outlook.timezone; writes send UTC),
            // written without an offset: add it, so every stored time is RFC 3339.
            start_time: self.start.and_then(|t| t.date_time).map(with_utc_offset),
            end_time: self.end.and_then(|t| t.date_time).map(with_utc_offset),
            attendees: self
                .attendees
                .into_iter()
                .filter_map(|a| a.email_address.and_then(|m| m.address))
                .collect(),
            location: self
                .location
                .and_then(|l| l.display_name)
                .filter(|l| !l.is_empty()),
            updated_at: self.last_modified_date_time,
        }
    }
}

fn with_utc_offset(time: String) -> String {
    let has_offset = time.ends_with('Z')
        || time
            .rsplit_once('T')
            .is_some_and(|(_, clock)| clock.contains('+') || clock.contains('-'));
    if has_offset { time } else { format!("{time}Z") }
}

#[cfg(test)]
#[path = "../tests/sync_source.rs"]
mod tests;
