//! The access fields that Issue API Key and Edit access share (docs/console.md, Access): the
//! choice `Full · Query only · Ingest only · Custom…` with Custom's three check boxes,
//! `Rate limit (optional)` and `Allowed from (optional)`, each checked as it is typed with the
//! very functions the service checks them with (`crate::policy`), in the console's words.

use tui_input::Input;

use super::{Choice, Field, Focus};
use crate::console::i18n::Catalog;
use crate::console::layout::popups::Part;
use crate::console::text::Tone;
use crate::policy::{self, MAX_ALLOWED_CIDRS, Policy, RateLimit, Scope, ScopeSet};

/// One option of the Access choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Every scope: what a key gets when the issue names none.
    Full,
    Query,
    Ingest,
    /// The scopes of the check boxes.
    Custom,
}

/// The options in the order shown; ←/→ move along it.
pub const ACCESS_CHOICES: [Access; 4] =
    [Access::Full, Access::Query, Access::Ingest, Access::Custom];

/// The most characters the rate field takes (`1000000/min` with room for spaces).
pub const RATE_MAX: usize = 24;
/// The most characters the allowlist field takes: 16 IPv6 CIDRs and their separators.
pub const CIDRS_MAX: usize = MAX_ALLOWED_CIDRS * 45;

/// The focus order of the access fields, without and with Custom's check boxes.
pub const FOCUS: [Focus; 3] = [
    Focus::Choice(Choice::Access),
    Focus::Field(Field::RateLimit),
    Focus::Field(Field::AllowedFrom),
];
pub const FOCUS_CUSTOM: [Focus; 6] = [
    Focus::Choice(Choice::Access),
    Focus::Check(Scope::Query),
    Focus::Check(Scope::Ingest),
    Focus::Check(Scope::Manage),
    Focus::Field(Field::RateLimit),
    Focus::Field(Field::AllowedFrom),
];

impl Access {
    /// The catalog key of its label.
    pub fn label_key(self) -> &'static str {
        match self {
            Access::Full => "access.full",
            Access::Query => "access.query",
            Access::Ingest => "access.ingest",
            Access::Custom => "access.custom",
        }
    }

    /// Its place in [`ACCESS_CHOICES`].
    pub fn index(self) -> usize {
        ACCESS_CHOICES.iter().position(|a| *a == self).unwrap_or(0)
    }

    /// The option that shows `set`: one of the named ones where it is one, else Custom.
    pub fn of(set: ScopeSet) -> Access {
        if set == ScopeSet::FULL {
            Access::Full
        } else if set == ScopeSet::of(&[Scope::Query]) {
            Access::Query
        } else if set == ScopeSet::of(&[Scope::Ingest]) {
            Access::Ingest
        } else {
            Access::Custom
        }
    }
}

/// The access part of a form.
#[derive(Debug, Clone)]
pub struct PolicyForm {
    pub access: Access,
    /// Custom's check boxes; kept while another option is chosen, so that coming back to
    /// Custom finds them as they were.
    pub custom: ScopeSet,
    pub rate: Input,
    pub cidrs: Input,
    /// Why a check box could not be unchecked.
    pub scopes_error: Option<String>,
    pub rate_error: Option<String>,
    pub cidrs_error: Option<String>,
}

/// What the form holds, as typed: equal values make the same request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormValues {
    pub scopes: ScopeSet,
    pub rate: String,
    pub cidrs: String,
}

impl Default for PolicyForm {
    fn default() -> Self {
        PolicyForm {
            access: Access::Full,
            custom: ScopeSet::FULL,
            rate: Input::default(),
            cidrs: Input::default(),
            scopes_error: None,
            rate_error: None,
            cidrs_error: None,
        }
    }
}

impl PolicyForm {
    /// The form of a key's policy, as Edit access opens it (and as Narrow fills it).
    pub fn from_policy(p: &Policy) -> PolicyForm {
        let set = ScopeSet::of(&p.scopes);
        let set = if set.is_empty() { ScopeSet::FULL } else { set };
        PolicyForm {
            access: Access::of(set),
            custom: set,
            rate: Input::new(p.rate_limit.map(|r| r.to_string()).unwrap_or_default()),
            cidrs: Input::new(p.allowed_cidrs.as_deref().unwrap_or_default().join(", ")),
            ..PolicyForm::default()
        }
    }

    /// The scopes chosen.
    pub fn scopes(&self) -> ScopeSet {
        match self.access {
            Access::Full => ScopeSet::FULL,
            Access::Query => ScopeSet::of(&[Scope::Query]),
            Access::Ingest => ScopeSet::of(&[Scope::Ingest]),
            Access::Custom => self.custom,
        }
    }

    pub fn values(&self) -> FormValues {
        FormValues {
            scopes: self.scopes(),
            rate: self.rate.value().trim().to_string(),
            cidrs: self.cidrs.value().trim().to_string(),
        }
    }

    /// The focus order of these fields, as the form now shows them.
    pub fn focus_order(&self) -> &'static [Focus] {
        if self.access == Access::Custom {
            &FOCUS_CUSTOM
        } else {
            &FOCUS
        }
    }

    pub fn input(&self, f: Field) -> Option<&Input> {
        match f {
            Field::RateLimit => Some(&self.rate),
            Field::AllowedFrom => Some(&self.cidrs),
            _ => None,
        }
    }

    pub fn input_mut(&mut self, f: Field) -> Option<&mut Input> {
        match f {
            Field::RateLimit => Some(&mut self.rate),
            Field::AllowedFrom => Some(&mut self.cidrs),
            _ => None,
        }
    }

    /// The most characters field `f` takes, for a field of this form.
    pub fn field_max(f: Field) -> Option<usize> {
        match f {
            Field::RateLimit => Some(RATE_MAX),
            Field::AllowedFrom => Some(CIDRS_MAX),
            _ => None,
        }
    }

    /// Option `i` of the Access choice (clamped to the last).
    pub fn choose(&mut self, i: usize) {
        self.access = ACCESS_CHOICES[i.min(ACCESS_CHOICES.len() - 1)];
        self.scopes_error = None;
    }

    /// Space on a check box: it flips, unless it is the last one checked, which stays with an
    /// inline error (a key must be allowed something: docs/api.md, Scopes).
    pub fn toggle(&mut self, tr: &Catalog, s: Scope) {
        if self.access != Access::Custom {
            return;
        }
        let on = self.custom.to_vec();
        let next: Vec<Scope> = if on.contains(&s) {
            on.into_iter().filter(|x| *x != s).collect()
        } else {
            on.into_iter().chain([s]).collect()
        };
        let next = ScopeSet::of(&next);
        if next.is_empty() {
            self.scopes_error = Some(tr.t("access.scopes_empty").to_string());
            return;
        }
        self.custom = next;
        self.scopes_error = None;
    }

    /// Inline validation of field `f` as typed.
    pub fn revalidate(&mut self, tr: &Catalog, f: Field) {
        match f {
            Field::RateLimit => self.rate_error = rate(tr, self.rate.value()).err(),
            Field::AllowedFrom => self.cidrs_error = cidrs(tr, self.cidrs.value()).err(),
            _ => {}
        }
    }

    /// The policy the form stands for; else every error shown and the first field in error.
    pub fn policy(&mut self, tr: &Catalog) -> Result<Policy, Focus> {
        let rate = rate(tr, self.rate.value());
        let cidrs = cidrs(tr, self.cidrs.value());
        self.rate_error = rate.as_ref().err().cloned();
        self.cidrs_error = cidrs.as_ref().err().cloned();
        match (rate, cidrs) {
            (Ok(rate_limit), Ok(allowed_cidrs)) => Ok(Policy {
                scopes: self.scopes().to_vec(),
                rate_limit,
                allowed_cidrs,
            }),
            (Err(_), _) => Err(Focus::Field(Field::RateLimit)),
            (_, Err(_)) => Err(Focus::Field(Field::AllowedFrom)),
        }
    }

    /// The policy the form stands for, if every field is valid; changes nothing.
    pub fn peek(&self, tr: &Catalog) -> Option<Policy> {
        self.clone().policy(tr).ok()
    }

    /// The parts of the form, for `layout`: the choice, Custom's check boxes, the two fields,
    /// each followed by what is wrong with it.
    pub fn parts(&self, tr: &Catalog) -> Vec<Part> {
        let options = ACCESS_CHOICES
            .iter()
            .map(|a| tr.t(a.label_key()).to_string())
            .collect();
        let mut parts = vec![Part::Choice(
            Choice::Access,
            tr.t("access.label").to_string(),
            options,
            self.access.index(),
        )];
        if self.access == Access::Custom {
            let boxes = Scope::ALL
                .iter()
                .map(|s| (*s, s.as_str().to_string(), self.custom.contains(*s)))
                .collect();
            parts.push(Part::Checks(boxes));
        }
        let error = |e: &Option<String>| e.clone().map(|e| Part::Text(e, Tone::Error));
        parts.extend(error(&self.scopes_error));
        parts.push(Part::Field(
            Field::RateLimit,
            tr.t("access.rate").to_string(),
        ));
        parts.extend(error(&self.rate_error));
        parts.push(Part::Field(
            Field::AllowedFrom,
            tr.t("access.allowed").to_string(),
        ));
        parts.extend(error(&self.cidrs_error));
        parts
    }
}

/// The rate as typed: empty is no limit; else `N/s`, `N/min` or `N/h` as [`RateLimit::parse`]
/// reads it, or why not.
pub fn rate(tr: &Catalog, typed: &str) -> Result<Option<RateLimit>, String> {
    let t = typed.trim();
    if t.is_empty() {
        return Ok(None);
    }
    RateLimit::parse(t)
        .map(Some)
        .map_err(|_| tr.f("access.rate_error", &[("typed", &t)]))
}

/// The allowlist as typed (commas or spaces between entries): empty is anywhere; else the
/// canonical CIDRs the service would store, or what is wrong, naming the entry.
pub fn cidrs(tr: &Catalog, typed: &str) -> Result<Option<Vec<String>>, String> {
    let entries = policy::split_list(typed);
    if entries.is_empty() {
        return Ok(None);
    }
    for e in &entries {
        if policy::parse_cidr(e).is_err() {
            // Shaped like a network but with host bits: name the network it would be.
            return Err(match e.parse::<ipnet::IpNet>() {
                Ok(net) => tr.f(
                    "access.cidr_host_bits",
                    &[("entry", e), ("network", &net.trunc())],
                ),
                Err(_) => tr.f("access.cidr_bad", &[("entry", e)]),
            });
        }
    }
    policy::validate_cidrs(&entries).map(Some).map_err(|_| {
        tr.f(
            "access.cidr_too_many",
            &[("max", &MAX_ALLOWED_CIDRS), ("n", &entries.len())],
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::Lang;

    fn en() -> &'static Catalog {
        Catalog::get(Lang::En)
    }

    #[test]
    fn rates_and_allowlists_read_as_the_service_reads_them() {
        let tr = en();
        assert_eq!(rate(tr, " "), Ok(None));
        assert_eq!(
            rate(tr, "6000/min"),
            Ok(Some(RateLimit {
                requests: 6000,
                per_seconds: 60
            }))
        );
        assert!(rate(tr, "5/day").unwrap_err().contains("'5/day'"));
        assert!(rate(tr, "0/s").is_err());
        assert_eq!(cidrs(tr, ""), Ok(None));
        assert_eq!(
            cidrs(tr, "10.0.4.0/24, 192.0.2.7 2001:DB8::/32"),
            Ok(Some(vec![
                "10.0.4.0/24".to_string(),
                "192.0.2.7/32".to_string(),
                "2001:db8::/32".to_string()
            ]))
        );
        let host = cidrs(tr, "10.0.0.0/8 10.0.4.17/24").unwrap_err();
        assert!(
            host.contains("10.0.4.17/24") && host.contains("10.0.4.0/24"),
            "{host}"
        );
        assert!(
            cidrs(tr, "10.0.0.1, example.com")
                .unwrap_err()
                .contains("example.com")
        );
        let many: Vec<String> = (0..17).map(|i| format!("10.0.{i}.0/24")).collect();
        assert!(cidrs(tr, &many.join(" ")).unwrap_err().contains("16"));
    }

    #[test]
    fn a_policy_reads_back_as_the_form_that_shows_it() {
        let p = Policy {
            scopes: vec![Scope::Query, Scope::Manage],
            rate_limit: Some(RateLimit {
                requests: 100,
                per_seconds: 1,
            }),
            allowed_cidrs: Some(vec!["10.0.4.0/24".into(), "192.0.2.7/32".into()]),
        };
        let mut f = PolicyForm::from_policy(&p);
        assert_eq!(f.access, Access::Custom);
        assert_eq!(f.rate.value(), "100/s");
        assert_eq!(f.cidrs.value(), "10.0.4.0/24, 192.0.2.7/32");
        assert_eq!(f.policy(en()), Ok(p));
        assert_eq!(
            PolicyForm::from_policy(&Policy::full()).access,
            Access::Full
        );
        assert_eq!(Access::of(ScopeSet::of(&[Scope::Ingest])), Access::Ingest);
    }

    #[test]
    fn the_last_check_box_stays_checked() {
        let mut f = PolicyForm::default();
        f.choose(3);
        f.toggle(en(), Scope::Query);
        f.toggle(en(), Scope::Ingest);
        assert_eq!(f.scopes(), ScopeSet::of(&[Scope::Manage]));
        assert!(f.scopes_error.is_none());
        f.toggle(en(), Scope::Manage);
        assert_eq!(f.scopes(), ScopeSet::of(&[Scope::Manage]));
        assert!(f.scopes_error.is_some());
        f.toggle(en(), Scope::Query);
        assert!(f.scopes_error.is_none());
        assert_eq!(f.scopes(), ScopeSet::of(&[Scope::Query, Scope::Manage]));
    }
}
