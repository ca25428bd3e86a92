//! The popup page's script must reach the browser whole: the HTML parser ends a script element
//! at the first `</script`, wherever it is (a JavaScript comment, a string). A comment saying
//! exactly that once cut the script short, and the popup never posted its result (found by the
//! browser tests, web/tests/browser.mjs).

use super::*;

fn script_ends(html: &str) -> usize {
    html.to_ascii_lowercase().matches("</script").count()
}

#[test]
fn the_popup_page_has_one_script_end_tag_whatever_the_message_holds() {
    assert_eq!(
        script_ends(POPUP_PAGE),
        1,
        "only the element's own closing tag"
    );
    let hostile =
        serde_json::json!({"type": "oauth-error", "message": "</SCRIPT><script>alert(1)</script>"});
    let page = popup_page(StatusCode::OK, &hostile, &["https://app.example".into()]);
    let body = page.body.clone();
    assert_eq!(script_ends(&body), 1, "{body}");
}
