//! The embedded provider catalogue, converted from `providers.toml` at build time into one JSON
//! text per entry, with the `${VAR}` references each entry's values make.
//!
//! A cold start reads none of it (#18): an entry is typed and checked at its first use, unless
//! the environment sets one of its variables to something other than the catalogue's default
//! (`catalogue::ProviderCatalogue::load`). JSON because the same tree parses about five times
//! faster from it than from TOML (measured: 27 µs against 132 µs on this machine); a
//! deployment's own file stays TOML. A catalogue that is not valid TOML fails the build here.

use std::fmt::Write as _;
use std::path::PathBuf;

/// An error fails the build with its message (cargo prints what `main` returns).
fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo::rerun-if-changed=providers.toml");
    let text = std::fs::read_to_string("providers.toml")
        .map_err(|e| format!("reading shared/providers.toml: {e}"))?;
    let tree: toml::Table = toml::from_str(&text)
        .map_err(|e| format!("shared/providers.toml is not valid TOML: {e}"))?;
    let mut out = String::from("&[\n");
    // toml::Table is ordered by key: the entries come sorted by id.
    for (id, entry) in &tree {
        let json = serde_json::to_string(entry)?;
        let variables: Vec<String> = references(&json)
            .iter()
            .map(|(name, default)| format!("({name:?}, {default:?})"))
            .collect();
        writeln!(
            out,
            "    EmbeddedEntry {{ id: {id:?}, json: {json:?}, variables: &[{}] }},",
            variables.join(", ")
        )?;
    }
    out.push(']');
    let dir = PathBuf::from(std::env::var_os("OUT_DIR").ok_or("cargo sets OUT_DIR")?);
    std::fs::write(dir.join("providers_entries.rs"), out)?;
    Ok(())
}

/// The distinct `${NAME}` and `${NAME:-default}` references in `text`, in order, as
/// `catalogue::resolve::expand` reads them (a test there holds the two together).
fn references(text: &str) -> Vec<(String, Option<String>)> {
    let mut found: Vec<(String, Option<String>)> = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let Some(end) = rest[start..].find('}').map(|e| e + start) else {
            break;
        };
        let inner = &rest[start + 2..end];
        let reference = match inner.split_once(":-") {
            Some((name, default)) => (name.to_string(), Some(default.to_string())),
            None => (inner.to_string(), None),
        };
        if !found.contains(&reference) {
            found.push(reference);
        }
        rest = &rest[end + 1..];
    }
    found
}
