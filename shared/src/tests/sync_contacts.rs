use super::*;

#[test]
fn people_connections_are_normalized_with_deletions_and_tokens() {
    let body = serde_json::json!({
        "connections": [
            {
                "resourceName": "people/c1",
                "etag": "%EgU",
                "metadata": {"sources": [
                    {"type": "CONTACT", "id": "1", "updateTime": "2026-11-30T10:00:00.123Z"},
                    {"type": "PROFILE", "id": "2", "updateTime": "2026-11-29T10:00:00Z"}
                ]},
                "names": [{"displayName": "Ada Lovelace", "givenName": "Ada", "familyName": "Lovelace"}],
                "emailAddresses": [{"value": "ada@example.com"}, {"value": "ada@work.example"}],
                "phoneNumbers": [{"value": "+44 20 7946 0000"}],
                "organizations": [{"name": "Analytical Engines", "title": "Programmer"}]
            },
            {"resourceName": "people/c2", "metadata": {"deleted": true}}
        ],
        "nextSyncToken": "sync-1",
        "totalPeople": 2
    });
    let page = people_page(body.to_string().as_bytes()).unwrap();
    assert_eq!(page.next_page, None);
    assert_eq!(page.next_cursor.as_deref(), Some("sync-1"));
    assert_eq!(
        page.contacts[0],
        ProviderContact {
            external_id: "people/c1".into(),
            display_name: Some("Ada Lovelace".into()),
            given_name: Some("Ada".into()),
            family_name: Some("Lovelace".into()),
            emails: vec!["ada@example.com".into(), "ada@work.example".into()],
            phones: vec!["+44 20 7946 0000".into()],
            organization: Some("Analytical Engines".into()),
            job_title: Some("Programmer".into()),
            updated_at: Some("2026-11-30T10:00:00.123Z".into()),
            deleted: false,
        }
    );
    assert!(page.contacts[1].deleted);
    assert_eq!(page.contacts[1].external_id, "people/c2");
}

#[test]
fn graph_contacts_are_normalized_with_removals() {
    let body = serde_json::json!({
        "value": [
            {
                "id": "AAMkAD1", "displayName": "Ada Lovelace", "givenName": "Ada", "surname": "Lovelace",
                "emailAddresses": [{"name": "Ada", "address": "ada@example.com"}],
                "businessPhones": ["+1 425 555 0100"], "homePhones": [], "mobilePhone": "+1 425 555 0101",
                "companyName": "Contoso", "jobTitle": "", "lastModifiedDateTime": "2026-11-30T10:00:00Z"
            },
            {"id": "AAMkAD2", "@removed": {"reason": "deleted"}}
        ],
        "@odata.deltaLink": "https://graph.microsoft.com/v1.0/me/contacts/delta?$deltatoken=x"
    });
    let page = graph_page(body.to_string().as_bytes()).unwrap();
    let ada = &page.contacts[0];
    assert_eq!(ada.phones, ["+1 425 555 0101", "+1 425 555 0100"]);
    assert_eq!(ada.job_title, None, "an empty string is no title");
    assert_eq!(ada.organization.as_deref(), Some("Contoso"));
    assert!(page.contacts[1].deleted);
    assert!(page.next_cursor.is_some_and(|c| c.contains("deltatoken")));
}

#[test]
fn a_people_page_repeats_every_parameter_and_graph_links_stay_on_their_origin() {
    let people = ContactsSource {
        api: ContactsApi::GooglePeople,
        url: Url::parse("https://people.googleapis.com/v1/people/me/connections").unwrap(),
        scopes: Vec::new(),
    };
    let url = page_url(&people, Some("page-2"), Some("sync-1")).unwrap();
    let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    for (name, value) in [
        ("personFields", PERSON_FIELDS),
        ("pageSize", "1000"),
        ("requestSyncToken", "true"),
        ("syncToken", "sync-1"),
        ("pageToken", "page-2"),
    ] {
        assert!(
            query.contains(&(name.into(), value.into())),
            "{name}: {url}"
        );
    }
    let graph = ContactsSource {
        api: ContactsApi::MicrosoftGraph,
        url: Url::parse("https://graph.microsoft.com/v1.0/me/contacts/delta").unwrap(),
        scopes: Vec::new(),
    };
    assert_eq!(page_url(&graph, None, None).unwrap(), graph.url);
    assert!(matches!(
        page_url(&graph, Some("https://evil.example/x"), None),
        Err(FetchError::BadResponse(_))
    ));
}
