//! The console's real loop, driven by scripted terminal events against a real `ragkeys serve`:
//! what it does to the screen for resizes and Ctrl-L (clear, then draw every cell), and what it
//! asks of job control for Ctrl-Z, SIGTSTP and SIGCONT (docs/console.md, Keys; Terminal manners).

use ragkeys::console::app::{Exit, JobSignal};

use super::driver::{Setup, run};
use crate::common::Server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resizes_ctrl_l_and_job_control_redraw_the_whole_screen() {
    let server = Server::start();
    let exit = run(
        Setup::new(server.url(), &server.token),
        |mut c| async move {
            let first = c
                .wait_frame("the services", |f| {
                    f.text.contains("rag-demo") || f.text.contains("No services yet")
                })
                .await;
            let mut clears = first.clears;

            // A burst of resizes that ends at the old size: the terminal may have lost what it
            // showed, so the screen is cleared and drawn whole, not diffed against the last frame.
            c.resize(60, 16);
            c.resize(100, 30);
            let f = c
                .wait_frame("a clear after the burst", |f| f.clears > clears)
                .await;
            assert!(f.text.contains("Services"), "{}", f.text);
            clears = f.clears;
            // One resize to the very size the console already has: the same.
            c.resize(100, 30);
            clears = c
                .wait_frame("a clear after a same-size resize", |f| f.clears > clears)
                .await
                .clears;

            // Ctrl-L: clear and draw everything.
            c.ctrl('l');
            clears = c
                .wait_frame("a clear after Ctrl-L", |f| f.clears > clears)
                .await
                .clears;

            // Ctrl-Z and SIGTSTP suspend (the recorder stands in for stopping the process), SIGCONT
            // resumes; each ends with the whole screen drawn again.
            c.ctrl('z');
            clears = c
                .wait_frame("a clear after Ctrl-Z", |f| f.clears > clears)
                .await
                .clears;
            let _ = c.job_signals.send(JobSignal::Stop);
            clears = c
                .wait_frame("a clear after SIGTSTP", |f| f.clears > clears)
                .await
                .clears;
            let _ = c.job_signals.send(JobSignal::Continue);
            c.wait_frame("a clear after SIGCONT", |f| f.clears > clears)
                .await;
            let asked = c.job.lock().map(|j| j.clone()).unwrap_or_default();
            assert_eq!(asked, ["suspend", "suspend", "resume"]);
            c.hang_up();
        },
    )
    .await;
    assert_eq!(exit, Exit::EndOfInput);
}
