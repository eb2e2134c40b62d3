//! The terminal as the console leaves it: whatever the exit path (quit, error, panic in any task,
//! SIGTERM, SIGHUP, end of input), raw mode, the alternate screen, mouse capture and bracketed
//! paste are undone. The alternate screen is cleared before it is left, so a key shown in a popup
//! never reaches the scrollback. What is switched on follows the terminal's capabilities
//! (`caps`), and frames are written in the colours it has (`paint`).

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use crossterm::cursor::{Hide, MoveTo, Show};
use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
};
use crossterm::terminal::{
    Clear, ClearType, EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode,
    enable_raw_mode, is_raw_mode_enabled,
};
use crossterm::{execute, queue};

pub mod caps;
pub mod paint;

/// Set while the terminal is in the console's state; `restore` acts once.
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Whether the console captures the mouse, to capture it again after a suspend.
static MOUSE: AtomicBool = AtomicBool::new(false);

/// Holds the terminal in the console's state; dropping it restores the terminal.
pub struct TerminalGuard(());

impl TerminalGuard {
    pub fn enter(mouse: bool) -> io::Result<TerminalGuard> {
        use std::io::IsTerminal;
        if !io::stdout().is_terminal() || !io::stdin().is_terminal() {
            return Err(io::Error::other(
                "the console needs a terminal on stdin and stdout (for scripts, use `ragkeys services …` / `ragkeys keys …`)",
            ));
        }
        MOUSE.store(mouse, Ordering::SeqCst);
        enter_modes()?;
        Ok(TerminalGuard(()))
    }
}

/// Raw mode, the alternate screen, bracketed paste, no cursor, and mouse capture if asked for.
fn enter_modes() -> io::Result<()> {
    enable_raw_mode()?;
    ACTIVE.store(true, Ordering::SeqCst);
    let mut out = io::stdout();
    let entered = execute!(out, EnterAlternateScreen, EnableBracketedPaste, Hide).and_then(|()| {
        if MOUSE.load(Ordering::SeqCst) {
            execute!(out, EnableMouseCapture)
        } else {
            Ok(())
        }
    });
    if let Err(e) = entered {
        restore();
        return Err(e);
    }
    Ok(())
}

/// Takes the terminal back after the process was stopped and continued (`fg`): the shell put
/// the tty back in cooked mode and left the alternate screen while we were stopped, whatever
/// crossterm remembers, so every mode is set again. The caller redraws everything.
pub fn reenter() -> io::Result<()> {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        // crossterm skips enabling raw mode it believes is on: make it forget first.
        let _ = disable_raw_mode();
    }
    enter_modes()
}

/// Ctrl-Z and SIGTSTP (docs/console.md, Keys): restore the terminal, stop the whole process as a
/// shell job (SIGSTOP, since our SIGTSTP handler replaced the default action), and once the
/// shell continues it, take the terminal back. The caller redraws everything.
pub fn suspend() -> io::Result<()> {
    restore();
    // SAFETY: raise only sends a signal to this process; SIGSTOP cannot be caught and returns
    // once SIGCONT arrives.
    unsafe {
        libc::raise(libc::SIGSTOP);
    }
    reenter()
}

/// The real terminal's job control, for the loop.
pub struct Job;

impl crate::console::app::JobControl for Job {
    fn suspend(&mut self) -> io::Result<()> {
        suspend()
    }

    fn resume(&mut self) -> io::Result<()> {
        reenter()
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Puts the terminal back as it was. Safe to call from anywhere, any number of times.
pub fn restore() {
    if !ACTIVE.swap(false, Ordering::SeqCst) {
        return;
    }
    let mut out = io::stdout();
    // Each step on its own: one failing must not keep the others from running.
    let _ = queue!(out, DisableMouseCapture);
    let _ = queue!(out, DisableBracketedPaste);
    let _ = queue!(out, Clear(ClearType::All), MoveTo(0, 0));
    let _ = queue!(out, LeaveAlternateScreen, Show);
    let _ = out.flush();
    if is_raw_mode_enabled().unwrap_or(true) {
        let _ = disable_raw_mode();
    }
}

/// A panic anywhere (the loop or a spawned task) restores the terminal, reports, and exits 101:
/// a console whose task died is not left half-alive on a raw terminal.
pub fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
        std::process::exit(101);
    }));
}
