//! How a failure is written into a log line: the error and its sources on one line. Source
//! errors here never carry secret values (tokens and codes live in redacting types).

/// `a: b: c` from an error and its sources.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
