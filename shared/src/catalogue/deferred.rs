//! Entries checked at first use (#18): a cold start types and checks no entry it can prove
//! valid without doing so. An embedded entry's tree is fixed at build time, so whether it
//! resolves depends only on the variables it names and on whether its credentials are set; with
//! every variable as written (unset, or at its default) that is what the tests resolve, so the
//! entry cannot fail later where it would not have failed at start.

use std::sync::OnceLock;

use super::resolve::resolve;
use super::{CatalogueError, EmbeddedEntry, Env, Provider, typed};
use crate::ids::ProviderId;

pub(super) enum Slot {
    Ready(Box<Provider>),
    Deferred(Box<Deferred>),
}

pub(super) struct Deferred {
    entry: &'static EmbeddedEntry,
    id: ProviderId,
    /// The credentials secret's name, read from the environment at start.
    credentials: Option<String>,
    resolved: OnceLock<Option<Provider>>,
}

impl Slot {
    /// `entry` to be checked at first use, or None when the environment sets one of its
    /// variables to something other than its default, or sets its credentials while one of its
    /// variables without a default is unset (an error to report now).
    pub(super) fn deferred(
        entry: &'static EmbeddedEntry,
        id: &ProviderId,
        env: Env<'_>,
    ) -> Option<Self> {
        let credentials =
            env(&format!("{}_CREDENTIALS_SECRET", id.env_prefix())).filter(|v| !v.is_empty());
        let as_written = entry.variables.iter().all(|(name, default)| {
            match env(name).filter(|v| !v.is_empty()) {
                None => default.is_some() || credentials.is_none(),
                // `expand` drops a trailing slash: the value then reads as the default does.
                Some(value) => {
                    default.is_some_and(|d| value.trim_end_matches('/') == d.trim_end_matches('/'))
                }
            }
        });
        as_written.then(|| {
            Self::Deferred(Box::new(Deferred {
                entry,
                id: id.clone(),
                credentials,
                resolved: OnceLock::new(),
            }))
        })
    }

    pub(super) fn provider(&self) -> Option<&Provider> {
        match self {
            Self::Ready(provider) => Some(provider),
            Self::Deferred(deferred) => deferred
                .resolved
                .get_or_init(|| match deferred.resolve() {
                    Ok(provider) => Some(provider),
                    // Unreachable while the catalogue tests pass; an entry left out, not a panic.
                    Err(error) => {
                        tracing::error!(%error, "catalogue entry left out");
                        None
                    }
                })
                .as_ref(),
        }
    }
}

impl Deferred {
    /// The entry with its variables unset, as [`Slot::deferred`] found them in effect.
    pub(super) fn resolve(&self) -> Result<Provider, CatalogueError> {
        let credentials_var = format!("{}_CREDENTIALS_SECRET", self.id.env_prefix());
        let env = |name: &str| {
            (name == credentials_var)
                .then(|| self.credentials.clone())
                .flatten()
        };
        let raw = typed(self.entry.id, tree_of(self.entry)?)?;
        resolve(self.id.clone(), raw, &env)
    }
}

/// An embedded entry's tree.
pub(super) fn tree_of(entry: &EmbeddedEntry) -> Result<serde_json::Value, CatalogueError> {
    serde_json::from_str(entry.json).map_err(|e| CatalogueError::Syntax {
        source_name: "(embedded)".to_string(),
        format: "JSON",
        problem: e.to_string(),
    })
}
