//! The console: its real event loop driven by scripted keys (`flow`), and the real binary in a
//! real terminal (tmux) or on a pseudo-terminal read back through a terminal emulator.

#[path = "../common/mod.rs"]
mod common;

mod ascii_locale;
mod console_md_words;
mod flow;
mod gnu_screen;
mod hard_text;
mod hostile_service;
mod older_service;
mod scroll_bytes;
mod service_clock;
mod several_consoles;
mod slow_links;
mod terminal_capabilities;
mod terminal_manners;
mod tmux_copy_and_delete;
mod tmux_late_and_long;
mod tmux_narrow;
mod tmux_rotate;
mod tmux_service_attention;
