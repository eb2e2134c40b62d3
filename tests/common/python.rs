//! The Python tools some tests run for real (docs/testing.md): detect-secrets, which runs the
//! repository's scanner plugin, and the reference `standardwebhooks` library, which checks the
//! service's webhooks. They live in a virtual environment of the tests' own: `.ci/run` makes it,
//! and so does the first test that needs it when it is missing (from PyPI).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The packages the environment holds.
pub const PACKAGES: [&str; 2] = ["detect-secrets", "standardwebhooks"];

/// The environment: `RAGKEYS_TEST_VENV`, else `target/test-venv` in the repository.
pub fn venv() -> PathBuf {
    std::env::var_os("RAGKEYS_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-venv"))
}

fn imports(python: &Path, module: &str) -> bool {
    Command::new(python)
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The environment's `python`, once it can import `module`: makes the environment first when it
/// cannot (one test process at a time, under a lock file beside it), and panics saying what to
/// install when that fails.
pub fn python_with(module: &str) -> PathBuf {
    let venv = venv();
    let python = venv.join("bin/python");
    if imports(&python, module) {
        return python;
    }
    let how = format!(
        "python3 -m venv {0} && {0}/bin/pip install {1}",
        venv.display(),
        PACKAGES.join(" ")
    );
    if let Some(parent) = venv.parent() {
        std::fs::create_dir_all(parent).expect("cannot create the venv's parent directory");
    }
    let lock_path = venv.with_extension("lock");
    let lock = std::fs::File::create(&lock_path)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", lock_path.display()));
    // flock rather than File::lock, which is newer than the crate's rust-version; released
    // when `lock` is closed at the end of this function.
    // SAFETY: the descriptor is open for the whole call.
    let locked = unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) };
    assert_eq!(locked, 0, "cannot lock {}", lock_path.display());
    // Another test process may have made it while this one waited.
    if !imports(&python, module) {
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            made,
            "cannot make the Python venv for the tests (apt-get install python3-venv), then: {how}"
        );
        let installed = Command::new(venv.join("bin/pip"))
            .args(["install", "-q", "--disable-pip-version-check"])
            .args(PACKAGES)
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            installed && imports(&python, module),
            "cannot install {} into {} from PyPI: {how} (RAGKEYS_TEST_VENV names another venv)",
            PACKAGES.join(" "),
            venv.display()
        );
    }
    python
}
