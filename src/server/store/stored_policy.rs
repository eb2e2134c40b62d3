//! A key's policy in its columns, alike in both stores (SQLite schema 6, PostgreSQL schema 4):
//! `scopes` as `query,ingest`, `rate_requests` and `rate_per_seconds` (both or neither), and
//! `allowed_cidrs` as canonical CIDRs joined by commas (`NULL`: anywhere).

use crate::policy::{Policy, RateLimit, ScopeSet};

/// The columns' values of one policy, ready to bind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredPolicy {
    pub scopes: String,
    pub rate_requests: Option<i64>,
    pub rate_per_seconds: Option<i64>,
    pub allowed_cidrs: Option<String>,
}

impl StoredPolicy {
    pub fn of(p: &Policy) -> StoredPolicy {
        StoredPolicy {
            scopes: ScopeSet::of(&p.scopes).to_stored(),
            rate_requests: p.rate_limit.map(|r| i64::from(r.requests)),
            rate_per_seconds: p.rate_limit.map(|r| i64::from(r.per_seconds)),
            allowed_cidrs: p.allowed_cidrs.as_ref().map(|c| c.join(",")),
        }
    }

    /// The policy these columns hold. The schema's checks keep them whole; a rate limit with
    /// one column missing reads as none.
    pub fn policy(self) -> Policy {
        let rate_limit = match (self.rate_requests, self.rate_per_seconds) {
            (Some(n), Some(s)) => Some(RateLimit {
                requests: u32::try_from(n).unwrap_or(u32::MAX),
                per_seconds: u32::try_from(s).unwrap_or(u32::MAX),
            }),
            _ => None,
        };
        Policy {
            scopes: ScopeSet::from_stored(&self.scopes).to_vec(),
            rate_limit,
            allowed_cidrs: self
                .allowed_cidrs
                .map(|c| c.split(',').map(str::to_owned).collect()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Scope;

    #[test]
    fn a_policy_reads_back_as_written() {
        let full = Policy::full();
        assert_eq!(StoredPolicy::of(&full).policy(), full);
        let narrow = Policy {
            scopes: vec![Scope::Query, Scope::Manage],
            rate_limit: Some(RateLimit {
                requests: 6000,
                per_seconds: 60,
            }),
            allowed_cidrs: Some(vec!["10.0.0.0/8".into(), "2001:db8::/32".into()]),
        };
        let stored = StoredPolicy::of(&narrow);
        assert_eq!(stored.scopes, "query,manage");
        assert_eq!(
            stored.allowed_cidrs.as_deref(),
            Some("10.0.0.0/8,2001:db8::/32")
        );
        assert_eq!(stored.policy(), narrow);
    }
}
