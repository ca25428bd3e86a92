//! The provider catalogue: providers as data (shared/providers.toml, embedded at build time, plus
//! an optional file of a deployment's own entries), resolved against the environment once at cold
//! start. Every field is documented in docs/providers.md; the mechanisms the fields select live in
//! `oauth` and are unit-tested there.

use std::collections::BTreeMap;

use crate::ids::ProviderId;

/// The catalogue compiled into every function.
pub const EMBEDDED: &str = include_str!("../../providers.toml");

/// [`EMBEDDED`] as JSON (shared/build.rs), what a cold start reads: measured (#18), the
/// embedded TOML's parse was the largest part of a cold start beyond the SDK's (about 0.3 ms
/// cold under perf). Every layer, TOML or JSON, becomes JSON trees that one deserializer types,
/// so each binary carries the entries' typed deserialization once (health 2.44 -> 2.23 MiB).
const EMBEDDED_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/providers.json"));

/// How a layer's text is written.
enum Format {
    Json,
    Toml,
}

/// A layer's entries by id, as untyped trees.
fn entries_of(
    source_name: &str,
    format: Format,
    text: &str,
) -> Result<BTreeMap<String, serde_json::Value>, CatalogueError> {
    let (parsed, format) = match format {
        Format::Json => (
            serde_json::from_str(text).map_err(|e| e.to_string()),
            "JSON",
        ),
        Format::Toml => (
            toml::from_str(text).map_err(|e: toml::de::Error| e.message().to_string()),
            "TOML",
        ),
    };
    parsed.map_err(|problem| CatalogueError::Syntax {
        source_name: source_name.to_string(),
        format,
        problem,
    })
}

/// Names a TOML file whose entries add to (or replace) the embedded ones.
pub const OVERRIDE_FILE_VAR: &str = "PROVIDER_CATALOGUE_FILE";

mod discovery;
mod model;
mod resolve;
mod schema;

pub use model::*;

use resolve::resolve;
use schema::RawEntry;

#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("provider catalogue {source_name} is not valid {format}: {problem}")]
    Syntax {
        source_name: String,
        format: &'static str,
        problem: String,
    },
    #[error("provider catalogue file {path}: {problem}")]
    File { path: String, problem: String },
    #[error("provider `{entry}`: field `{field}`: {problem}")]
    Field {
        entry: String,
        field: String,
        problem: String,
    },
    #[error("provider `{entry}`: {problem}")]
    Entry { entry: String, problem: String },
}

pub struct ProviderCatalogue {
    providers: BTreeMap<ProviderId, Provider>,
}

type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

impl ProviderCatalogue {
    /// The embedded catalogue, then the entries of `PROVIDER_CATALOGUE_FILE` if set (an entry
    /// there replaces the embedded one of the same id), with the credentials secrets' names and `${VAR}` values
    /// looked up by `env`.
    pub fn load(env: Env<'_>) -> Result<Self, CatalogueError> {
        let mut entries = entries_of("(embedded)", Format::Json, EMBEDDED_JSON)?;
        if let Some(path) = env(OVERRIDE_FILE_VAR).filter(|p| !p.is_empty()) {
            let text = std::fs::read_to_string(&path).map_err(|e| CatalogueError::File {
                path: path.clone(),
                problem: e.to_string(),
            })?;
            entries.extend(entries_of(&path, Format::Toml, &text)?);
        }
        Self::from_entries(entries, env)
    }

    /// One catalogue text.
    pub fn parse(text: &str, env: Env<'_>) -> Result<Self, CatalogueError> {
        Self::parse_layers(&[("(text)", text)], env)
    }

    /// Catalogue texts in order; a later entry replaces an earlier one of the same id.
    pub fn parse_layers(layers: &[(&str, &str)], env: Env<'_>) -> Result<Self, CatalogueError> {
        let mut entries = BTreeMap::new();
        for (source_name, text) in layers {
            entries.extend(entries_of(source_name, Format::Toml, text)?);
        }
        Self::from_entries(entries, env)
    }

    /// Every entry typed from its tree, through `serde_path_to_error` so that an error names
    /// its entry and field path (`userinfo.id`), then resolved.
    fn from_entries(
        entries: BTreeMap<String, serde_json::Value>,
        env: Env<'_>,
    ) -> Result<Self, CatalogueError> {
        let mut providers = BTreeMap::new();
        for (name, value) in entries {
            let id = ProviderId::parse(&name).map_err(|e| CatalogueError::Entry {
                entry: name.clone(),
                problem: e.to_string(),
            })?;
            let entry: RawEntry = serde_path_to_error::deserialize(value).map_err(
                |e: serde_path_to_error::Error<serde_json::Error>| {
                    let field = e.path().to_string();
                    let problem = e.into_inner().to_string();
                    if field == "." {
                        CatalogueError::Entry {
                            entry: name.clone(),
                            problem,
                        }
                    } else {
                        CatalogueError::Field {
                            entry: name.clone(),
                            field,
                            problem,
                        }
                    }
                },
            )?;
            let provider = resolve(id.clone(), entry, env)?;
            providers.insert(id, provider);
        }
        Ok(Self { providers })
    }

    pub fn get(&self, id: &str) -> Option<&Provider> {
        let id = ProviderId::parse(id).ok()?;
        self.providers.get(&id)
    }

    pub fn all(&self) -> impl Iterator<Item = &Provider> {
        self.providers.values()
    }
}

#[cfg(test)]
#[path = "../tests/catalogue.rs"]
mod tests;
