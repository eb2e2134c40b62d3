use super::file::parse_file;
use super::*;

fn file(text: &str) -> LoadedFile {
    let path = PathBuf::from("/etc/ragkeys-test/config.toml");
    LoadedFile {
        config: parse_file(&path, text).unwrap(),
        path,
    }
}

fn remote(s: &Settings) -> &ClientOptions {
    match &s.connection {
        Connection::Remote(o) => o,
        Connection::Embedded { .. } => panic!("expected a remote connection"),
    }
}

const PROFILES: &str = r#"
default_profile = "prod"

[profile.prod]
endpoint = "https://prod.example"
token = "ragadm_prod"
ca_cert = "ca.pem"
lang = "ko"
clipboard = "osc52"
clipboard_clear_secs = 10
mouse = false

[profile.dev]
endpoint = "http://127.0.0.1:9"
token_command = "printf '  ragadm_dev\n'"
"#;

#[test]
fn nothing_configured_is_the_embedded_service() {
    let s = resolve_with(&GlobalArgs::default(), &ConsoleArgs::default(), None).unwrap();
    assert!(matches!(s.connection, Connection::Embedded { .. }));
    assert_eq!(s.clipboard, ClipboardMode::Auto);
    assert_eq!(s.clipboard_clear_secs, 30);
    assert!(s.mouse);
    assert!(s.warnings().is_empty());
}

#[test]
fn the_default_profile_fills_what_flags_leave_open() {
    let f = file(PROFILES);
    let s = resolve_with(&GlobalArgs::default(), &ConsoleArgs::default(), Some(&f)).unwrap();
    let o = remote(&s);
    assert_eq!(o.endpoint, "https://prod.example");
    assert_eq!(o.token.expose(), "ragadm_prod");
    assert_eq!(
        o.ca_cert.as_deref(),
        Some(Path::new("/etc/ragkeys-test/ca.pem"))
    );
    assert_eq!(s.lang, Some(Lang::Ko));
    assert_eq!(s.clipboard, ClipboardMode::Osc52);
    assert_eq!(s.clipboard_clear_secs, 10);
    assert!(!s.mouse);
}

#[test]
fn flags_beat_the_profile_field_by_field() {
    let f = file(PROFILES);
    let g = GlobalArgs {
        token: Some("ragadm_flag".into()),
        ca_cert: Some("/tmp/other.pem".into()),
        ..Default::default()
    };
    let c = ConsoleArgs {
        lang: Some(Lang::Ja),
        ..Default::default()
    };
    let s = resolve_with(&g, &c, Some(&f)).unwrap();
    let o = remote(&s);
    assert_eq!(o.endpoint, "https://prod.example");
    assert_eq!(o.token.expose(), "ragadm_flag");
    assert_eq!(o.ca_cert.as_deref(), Some(Path::new("/tmp/other.pem")));
    assert_eq!(s.lang, Some(Lang::Ja));
}

#[test]
fn the_profile_flag_beats_default_profile_and_runs_token_command() {
    let f = file(PROFILES);
    let g = GlobalArgs {
        profile: Some("dev".into()),
        ..Default::default()
    };
    let s = resolve_with(&g, &ConsoleArgs::default(), Some(&f)).unwrap();
    let o = remote(&s);
    assert_eq!(o.endpoint, "http://127.0.0.1:9");
    assert_eq!(o.token.expose(), "ragadm_dev");
}

#[test]
fn a_failing_token_command_says_its_status_and_leaves_its_messages_on_stderr() {
    let f = file(
        "[profile.x]\nendpoint = \"http://127.0.0.1:9\"\n\
         token_command = \"echo 'gpg: decryption failed' >&2; echo second >&2; exit 3\"\n",
    );
    let g = GlobalArgs {
        profile: Some("x".into()),
        ..Default::default()
    };
    let e = resolve_with(&g, &ConsoleArgs::default(), Some(&f)).unwrap_err();
    assert!(matches!(e, SettingsError::Failed(_)));
    let m = e.to_string();
    assert!(m.contains("exit status 3"), "{m}");
    // The helper's own words went to the terminal's stderr (inherited), not into ours.
    assert!(m.contains("messages are above"), "{m}");
    assert!(!m.contains("second"), "{m}");
}

#[test]
fn the_token_command_is_not_run_when_a_token_is_given() {
    let f = file("[profile.x]\nendpoint = \"http://127.0.0.1:9\"\ntoken_command = \"exit 1\"\n");
    let g = GlobalArgs {
        profile: Some("x".into()),
        token: Some("ragadm_t".into()),
        ..Default::default()
    };
    assert!(resolve_with(&g, &ConsoleArgs::default(), Some(&f)).is_ok());
}

#[test]
fn a_named_profile_must_exist() {
    let f = file(PROFILES);
    let g = GlobalArgs {
        profile: Some("staging".into()),
        ..Default::default()
    };
    let e = resolve_with(&g, &ConsoleArgs::default(), Some(&f)).unwrap_err();
    assert!(matches!(e, SettingsError::Usage(_)));
    assert!(e.to_string().contains("staging"));
    assert!(e.to_string().contains("dev, prod"));
    let e = resolve_with(&g, &ConsoleArgs::default(), None).unwrap_err();
    assert!(e.to_string().contains("no config file"));
    let f = file("default_profile = \"gone\"\n");
    let e = resolve_with(&GlobalArgs::default(), &ConsoleArgs::default(), Some(&f)).unwrap_err();
    assert!(e.to_string().contains("default_profile"), "{e}");
}

#[test]
fn unknown_keys_are_named_with_their_line() {
    let path = Path::new("/x/config.toml");
    let e = parse_file(path, "[profile.a]\nendpoint = \"http://h\"\ntokn = \"x\"\n").unwrap_err();
    let m = e.to_string();
    assert!(m.contains("tokn") && m.contains("line 3"), "{m}");
    assert!(!m.contains('\n'));
    let e = parse_file(path, "default_profil = \"a\"\n").unwrap_err();
    assert!(e.to_string().contains("default_profil"));
    let e = parse_file(path, "[profile.a]\nlang = \"fr\"\n").unwrap_err();
    assert!(e.to_string().contains("line 2"), "{e}");
}

#[test]
fn half_a_connection_is_a_usage_error() {
    let g = GlobalArgs {
        token: Some("ragadm_x".into()),
        ..Default::default()
    };
    let e = resolve_with(&g, &ConsoleArgs::default(), None).unwrap_err();
    assert!(matches!(e, SettingsError::Usage(_)));
    let g = GlobalArgs {
        endpoint: Some("http://127.0.0.1:1".into()),
        ..Default::default()
    };
    assert!(matches!(
        resolve_with(&g, &ConsoleArgs::default(), None),
        Err(SettingsError::Usage(_))
    ));
    let g = GlobalArgs {
        endpoint: Some("127.0.0.1:1".into()),
        token: Some("ragadm_x".into()),
        ..Default::default()
    };
    let e = resolve_with(&g, &ConsoleArgs::default(), None).unwrap_err();
    assert!(e.to_string().contains("invalid endpoint URL"), "{e}");
}

#[test]
fn token_and_token_command_together_are_refused() {
    let f = file("[profile.a]\nendpoint = \"http://h\"\ntoken = \"t\"\ntoken_command = \"c\"\n");
    let g = GlobalArgs {
        profile: Some("a".into()),
        ..Default::default()
    };
    assert!(matches!(
        resolve_with(&g, &ConsoleArgs::default(), Some(&f)),
        Err(SettingsError::Usage(_))
    ));
}

#[test]
fn warnings_for_insecure_and_plain_http_to_other_hosts() {
    let warn = |endpoint: &str, insecure: bool| {
        let mut o = ClientOptions::new(endpoint, Secret::new("t".into()));
        o.insecure = insecure;
        Connection::Remote(o).warnings()
    };
    assert!(warn("http://127.0.0.1:8080", false).is_empty());
    assert!(warn("http://localhost:8080", false).is_empty());
    assert!(warn("http://[::1]:8080", false).is_empty());
    assert!(warn("https://keys.example", false).is_empty());
    assert_eq!(warn("http://keys.example", false).len(), 1);
    assert!(warn("https://keys.example", true)[0].contains("--insecure"));
}

#[cfg(unix)]
#[test]
fn a_token_in_a_file_others_can_read_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(
        &path,
        "[profile.a]\nendpoint = \"http://h\"\ntoken = \"t\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = load_file(&path).unwrap_err();
    assert!(
        e.to_string()
            .contains(&format!("chmod 600 {}", path.display())),
        "{e}"
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(load_file(&path).unwrap().is_some());
    std::fs::write(&path, "[profile.a]\nendpoint = \"http://h\"\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(load_file(&path).unwrap().is_some());
    assert!(
        load_file(&dir.path().join("missing.toml"))
            .unwrap()
            .is_none()
    );
}

#[test]
fn ascii_comes_from_the_flag_or_the_profile() {
    let plain = resolve_with(&GlobalArgs::default(), &ConsoleArgs::default(), None).unwrap();
    assert!(!plain.ascii);
    let flag = ConsoleArgs {
        ascii: true,
        ..Default::default()
    };
    assert!(
        resolve_with(&GlobalArgs::default(), &flag, None)
            .unwrap()
            .ascii
    );
    let f = file("default_profile = \"a\"\n[profile.a]\nascii = true\n");
    let s = resolve_with(&GlobalArgs::default(), &ConsoleArgs::default(), Some(&f)).unwrap();
    assert!(s.ascii);
}
