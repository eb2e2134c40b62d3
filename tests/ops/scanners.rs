//! The scanner rules in `deploy/scanners/` (docs/operating.md, Leaked keys: GitHub's partner
//! program and scanners), run over one corpus: keys a real `ragkeys serve` issued, near misses
//! (a character changed so that the checksum fails, the wrong prefix, one character short, a
//! longer run, an admin token, the masked form) and random text.
//!
//! - gitleaks has no installable binary here: its rule is read from the TOML and its regex run
//!   with Rust's `regex`, which reads RE2 syntax as Go's `regexp` does. A regex cannot check a
//!   CRC, so near misses with a bad checksum are expected to match.
//! - The detect-secrets plugin runs in the real detect-secrets (the tests' venv), which must
//!   report exactly the keys whose checksum holds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use ragkeys::credential::{self, Kind};
use serde::Deserialize;
use serde_json::Value;

use crate::common::Server;
use crate::common::api::{Api, bad_checksum, unknown_api_key};
use crate::common::python::python_with;

fn scanners() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/scanners")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GitleaksConfig {
    title: String,
    rules: Vec<GitleaksRule>,
}

/// The fields of a gitleaks rule this file uses; an unknown one is refused so that a typo
/// (which gitleaks would ignore) fails here.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GitleaksRule {
    id: String,
    description: String,
    regex: String,
    keywords: Vec<String>,
    tags: Vec<String>,
}

/// The rule `ragkeys-api-key`, checked for what gitleaks needs of it.
fn gitleaks_rule() -> GitleaksRule {
    let text = std::fs::read_to_string(scanners().join("gitleaks.toml")).expect("gitleaks.toml");
    let config: GitleaksConfig = toml::from_str(&text).expect("gitleaks.toml is a gitleaks config");
    assert!(!config.title.is_empty());
    let mut rules = config.rules.into_iter();
    let rule = rules.next().expect("one rule");
    assert!(rules.next().is_none(), "one rule only");
    assert_eq!(rule.id, "ragkeys-api-key");
    assert_eq!(rule.keywords, ["ragk_"]);
    assert!(!rule.description.is_empty() && !rule.tags.is_empty());
    rule
}

/// What each line of the corpus holds, and so what each scanner must say of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Holds {
    /// Keys whose checksum holds: both scanners report them.
    Keys(usize),
    /// Strings of a key's shape whose checksum fails: the regex matches, the plugin does not.
    Forged(usize),
    /// Nothing either may report.
    Nothing,
}

struct Line {
    text: String,
    holds: Holds,
    /// The strings the regex must find on the line, in order.
    shaped: Vec<String>,
}

/// `key` with the character at `at` (inside the random part) changed.
fn one_char_changed(key: &str, at: usize) -> String {
    let mut b = key.as_bytes().to_vec();
    b[at] = if b[at] == b'x' { b'y' } else { b'x' };
    String::from_utf8(b).unwrap()
}

/// A small deterministic generator: the random text is the same on every run.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn text(&mut self, alphabet: &[u8], len: usize) -> String {
        (0..len)
            .map(|_| alphabet[(self.next() % alphabet.len() as u64) as usize] as char)
            .collect()
    }
}

/// The corpus: issued keys in the places people paste them, near misses of each, random text.
async fn corpus() -> (Vec<Line>, Server) {
    let srv = Server::start();
    let api = Api::new(&srv);
    let mut issued = Vec::new();
    for name in ["scan-a", "scan-b"] {
        let sid = api.create_service(name).await;
        for _ in 0..4 {
            issued.push(api.issue_ok(&sid).await.1);
        }
    }
    for k in &issued {
        assert_eq!(k.len(), 41, "{k}");
        credential::parse(Kind::ApiKey, k).expect("an issued key's checksum holds");
    }
    let admin = srv.token.clone();
    assert!(admin.starts_with("ragadm_") && admin.len() == 43);

    let mut lines = Vec::new();
    let mut push = |text: String, holds: Holds, shaped: Vec<String>| {
        lines.push(Line {
            text,
            holds,
            shaped,
        });
    };
    let k = &issued;
    // Issued keys where they get pasted: each key on one line (detect-secrets reports a secret
    // once per file), two on the last line.
    push(
        format!("RAGKEYS_API_KEY={}", k[0]),
        Holds::Keys(1),
        vec![k[0].clone()],
    );
    push(
        format!(r#"  "api_key": "{}","#, k[1]),
        Holds::Keys(1),
        vec![k[1].clone()],
    );
    push(
        format!(
            "curl -H 'Authorization: Bearer {}' https://rag.example/v1/query",
            k[2]
        ),
        Holds::Keys(1),
        vec![k[2].clone()],
    );
    push(
        format!("https://rag.example/search?key={}&q=x", k[3]),
        Holds::Keys(1),
        vec![k[3].clone()],
    );
    push(k[4].clone(), Holds::Keys(1), vec![k[4].clone()]);
    push(
        format!("api_key: '{}'  # the CI key", k[5]),
        Holds::Keys(1),
        vec![k[5].clone()],
    );
    push(
        format!("{},{}", k[6], k[7]),
        Holds::Keys(2),
        vec![k[6].clone(), k[7].clone()],
    );
    // A well-formed key the service never issued: a scanner cannot know which keys exist.
    let stranger = unknown_api_key();
    push(
        format!("export KEY={stranger}"),
        Holds::Keys(1),
        vec![stranger.clone()],
    );

    // Near misses. A character changed, in the random part or in the checksum: the CRC fails.
    for (i, forged) in [
        one_char_changed(&k[0], 5),
        one_char_changed(&k[1], 20),
        one_char_changed(&k[2], 34),
        bad_checksum(&k[3]),
    ]
    .into_iter()
    .enumerate()
    {
        assert_eq!(
            credential::parse(Kind::ApiKey, &forged),
            Err(credential::FormatError::Checksum),
            "{forged}"
        );
        push(
            format!("TOKEN_{i}={forged}"),
            Holds::Forged(1),
            vec![forged],
        );
    }
    // The wrong prefix, one character short, a longer run on either side, other credentials.
    for text in [
        format!("KEY={}", k[0].replacen("ragk_", "ragx_", 1)),
        format!("KEY={}", k[0].replacen("ragk_", "RAGK_", 1)),
        format!("KEY={}", &k[1][..40]),
        format!("KEY={}Q", k[2]),
        format!("KEY=x{}", k[3]),
        format!("KEY={}9", k[4]),
        format!("RAGKEYS_TOKEN={admin}"),
        format!("KEY=ragk_{}", &admin["ragadm_".len()..][..35]),
        format!("KEY={}", credential::mask(&k[5])),
        "The ragk_ prefix marks an API key; ragadm_ an admin token.".to_string(),
    ] {
        push(text, Holds::Nothing, vec![]);
    }
    // Random text: base62 runs of every nearby length, printable ASCII, words.
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    const PRINTABLE: &[u8] =
        b" !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~";
    for len in 30..50 {
        let run = rng.text(BASE62, len);
        push(format!("digest = {run}"), Holds::Nothing, vec![]);
    }
    for _ in 0..20 {
        push(rng.text(PRINTABLE, 120), Holds::Nothing, vec![]);
    }
    for text in [
        "Lorem ipsum dolor sit amet, consectetur adipiscing elit.",
        "ragk ragk_ ragk__ rag_k_0123456789 _ragk_",
        "sha256:9f86d081884c7d659a2feaea0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    ] {
        push(text.to_string(), Holds::Nothing, vec![]);
    }
    (lines, srv)
}

/// gitleaks' rule: every string of a key's shape, and nothing else. Its keyword is in each match
/// (gitleaks only runs a rule's regex on text that contains one of its keywords).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gitleaks_rule_finds_every_string_of_a_keys_shape_and_nothing_else() {
    let rule = gitleaks_rule();
    let re = regex::Regex::new(&rule.regex).expect("the rule's regex is RE2 syntax");
    let (lines, _srv) = corpus().await;
    for (n, line) in lines.iter().enumerate() {
        let found: Vec<&str> = re.find_iter(&line.text).map(|m| m.as_str()).collect();
        assert_eq!(
            found,
            line.shaped.iter().map(String::as_str).collect::<Vec<_>>(),
            "line {}: {:?} ({:?})",
            n + 1,
            line.text,
            line.holds
        );
        for m in &found {
            assert!(m.contains(&rule.keywords[0]), "{m}");
        }
    }
    let forged = lines
        .iter()
        .filter(|l| matches!(l.holds, Holds::Forged(_)))
        .count();
    assert_eq!(forged, 4, "near misses with a bad checksum match the regex");
}

/// The plugin in the real detect-secrets: exactly the keys whose checksum holds, of its own
/// secret type, on their lines; no near miss, no admin token, nothing in random text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detect_secrets_with_the_plugin_reports_only_keys_whose_checksum_holds() {
    let python = python_with("detect_secrets");
    let (lines, _srv) = corpus().await;
    let dir = tempfile::tempdir().unwrap();
    let text: String = lines.iter().map(|l| format!("{}\n", l.text)).collect();
    std::fs::write(dir.path().join("corpus.txt"), text).unwrap();
    let plugin = scanners().join("ragkeys_detect_secrets.py");
    let out = Command::new(&python)
        .args(["-m", "detect_secrets", "scan", "--plugin"])
        .arg(&plugin)
        .arg("corpus.txt")
        .current_dir(dir.path())
        .output()
        .expect("run detect-secrets");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "detect-secrets: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_str(&stdout).expect("detect-secrets' JSON");
    let plugins = report["plugins_used"].as_array().expect("plugins_used");
    assert!(
        plugins.iter().any(|p| p["name"] == "RagkeysApiKeyDetector"),
        "the plugin was not loaded: {plugins:?}"
    );
    let mut reported: BTreeMap<u64, usize> = BTreeMap::new();
    for finding in report["results"]["corpus.txt"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if finding["type"] == "ragkeys API Key" {
            let line = finding["line_number"].as_u64().expect("line_number");
            *reported.entry(line).or_default() += 1;
        }
    }
    let wanted: BTreeMap<u64, usize> = lines
        .iter()
        .enumerate()
        .filter_map(|(n, l)| match l.holds {
            Holds::Keys(count) => Some((n as u64 + 1, count)),
            _ => None,
        })
        .collect();
    let show = |m: &BTreeMap<u64, usize>| {
        m.keys()
            .map(|n| format!("{n}: {:?}", lines[*n as usize - 1].text))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        reported,
        wanted,
        "reported {:#?}\nwanted {:#?}",
        show(&reported),
        show(&wanted)
    );
}

/// The plugin's pattern is the gitleaks rule's, so the two never disagree on a key's shape.
#[test]
fn the_plugin_and_the_gitleaks_rule_share_one_pattern() {
    let rule = gitleaks_rule();
    let plugin = std::fs::read_to_string(scanners().join("ragkeys_detect_secrets.py")).unwrap();
    assert!(
        plugin.contains(&format!("re.compile(r'{}'", rule.regex)),
        "the plugin's denylist is not {}",
        rule.regex
    );
    assert!(plugin.contains("secret_type = 'ragkeys API Key'"));
    assert!(plugin.contains("(RegexBasedDetector)"));
}

/// The pre-commit hook as docs/operating.md wires it (`detect-secrets-hook --plugin …`): a file
/// with an issued key stops the commit naming the secret type; near misses and random text pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pre_commit_hook_stops_a_commit_with_a_key_and_lets_near_misses_pass() {
    let python = python_with("detect_secrets");
    let hook = python.with_file_name("detect-secrets-hook");
    let (lines, _srv) = corpus().await;
    let dir = tempfile::tempdir().unwrap();
    let keys: String = lines
        .iter()
        .filter(|l| matches!(l.holds, Holds::Keys(_)))
        .map(|l| format!("{}\n", l.text))
        .collect();
    let others: String = lines
        .iter()
        .filter(|l| !matches!(l.holds, Holds::Keys(_)))
        .map(|l| format!("{}\n", l.text))
        .collect();
    std::fs::write(dir.path().join("config.env"), keys).unwrap();
    std::fs::write(dir.path().join("notes.txt"), others).unwrap();
    let run = |file: &str| {
        Command::new(&hook)
            .arg("--plugin")
            .arg(scanners().join("ragkeys_detect_secrets.py"))
            .arg(file)
            .current_dir(dir.path())
            .output()
            .expect("run detect-secrets-hook")
    };
    let out = run("config.env");
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("Secret Type: ragkeys API Key"), "{said}");
    assert!(said.contains("Location:    config.env:1"), "{said}");
    let out = run("notes.txt");
    let said = String::from_utf8_lossy(&out.stdout);
    // Other plugins may flag the random text; this one never does.
    assert!(!said.contains("ragkeys API Key"), "{said}");
}
