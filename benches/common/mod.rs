//! What both benches share (`benches/server`, `benches/replicas`; each includes this folder by
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
