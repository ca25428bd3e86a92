//! The token-lifecycle rules a catalogue entry implies: which tokens the refresh index tracks,
//! when renewal is due and possible, and which refusals end a grant. They are methods on
//! [`Provider`] (kept here so that the catalogue, plain data, needs nothing above it).

use super::{ProviderError, TokenSet};
use crate::catalogue::{Provider, RefreshModel};

/// Whether stored tokens can be renewed now.
#[derive(Debug, PartialEq, Eq)]
pub enum Renewal {
    Possible,
    /// Nothing to renew with, or not yet (Instagram's 24 h).
    NotPossible,
}

impl Provider {
    /// Tokens the refresh index should track: they expire and this provider can renew them.
    pub fn renews(&self, tokens: &TokenSet) -> bool {
        tokens.expires_at.is_some()
            && match self.refresh {
                RefreshModel::Standard | RefreshModel::Rotating => tokens.refresh_token.is_some(),
                RefreshModel::LongLived => true,
                RefreshModel::None => false,
            }
    }

    /// How long before expiry renewal is due (0 but for `long_lived`'s `renew_before_secs`).
    pub fn renew_lead_secs(&self) -> i64 {
        match (&self.refresh, &self.long_lived) {
            (RefreshModel::LongLived, Some(l)) => l.renew_before_secs,
            _ => 0,
        }
    }

    /// When the refresh index offers these tokens for renewal; None for tokens it never should.
    pub fn refresh_at(&self, tokens: &TokenSet) -> Option<i64> {
        let expires_at = tokens.expires_at.filter(|_| self.renews(tokens))?;
        let due = expires_at - self.renew_lead_secs();
        // Not before it may be renewed at all (Instagram's 24 h).
        let earliest = match (&self.long_lived, tokens.issued_at) {
            (Some(l), Some(issued)) => issued + l.refresh_after_secs,
            _ => due,
        };
        Some(due.max(earliest).min(expires_at))
    }

    pub fn renewal(&self, tokens: &TokenSet, now: i64) -> Renewal {
        let possible = match self.refresh {
            RefreshModel::Standard | RefreshModel::Rotating => tokens.refresh_token.is_some(),
            RefreshModel::None => false,
            // Instagram: "at least 24 hours old but have not expired".
            RefreshModel::LongLived => {
                let after = self.long_lived.as_ref().map_or(0, |l| l.refresh_after_secs);
                let old_enough = tokens.issued_at.is_none_or(|at| at + after <= now);
                let unexpired = tokens.expires_at.is_none_or(|at| at > now);
                old_enough && unexpired
            }
        };
        if possible {
            Renewal::Possible
        } else {
            Renewal::NotPossible
        }
    }

    /// A refresh refused because the grant is gone (not a passing failure).
    pub fn grant_is_dead(&self, error: &ProviderError) -> bool {
        matches!(error, ProviderError::Rejected { error } if self.dead_grant_errors.contains(error))
    }
}
