//! The provider catalogue: providers as data (shared/providers.toml, embedded at build time, plus
//! an optional file of a deployment's own entries), resolved against the environment once per
//! container: at cold start, or at first use for an entry that cannot fail (deferred.rs). Every
//! field is documented in docs/providers.md; the mechanisms the fields select live in `oauth` and
//! are unit-tested there.

use std::collections::BTreeMap;

use crate::ids::ProviderId;

/// The catalogue compiled into every function.
pub const EMBEDDED: &str = include_str!("../../providers.toml");

/// One entry of [`EMBEDDED`], as shared/build.rs writes it: its id, its tree as JSON, and the
/// `${VAR}` references its values make, with their defaults.
struct EmbeddedEntry {
    id: &'static str,
    json: &'static str,
    variables: &'static [(&'static str, Option<&'static str>)],
}

/// [`EMBEDDED`]'s entries, sorted by id.
const EMBEDDED_ENTRIES: &[EmbeddedEntry] =
    include!(concat!(env!("OUT_DIR"), "/providers_entries.rs"));

/// A TOML layer's entries by id, as untyped trees.
fn entries_of(
    source_name: &str,
    text: &str,
) -> Result<BTreeMap<String, serde_json::Value>, CatalogueError> {
    toml::from_str(text).map_err(|e: toml::de::Error| CatalogueError::Syntax {
        source_name: source_name.to_string(),
        format: "TOML",
        problem: e.message().to_string(),
    })
}

/// Names a TOML file whose entries add to (or replace) the embedded ones.
pub const OVERRIDE_FILE_VAR: &str = "PROVIDER_CATALOGUE_FILE";

mod deferred;
mod discovery;
mod model;
mod resolve;
mod schema;

pub use model::*;

use deferred::Slot;
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
    providers: BTreeMap<ProviderId, Slot>,
}

type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

impl ProviderCatalogue {
    /// The embedded catalogue, then the entries of `PROVIDER_CATALOGUE_FILE` if set (an entry
    /// there replaces the embedded one of the same id), with the credentials secrets' names and
    /// `${VAR}` values looked up by `env`.
    ///
    /// Without a file, an embedded entry whose variables `env` leaves as written (unset, or at
    /// the catalogue's default) is typed and checked at its first use: the tests prove every
    /// such entry resolves, so nothing a cold start could fail on is put off. Any other entry,
    /// and a file's, is checked here, and an error stops the start.
    pub fn load(env: Env<'_>) -> Result<Self, CatalogueError> {
        let Some(path) = env(OVERRIDE_FILE_VAR).filter(|p| !p.is_empty()) else {
            return Self::embedded(env);
        };
        let mut entries = BTreeMap::new();
        for entry in EMBEDDED_ENTRIES {
            entries.insert(entry.id.to_string(), deferred::tree_of(entry)?);
        }
        let text = std::fs::read_to_string(&path).map_err(|e| CatalogueError::File {
            path: path.clone(),
            problem: e.to_string(),
        })?;
        entries.extend(entries_of(&path, &text)?);
        Self::from_entries(entries, env)
    }

    /// The embedded entries, each checked now or deferred as [`ProviderCatalogue::load`] says.
    fn embedded(env: Env<'_>) -> Result<Self, CatalogueError> {
        let mut providers = BTreeMap::new();
        for entry in EMBEDDED_ENTRIES {
            let id = entry_id(entry.id)?;
            let slot = match Slot::deferred(entry, &id, env) {
                Some(slot) => slot,
                None => Slot::Ready(Box::new(resolve(
                    id.clone(),
                    typed(entry.id, deferred::tree_of(entry)?)?,
                    env,
                )?)),
            };
            providers.insert(id, slot);
        }
        Ok(Self { providers })
    }

    /// One catalogue text.
    pub fn parse(text: &str, env: Env<'_>) -> Result<Self, CatalogueError> {
        Self::parse_layers(&[("(text)", text)], env)
    }

    /// Catalogue texts in order; a later entry replaces an earlier one of the same id.
    pub fn parse_layers(layers: &[(&str, &str)], env: Env<'_>) -> Result<Self, CatalogueError> {
        let mut entries = BTreeMap::new();
        for (source_name, text) in layers {
            entries.extend(entries_of(source_name, text)?);
        }
        Self::from_entries(entries, env)
    }

    /// Every entry typed from its tree and resolved now.
    fn from_entries(
        entries: BTreeMap<String, serde_json::Value>,
        env: Env<'_>,
    ) -> Result<Self, CatalogueError> {
        let mut providers = BTreeMap::new();
        for (name, value) in entries {
            let id = entry_id(&name)?;
            let provider = resolve(id.clone(), typed(&name, value)?, env)?;
            providers.insert(id, Slot::Ready(Box::new(provider)));
        }
        Ok(Self { providers })
    }

    pub fn get(&self, id: &str) -> Option<&Provider> {
        let id = ProviderId::parse(id).ok()?;
        self.providers.get(&id)?.provider()
    }

    pub fn all(&self) -> impl Iterator<Item = &Provider> {
        self.providers.values().filter_map(Slot::provider)
    }
}

fn entry_id(name: &str) -> Result<ProviderId, CatalogueError> {
    ProviderId::parse(name).map_err(|e| CatalogueError::Entry {
        entry: name.to_string(),
        problem: e.to_string(),
    })
}

/// An entry typed from its tree through `serde_path_to_error`, so that an error names its entry
/// and field path (`userinfo.id`).
fn typed(name: &str, value: serde_json::Value) -> Result<RawEntry, CatalogueError> {
    serde_path_to_error::deserialize(value).map_err(
        |e: serde_path_to_error::Error<serde_json::Error>| {
            let field = e.path().to_string();
            let problem = e.into_inner().to_string();
            if field == "." {
                CatalogueError::Entry {
                    entry: name.to_string(),
                    problem,
                }
            } else {
                CatalogueError::Field {
                    entry: name.to_string(),
                    field,
                    problem,
                }
            }
        },
    )
}

#[cfg(test)]
#[path = "../tests/catalogue.rs"]
mod tests;
