//! Every visible string of the console, from one catalog per language under `assets/locales/`,
//! compiled in. A key missing from a catalog falls back to English (a test keeps them complete).

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::args::Lang;

const EN: &str = include_str!("../../assets/locales/en.toml");
const KO: &str = include_str!("../../assets/locales/ko.toml");
const JA: &str = include_str!("../../assets/locales/ja.toml");

/// The strings of one language.
#[derive(Debug)]
pub struct Catalog {
    pub lang: Lang,
    strings: HashMap<String, String>,
}

fn flatten(prefix: &str, table: &toml::Table, out: &mut HashMap<String, String>) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::String(s) => {
                out.insert(key, s.clone());
            }
            toml::Value::Table(t) => flatten(&key, t, out),
            _ => {}
        }
    }
}

fn parse(lang: Lang, src: &str) -> Catalog {
    let mut strings = HashMap::new();
    // The catalogs are compiled in and checked by tests; a broken one yields no strings.
    if let Ok(table) = src.parse::<toml::Table>() {
        flatten("", &table, &mut strings);
    }
    Catalog { lang, strings }
}

impl Catalog {
    pub fn get(lang: Lang) -> &'static Catalog {
        static CATALOGS: OnceLock<[Catalog; 3]> = OnceLock::new();
        let all = CATALOGS.get_or_init(|| {
            [
                parse(Lang::En, EN),
                parse(Lang::Ko, KO),
                parse(Lang::Ja, JA),
            ]
        });
        match lang {
            Lang::En => &all[0],
            Lang::Ko => &all[1],
            Lang::Ja => &all[2],
        }
    }

    /// English in 7-bit ASCII: each glyph as its stand-in (`...` for `…`).
    pub fn ascii() -> &'static Catalog {
        static ASCII: OnceLock<Catalog> = OnceLock::new();
        ASCII.get_or_init(|| {
            let en = Catalog::get(Lang::En);
            Catalog {
                lang: Lang::En,
                strings: en
                    .strings
                    .iter()
                    .map(|(k, v)| (k.clone(), crate::charset::ascii(v).into_owned()))
                    .collect(),
            }
        })
    }

    /// The string for `key`; English when this catalog lacks it, the key itself when all do.
    pub fn t<'a>(&'a self, key: &'a str) -> &'a str {
        if let Some(s) = self.strings.get(key) {
            return s;
        }
        if self.lang != Lang::En
            && let Some(s) = Catalog::get(Lang::En).strings.get(key)
        {
            return s;
        }
        key
    }

    /// `t(key)` with each `{name}` replaced by its value.
    pub fn f(&self, key: &str, args: &[(&str, &dyn std::fmt::Display)]) -> String {
        let mut out = self.t(key).to_string();
        for (name, value) in args {
            out = out.replace(&format!("{{{name}}}"), &value.to_string());
        }
        out
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.strings.keys().map(String::as_str)
    }
}

/// `--lang` or the config file first, else `LC_ALL`, then `LANG`; English otherwise.
pub fn choose(configured: Option<Lang>) -> Lang {
    if let Some(l) = configured {
        return l;
    }
    let from_env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    from_env("LC_ALL")
        .or_else(|| from_env("LANG"))
        .map(|v| from_locale(&v))
        .unwrap_or(Lang::En)
}

/// `ko_KR.UTF-8` → Korean, `ja_JP.eucJP` → Japanese, anything else → English.
pub fn from_locale(locale: &str) -> Lang {
    let l = locale.to_ascii_lowercase();
    if l.starts_with("ko") {
        Lang::Ko
    } else if l.starts_with("ja") {
        Lang::Ja
    } else {
        Lang::En
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placeholders(s: &str) -> Vec<String> {
        let mut v: Vec<String> = s
            .split('{')
            .skip(1)
            .filter_map(|p| p.split_once('}').map(|(name, _)| name.to_string()))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn every_catalog_parses_and_has_every_english_key_with_the_same_placeholders() {
        for src in [EN, KO, JA] {
            assert!(src.parse::<toml::Table>().is_ok());
        }
        let en = Catalog::get(Lang::En);
        assert!(en.keys().count() > 50);
        for lang in [Lang::Ko, Lang::Ja] {
            let c = Catalog::get(lang);
            for key in en.keys() {
                let s = c.strings.get(key);
                assert!(s.is_some(), "{lang:?} lacks {key}");
                assert_eq!(
                    placeholders(s.map_or("", |s| s)),
                    placeholders(en.t(key)),
                    "{lang:?} {key}"
                );
            }
            assert_eq!(
                c.keys().count(),
                en.keys().count(),
                "{lang:?} has extra keys"
            );
        }
    }

    #[test]
    fn the_page_words_are_exact_in_english() {
        let en = Catalog::get(Lang::En);
        assert_eq!(
            en.t("keys.limit_note"),
            "If you exceed the maximum number of issuable API Keys, you cannot issue a new one. Delete an existing API Key and try again."
        );
        assert_eq!(
            en.t("copy.caution"),
            "An API Key is shown only at the time it is issued. You cannot view it again from the API Key management list. Be sure to use [Copy key] button in the issuance popup and store the API Key securely before proceeding."
        );
        assert_eq!(
            en.t("delete.caution"),
            "After deletion, the API Key can no longer be used to call the API. If the key is being used by an integrated service, carefully review the impact before deleting it."
        );
    }

    #[test]
    fn locale_names_choose_the_language() {
        assert_eq!(from_locale("ko_KR.UTF-8"), Lang::Ko);
        assert_eq!(from_locale("ja_JP.UTF-8"), Lang::Ja);
        assert_eq!(from_locale("C.UTF-8"), Lang::En);
        assert_eq!(choose(Some(Lang::Ja)), Lang::Ja);
    }

    #[test]
    fn placeholders_are_filled() {
        let en = Catalog::get(Lang::En);
        assert_eq!(en.f("keys.count", &[("count", &3), ("limit", &5)]), "3 / 5");
        assert_eq!(en.t("no.such.key"), "no.such.key");
    }
}
