//! `RATE_LIMITS`: each limit class's budget per caller (crate::rate_limit applies them).

use super::ConfigError;
use crate::routes::LimitClass;

/// So many requests per caller in each fixed window of `window_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub limit: u32,
    pub window_secs: u32,
}

/// Every class's budget: the defaults of [`LimitClass::default_per_minute`], overridden by
/// `RATE_LIMITS`, a comma-separated list of `class=limit` (per minute) or `class=limit/seconds`,
/// e.g. `connect=5,token=6000,read=100/30`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimits {
    budgets: Vec<(LimitClass, Budget)>,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            budgets: LimitClass::ALL
                .iter()
                .map(|&class| {
                    let budget = Budget {
                        limit: class.default_per_minute(),
                        window_secs: 60,
                    };
                    (class, budget)
                })
                .collect(),
        }
    }
}

impl RateLimits {
    pub fn budget(&self, class: LimitClass) -> Budget {
        self.budgets
            .iter()
            .find(|(c, _)| *c == class)
            .map(|(_, b)| *b)
            .unwrap_or(Budget {
                limit: class.default_per_minute(),
                window_secs: 60,
            })
    }

    pub fn parse(spec: &str) -> Result<Self, ConfigError> {
        let mut limits = Self::default();
        for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let refuse = |why: &str| ConfigError(format!("RATE_LIMITS: `{entry}`: {why}"));
            let (name, value) = entry
                .split_once('=')
                .ok_or_else(|| refuse("expected class=limit or class=limit/seconds"))?;
            let class = LimitClass::ALL
                .iter()
                .copied()
                .find(|c| c.name() == name.trim())
                .ok_or_else(|| {
                    let names: Vec<_> = LimitClass::ALL.iter().map(|c| c.name()).collect();
                    refuse(&format!("unknown class; one of {}", names.join(", ")))
                })?;
            let (limit, window) = value.trim().split_once('/').unwrap_or((value.trim(), "60"));
            let limit = limit
                .parse::<u32>()
                .ok()
                .filter(|l| (1..=1_000_000).contains(l))
                .ok_or_else(|| refuse("the limit is an integer from 1 to 1000000"))?;
            let window_secs = window
                .parse::<u32>()
                .ok()
                .filter(|w| (1..=3600).contains(w))
                .ok_or_else(|| refuse("the window is from 1 to 3600 seconds"))?;
            let budget = Budget { limit, window_secs };
            if let Some(slot) = limits.budgets.iter_mut().find(|(c, _)| *c == class) {
                slot.1 = budget;
            }
        }
        Ok(limits)
    }
}
