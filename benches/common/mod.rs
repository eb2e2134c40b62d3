//! What the benches share (`benches/server`, `benches/gateway`, `benches/replicas`; each includes this folder by
//! path): the processes under load, the load generators (wrk and reqwest), the statistics, and
//! the `main` every bench has.

pub mod keys;
pub mod load;
pub mod procs;
pub mod stats;
pub mod wrk;

use std::process::ExitCode;

/// A tunable from the environment (`BENCH_SECS`, …), `default` when unset or not a number.
pub fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The settings every bench reads from the environment (docs/performance.md): `BENCH_SECS`
/// (seconds per slice, 3), `BENCH_ROUNDS` (5), `BENCH_CONNS` (32), `BENCH_LOG` (the service's log
/// filter, `info`) and `RAGKEYS_BENCH_BIN` (the ragkeys binary to measure, this build's by default).
pub struct Settings {
    pub secs: u64,
    pub rounds: usize,
    pub conns: usize,
    pub log: String,
    pub bin: String,
}

impl Settings {
    /// Reads them; numbers below 1 count as 1.
    pub fn from_env() -> Settings {
        Settings {
            secs: env_num("BENCH_SECS", 3).max(1),
            rounds: env_num("BENCH_ROUNDS", 5).max(1) as usize,
            conns: env_num("BENCH_CONNS", 32).max(1) as usize,
            log: std::env::var("BENCH_LOG").unwrap_or_else(|_| "info".into()),
            bin: std::env::var("RAGKEYS_BENCH_BIN")
                .unwrap_or_else(|_| env!("CARGO_BIN_EXE_ragkeys").into()),
        }
    }
}

/// A bench's `main` once its own helper flags are handled: without `--bench` (as
/// `cargo test --all-targets` runs it) says how to run it and succeeds, since a benchmark is not
/// a test; else runs `bench` on a two-thread runtime, exit 1 with its error.
pub fn run<F>(name: &str, bench: impl FnOnce() -> F) -> ExitCode
where
    F: Future<Output = Result<(), String>>,
{
    if !std::env::args().any(|a| a == "--bench") {
        println!("benches/{name}: run it with `cargo bench --bench {name}`");
        return ExitCode::SUCCESS;
    }
    ragkeys::client::install_crypto_provider();
    let Some(rt) = runtime(Some(2)) else {
        return ExitCode::FAILURE;
    };
    match rt.block_on(bench()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("benchmark failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A multi-thread tokio runtime with `workers` threads (tokio's default: one a core); `None`
/// (said on stderr) if it cannot be built.
pub fn runtime(workers: Option<usize>) -> Option<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = workers {
        builder.worker_threads(n);
    }
    builder
        .enable_all()
        .build()
        .map_err(|e| eprintln!("runtime: {e}"))
        .ok()
}

/// The machine's state after a run: its CPUs and load average, one line on stdout.
pub fn print_machine() {
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "{} CPUs, load average after the run: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
}
