//! Who is at the keyboard: the name the console's own token carries, `alice@bastion-1`
//! (docs/console.md, Who did it), so that `created_by` and the audit trail name a person.

use std::ffi::CStr;

/// `LOGIN@SHORTHOST` for this process: the login name as `LOGNAME`, then `USER`, then the
/// password database give it, and the host name up to its first dot.
pub fn at_the_keyboard() -> String {
    let env = |name: &str| std::env::var(name).ok();
    token_name(
        env("LOGNAME").as_deref(),
        env("USER").as_deref(),
        password_database_name,
        host_name().as_deref(),
    )
}

/// The name from what the environment and the system say; each source in turn, skipping empty
/// ones. Control characters never reach a name that terminals and logs show.
fn token_name(
    logname: Option<&str>,
    user: Option<&str>,
    passwd: impl FnOnce() -> Option<String>,
    host: Option<&str>,
) -> String {
    let clean = |s: &str| -> String { s.chars().filter(|c| !c.is_control()).collect() };
    let given = |s: Option<&str>| s.map(clean).filter(|s| !s.trim().is_empty());
    let login = given(logname)
        .or_else(|| given(user))
        .or_else(|| given(passwd().as_deref()))
        // SAFETY: getuid cannot fail and touches no memory of ours.
        .unwrap_or_else(|| format!("uid{}", unsafe { libc::getuid() }));
    let host = given(host.map(|h| h.split('.').next().unwrap_or(h)))
        .unwrap_or_else(|| "localhost".to_owned());
    format!("{login}@{host}")
}

/// The login name of the real user in the password database (`getpwuid_r`), if it has one.
fn password_database_name() -> Option<String> {
    let mut buf = vec![0u8; 4096];
    loop {
        // SAFETY: passwd is plain data; getpwuid_r fills it with pointers into `buf`, which
        // outlives every read below; a null `result` means no entry.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = unsafe {
            libc::getpwuid_r(
                libc::getuid(),
                &mut pwd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut result,
            )
        };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 4, 0);
            continue;
        }
        if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
            return None;
        }
        // SAFETY: pw_name points at a NUL-terminated string inside `buf`.
        let name = unsafe { CStr::from_ptr(pwd.pw_name) };
        return Some(name.to_string_lossy().into_owned());
    }
}

/// The host name (`gethostname`), if the system gives one.
fn host_name() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the length passed is the buffer's; the result is NUL-terminated on success
    // (the last byte stays 0 even if the name was cut).
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len() - 1) };
    if rc != 0 {
        return None;
    }
    let name = CStr::from_bytes_until_nul(&buf).ok()?;
    Some(name.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none() -> Option<String> {
        None
    }

    #[test]
    fn logname_then_user_then_the_password_database() {
        let db = || Some("carol".to_owned());
        assert_eq!(
            token_name(
                Some("alice"),
                Some("bob"),
                db,
                Some("bastion-1.example.com")
            ),
            "alice@bastion-1"
        );
        assert_eq!(
            token_name(None, Some("bob"), db, Some("bastion-1")),
            "bob@bastion-1"
        );
        assert_eq!(token_name(Some(""), Some(" "), db, Some("b1")), "carol@b1");
        assert!(token_name(None, None, none, None).ends_with("@localhost"));
        assert!(token_name(None, None, none, Some("")).starts_with("uid"));
    }

    #[test]
    fn control_characters_never_reach_the_name() {
        assert_eq!(
            token_name(Some("al\u{1b}[2Jice"), None, none, Some("h\nost")),
            "al[2Jice@host"
        );
    }

    #[test]
    fn this_process_has_a_host_and_a_login() {
        let db = password_database_name();
        // SAFETY: getuid only reads.
        if unsafe { libc::getuid() } == 0 {
            assert_eq!(db.as_deref(), Some("root"));
        }
        let host = host_name().unwrap();
        assert!(!host.is_empty());
        assert!(!at_the_keyboard().contains('\0'));
    }
}
