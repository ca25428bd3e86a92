use super::*;

#[test]
fn debug_of_a_request_or_response_shows_no_credential() {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::AUTHORIZATION,
        HeaderValue::from_static("Bearer jwt-secret-value"),
    );
    let request = ApiRequest {
        method: Method::GET,
        path: "/providers/demo/callback".into(),
        path_params: HashMap::from([("provider".into(), "demo".into())]),
        query: HashMap::from([
            ("code".into(), "code-secret-value".into()),
            ("state".into(), "state-secret-value".into()),
        ]),
        headers,
        body: br#"{"code":"body-secret-value"}"#.to_vec(),
        claims: Some(HashMap::from([("sub".into(), "claims-secret-sub".into())])),
        backend_principal: None,
        request_id: "req-1".into(),
        source_ip: None,
        user_agent: None,
        domain_name: None,
    };
    let response = ApiResponse::ok(
        "req-1",
        serde_json::json!({"accessToken": "token-secret-value"}),
    );
    let shown = format!("{request:?} {response:?}");
    for secret in [
        "jwt-secret-value",
        "code-secret-value",
        "state-secret-value",
        "body-secret-value",
        "claims-secret-sub",
        "token-secret-value",
    ] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    assert!(
        shown.contains("/providers/demo/callback") && shown.contains("200"),
        "{shown}"
    );
}
