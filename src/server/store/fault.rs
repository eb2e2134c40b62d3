//! A store that cannot take writes (docs/api.md, Shutting down and starting up: store faults are
//! not 500s): why, and the one state that says whether it lasts. The store reports every
//! failure it meets here; the service reads the state for `/readyz` and the metrics, and a
//! probe that writes for real is the only thing that clears it.

use std::sync::atomic::{AtomicU8, Ordering};

/// Why the store cannot take a write. SQLite: `SQLITE_FULL` (or `ENOSPC`, `EDQUOT`) is
/// [`WriteFault::DiskFull`], `SQLITE_READONLY` (or `EROFS`) [`WriteFault::ReadOnly`], any other
/// `SQLITE_IOERR` [`WriteFault::Io`]. PostgreSQL's SQLSTATEs map the same way: `53100`
/// disk_full, `25006` read_only_sql_transaction, `58030` io_error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteFault {
    DiskFull,
    ReadOnly,
    Io,
}

impl WriteFault {
    fn code(self) -> u8 {
        match self {
            WriteFault::DiskFull => 1,
            WriteFault::ReadOnly => 2,
            WriteFault::Io => 3,
        }
    }

    fn from_code(code: u8) -> Option<WriteFault> {
        match code {
            1 => Some(WriteFault::DiskFull),
            2 => Some(WriteFault::ReadOnly),
            3 => Some(WriteFault::Io),
            _ => None,
        }
    }

    /// The cause as an operator reads it, in `/readyz`, the answers and the log.
    pub fn cause(self) -> &'static str {
        match self {
            WriteFault::DiskFull => "disk full",
            WriteFault::ReadOnly => "read-only file system or database",
            WriteFault::Io => "I/O error",
        }
    }
}

impl std::fmt::Display for WriteFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.cause())
    }
}

/// Whether the store takes writes now, with one log line when that changes (never one per
/// request or per chore: a full disk must not also fill the log).
#[derive(Debug, Default)]
pub struct WriteHealth {
    /// 0 while writable, else the [`WriteFault::code`] of the fault first met.
    fault: AtomicU8,
}

impl WriteHealth {
    /// The fault that lasts, if any.
    pub fn fault(&self) -> Option<WriteFault> {
        WriteFault::from_code(self.fault.load(Ordering::Acquire))
    }

    /// A call met `fault` (`detail` is the store's own words, for the log). Logged only when the
    /// store was writable until now; a fault already held keeps its first cause, so that
    /// causes alternating during one fault (a full disk also fails a sync) log nothing more.
    pub fn failed(&self, fault: WriteFault, detail: &str) {
        let began = self
            .fault
            .compare_exchange(0, fault.code(), Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if began {
            tracing::error!(
                cause = fault.cause(),
                detail,
                "the store cannot take writes: {fault}; writes answer 503 and /readyz is not \
                 ready until it clears (checked every {} s)",
                PROBE_EVERY.as_secs()
            );
        }
    }

    /// A probe wrote and synced for real: the fault, if there was one, is over.
    pub fn probed_ok(&self) {
        if let Some(fault) = WriteFault::from_code(self.fault.swap(0, Ordering::AcqRel)) {
            tracing::info!(
                cause = fault.cause(),
                "the store takes writes again; /readyz is ready"
            );
        }
    }
}

/// How often a store that cannot take writes is probed with a real write. Ordinary writes do
/// not clear the fault: one that changed nothing wrote nothing, and space left in SQLite's
/// write-ahead log can take a small write on a full disk.
pub const PROBE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Seconds a client is asked to wait (`Retry-After`) while the store cannot take writes: a
/// full disk or a read-only mount is not cleared in a second.
pub const RETRY_AFTER_SECS: u64 = 5;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_lasts_until_a_probe_succeeds() {
        let h = WriteHealth::default();
        assert_eq!(h.fault(), None);
        h.failed(WriteFault::DiskFull, "database or disk is full");
        h.failed(WriteFault::Io, "disk I/O error");
        assert_eq!(h.fault(), Some(WriteFault::DiskFull));
        h.probed_ok();
        assert_eq!(h.fault(), None);
        h.probed_ok();
        assert_eq!(h.fault(), None);
    }
}
