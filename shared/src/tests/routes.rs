use super::*;

#[test]
fn routes_match_with_parameters() {
    let (r, p) = match_route("POST", "/providers/demo/connect").unwrap();
    assert_eq!(r.function, Function::Connect);
    assert_eq!(p["provider"], "demo");
    let (r, _) = match_route("GET", "/providers/demo/callback").unwrap();
    assert_eq!(r.auth, Auth::Public);
    let (r, _) = match_route("POST", "/providers/demo/callback").unwrap();
    assert_eq!(r.auth, Auth::User);
    let (r, p) = match_route("GET", "/users/alice/integrations/abc/token").unwrap();
    assert_eq!((r.function, r.auth), (Function::Token, Auth::Backend));
    assert_eq!((p["userId"].as_str(), p["id"].as_str()), ("alice", "abc"));
    let (_, p) = match_route("GET", "/integrations/..%2F..%2Fetc").unwrap();
    assert_eq!(p["id"], "../../etc");
    assert!(match_route("PUT", "/integrations/x").is_none());
    assert!(match_route("GET", "/integrations/x/y/z").is_none());
    assert!(match_route("GET", "/providers//connect").is_none());
}

/// `rate_limit::admit` finds a request's route from its function and method, so each pair
/// names one route; and only the static routes (the catalogue, health: no table call) are
/// unlimited.
#[test]
fn each_function_serves_one_route_per_method_and_every_route_but_the_static_ones_is_limited() {
    for route in ROUTES {
        let found = route_of(route.function, route.method).unwrap();
        assert_eq!(found.path, route.path, "{} {}", route.method, route.path);
        assert_eq!(
            route.limit.is_none(),
            matches!(route.function, Function::Providers | Function::Health),
            "{} {}",
            route.method,
            route.path
        );
    }
    let (callback, _) = match_route("GET", "/providers/demo/callback").unwrap();
    assert_eq!(callback.limit, Some(LimitClass::BrowserCallback));
}
