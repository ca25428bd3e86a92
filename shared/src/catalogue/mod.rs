//! The provider catalogue: providers as data (shared/providers.toml, embedded at build time, plus
//! an optional file of a deployment's own entries), resolved against the environment once at cold
//! start. Every field is documented in docs/providers.md; the mechanisms the fields select live in
//! `oauth` and are unit-tested there.

use std::collections::BTreeMap;

use crate::ids::ProviderId;

/// The catalogue compiled into every function.
pub const EMBEDDED: &str = include_str!("../../providers.toml");

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
    #[error("provider catalogue {source_name} is not valid TOML: {problem}")]
    Syntax {
        source_name: String,
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
        let extra = match env(OVERRIDE_FILE_VAR).filter(|p| !p.is_empty()) {
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|e| CatalogueError::File {
                    path: path.clone(),
                    problem: e.to_string(),
                })?;
                Some((path, text))
            }
            None => None,
        };
        Self::parse_layers(
            &[("(embedded)", EMBEDDED)]
                .into_iter()
                .chain(extra.as_ref().map(|(p, t)| (p.as_str(), t.as_str())))
                .collect::<Vec<_>>(),
            env,
        )
    }

    /// One catalogue text.
    pub fn parse(text: &str, env: Env<'_>) -> Result<Self, CatalogueError> {
        Self::parse_layers(&[("(text)", text)], env)
    }

    /// Catalogue texts in order; a later entry replaces an earlier one of the same id.
    pub fn parse_layers(layers: &[(&str, &str)], env: Env<'_>) -> Result<Self, CatalogueError> {
        // Every container loads the catalogue before its first request: typed in one pass when
        // every layer is valid (measured, #18: the two-pass parse below took 241 µs of a 2.5 ms
        // cold start); the two-pass parse only to name the field of an error.
        let typed: Result<Vec<BTreeMap<String, RawEntry>>, _> = layers
            .iter()
            .map(|(_, text)| toml::from_str(text))
            .collect();
        let Ok(typed) = typed else {
            return Self::parse_layers_naming_errors(layers, env);
        };
        let mut providers = BTreeMap::new();
        for (name, entry) in typed.into_iter().flatten().collect::<BTreeMap<_, _>>() {
            let id = ProviderId::parse(&name).map_err(|e| CatalogueError::Entry {
                entry: name.clone(),
                problem: e.to_string(),
            })?;
            let provider = resolve(id.clone(), entry, env)?;
            providers.insert(id, provider);
        }
        Ok(Self { providers })
    }

    /// [`Self::parse_layers`] through an untyped tree and `serde_path_to_error`: slower, but an
    /// error names its entry and field path (`userinfo.id`).
    fn parse_layers_naming_errors(
        layers: &[(&str, &str)],
        env: Env<'_>,
    ) -> Result<Self, CatalogueError> {
        let mut raw: BTreeMap<String, toml::Value> = BTreeMap::new();
        for (source_name, text) in layers {
            let layer: BTreeMap<String, toml::Value> =
                toml::from_str(text).map_err(|e| CatalogueError::Syntax {
                    source_name: source_name.to_string(),
                    problem: e.message().to_string(),
                })?;
            raw.extend(layer);
        }
        let mut providers = BTreeMap::new();
        for (name, value) in raw {
            let id = ProviderId::parse(&name).map_err(|e| CatalogueError::Entry {
                entry: name.clone(),
                problem: e.to_string(),
            })?;
            let entry: RawEntry = serde_path_to_error::deserialize(value).map_err(
                |e: serde_path_to_error::Error<toml::de::Error>| {
                    let field = e.path().to_string();
                    let problem = e.into_inner().message().to_string();
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
