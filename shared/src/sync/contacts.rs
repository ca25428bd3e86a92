//! Contacts sources: one page of a provider's contacts, normalized. Google's People API
//! `people.connections.list` (pageToken / nextSyncToken, deleted people flagged in their
//! metadata, an expired sync token refused with 400; the local `demo` provider serves the same
//! format) and Microsoft Graph's contacts delta (@odata.nextLink / @odata.deltaLink, `@removed`).

use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use super::answer::{Answer, send};
use super::source::FetchError;
use crate::body::PAGE_ANSWER_LIMIT;
use crate::catalogue::{ContactsApi, ContactsSource};

/// Contacts per page asked for: the People API's largest (`pageSize` 1..1000).
pub const PAGE_SIZE: u32 = 1000;

/// What the People API is asked to return of each person (`personFields` is required).
const PERSON_FIELDS: &str = "names,emailAddresses,phoneNumbers,organizations,metadata";

/// One provider contact, normalized to the API's `Contact` fields (docs/openapi.yaml).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderContact {
    pub external_id: String,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    pub organization: Option<String>,
    pub job_title: Option<String>,
    pub updated_at: Option<String>,
    pub deleted: bool,
}

#[derive(Debug, Default)]
pub struct ContactsPage {
    pub contacts: Vec<ProviderContact>,
    /// Where the listing goes on; None on its last page.
    pub next_page: Option<String>,
    /// The cursor for the next incremental sync, on the last page.
    pub next_cursor: Option<String>,
}

/// A page of contacts: the first of a full listing (no `since`), the first of the changes
/// since `since`, or the one `page_token` names. The People API wants every parameter of the
/// first request repeated with a page token, the sync token included.
pub async fn fetch_page(
    http: &reqwest::Client,
    source: &ContactsSource,
    token: &SecretString,
    page_token: Option<&str>,
    since: Option<&str>,
) -> Result<ContactsPage, FetchError> {
    let url = page_url(source, page_token, since)?;
    let Answer {
        status,
        retry_after,
        body,
        ..
    } = send(http.get(url), token, PAGE_ANSWER_LIMIT).await?;
    let text = String::from_utf8_lossy(&body);
    match status {
        200 => {}
        401 => return Err(FetchError::Unauthorized),
        410 => return Err(FetchError::CursorInvalid),
        // People API: "Sync token is expired. Clear local cache and retry call without the sync
        // token." as a 400 (observed: github.com/garrytan/gbrain/issues/5127); Graph: a stale
        // delta token as 400 syncStateNotFound / resyncRequired.
        400 if [
            "EXPIRED_SYNC_TOKEN",
            "Sync token is expired",
            "syncStateNotFound",
            "resyncRequired",
        ]
        .iter()
        .any(|m| text.contains(m)) =>
        {
            return Err(FetchError::CursorInvalid);
        }
        429 | 500.. => {
            return Err(FetchError::Busy {
                status,
                retry_after,
            });
        }
        403 if text.contains("RATE_LIMIT_EXCEEDED") || text.contains("rateLimitExceeded") => {
            return Err(FetchError::Busy {
                status,
                retry_after,
            });
        }
        s => return Err(FetchError::BadResponse(format!("contacts answered {s}"))),
    }
    match source.api {
        ContactsApi::GooglePeople => people_page(&body),
        ContactsApi::MicrosoftGraph => graph_page(&body),
    }
}

/// The URL of a page. Graph's links are followed only on the source's own origin: our bearer
/// token never goes anywhere else.
fn page_url(
    source: &ContactsSource,
    page_token: Option<&str>,
    since: Option<&str>,
) -> Result<Url, FetchError> {
    match source.api {
        ContactsApi::GooglePeople => {
            let mut url = source.url.clone();
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("personFields", PERSON_FIELDS)
                    .append_pair("pageSize", &PAGE_SIZE.to_string())
                    .append_pair("requestSyncToken", "true");
                if let Some(cursor) = since {
                    q.append_pair("syncToken", cursor);
                }
                if let Some(page) = page_token {
                    q.append_pair("pageToken", page);
                }
            }
            Ok(url)
        }
        ContactsApi::MicrosoftGraph => match page_token.or(since) {
            None => Ok(source.url.clone()),
            Some(link) => {
                let link = Url::parse(link).map_err(|_| FetchError::CursorInvalid)?;
                if link.origin() != source.url.origin() {
                    return Err(FetchError::BadResponse(
                        "a link to another origin than the contacts URL".into(),
                    ));
                }
                Ok(link)
            }
        },
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PeopleList {
    #[serde(default)]
    connections: Vec<Person>,
    next_page_token: Option<String>,
    next_sync_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Person {
    resource_name: String,
    #[serde(default)]
    metadata: PersonMetadata,
    #[serde(default)]
    names: Vec<PersonName>,
    #[serde(default)]
    email_addresses: Vec<Valued>,
    #[serde(default)]
    phone_numbers: Vec<Valued>,
    #[serde(default)]
    organizations: Vec<Organization>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct PersonMetadata {
    #[serde(default)]
    sources: Vec<PersonSource>,
    #[serde(default)]
    deleted: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PersonSource {
    update_time: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PersonName {
    display_name: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
}

#[derive(Deserialize)]
struct Valued {
    value: Option<String>,
}

#[derive(Deserialize)]
struct Organization {
    name: Option<String>,
    title: Option<String>,
}

pub fn people_page(body: &[u8]) -> Result<ContactsPage, FetchError> {
    let list: PeopleList =
        serde_json::from_slice(body).map_err(|e| FetchError::BadResponse(e.to_string()))?;
    Ok(ContactsPage {
        contacts: list
            .connections
            .into_iter()
            .map(|p| {
                let name = p.names.into_iter().next();
                let organization = p.organizations.into_iter().next();
                let values = |v: Vec<Valued>| v.into_iter().filter_map(|v| v.value).collect();
                ProviderContact {
                    external_id: p.resource_name,
                    display_name: name.as_ref().and_then(|n| n.display_name.clone()),
                    given_name: name.as_ref().and_then(|n| n.given_name.clone()),
                    family_name: name.and_then(|n| n.family_name),
                    emails: values(p.email_addresses),
                    phones: values(p.phone_numbers),
                    organization: organization.as_ref().and_then(|o| o.name.clone()),
                    job_title: organization.and_then(|o| o.title),
                    // The latest change of any of its sources (the contact, a profile).
                    updated_at: p
                        .metadata
                        .sources
                        .into_iter()
                        .filter_map(|s| s.update_time)
                        .max(),
                    deleted: p.metadata.deleted,
                }
            })
            .collect(),
        next_page: list.next_page_token,
        next_cursor: list.next_sync_token,
    })
}

#[derive(Deserialize)]
struct GraphList {
    #[serde(default)]
    value: Vec<GraphContact>,
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
    #[serde(rename = "@odata.deltaLink")]
    delta_link: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphContact {
    id: String,
    #[serde(rename = "@removed")]
    removed: Option<serde_json::Value>,
    display_name: Option<String>,
    given_name: Option<String>,
    surname: Option<String>,
    #[serde(default)]
    email_addresses: Vec<GraphEmail>,
    #[serde(default)]
    business_phones: Vec<String>,
    #[serde(default)]
    home_phones: Vec<String>,
    mobile_phone: Option<String>,
    company_name: Option<String>,
    job_title: Option<String>,
    last_modified_date_time: Option<String>,
}

#[derive(Deserialize)]
struct GraphEmail {
    address: Option<String>,
}

pub fn graph_page(body: &[u8]) -> Result<ContactsPage, FetchError> {
    let list: GraphList =
        serde_json::from_slice(body).map_err(|e| FetchError::BadResponse(e.to_string()))?;
    let present = |v: Option<String>| v.filter(|s| !s.is_empty());
    Ok(ContactsPage {
        contacts: list
            .value
            .into_iter()
            .map(|c| ProviderContact {
                external_id: c.id,
                deleted: c.removed.is_some(),
                display_name: present(c.display_name),
                given_name: present(c.given_name),
                family_name: present(c.surname),
                emails: c
                    .email_addresses
                    .into_iter()
                    .filter_map(|e| e.address)
                    .collect(),
                phones: c
                    .mobile_phone
                    .into_iter()
                    .chain(c.business_phones)
                    .chain(c.home_phones)
                    .filter(|p| !p.is_empty())
                    .collect(),
                organization: present(c.company_name),
                job_title: present(c.job_title),
                updated_at: c.last_modified_date_time,
            })
            .collect(),
        next_page: list.next_link,
        next_cursor: list.delta_link,
    })
}

#[cfg(test)]
#[path = "../tests/sync_contacts.rs"]
mod tests;
