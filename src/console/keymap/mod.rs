//! (context, key) → action. The default bindings are data (`assets/keymap.toml`, compiled in);
//! the help popup and the footer hints are generated from the same map that handles the keys.

use std::sync::OnceLock;

use crossterm::event::KeyEvent;
use serde::Deserialize;

mod key;
pub use key::Key;

const DEFAULT: &str = include_str!("../../../assets/keymap.toml");

/// What a key asks for. Each context decides what the action means there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    ForceQuit,
    /// Ctrl-L: clear and redraw the whole screen.
    Redraw,
    /// Ctrl-Z: restore the terminal and stop, as a shell's job.
    Suspend,
    Up,
    Down,
    First,
    Last,
    PageUp,
    PageDown,
    NextFocus,
    PrevFocus,
    Press,
    Submit,
    Refresh,
    Help,
    Back,
    Quit,
    Cancel,
    CreateService,
    Filter,
    Issue,
    Delete,
    Menu,
    /// Disable (after a confirmation) or enable (at once) the selected key (issue 8).
    ToggleEnabled,
    /// `e`: the Rename popup of the selected key (issue 8).
    Rename,
    /// `R`: the Rotate API Key popup of the selected key (issue 8).
    Rotate,
    /// On a choice (the grace of a rotation, the expiry of an issue): the option to the left.
    ChoicePrev,
    /// On a choice: the option to the right.
    ChoiceNext,
    /// `a`: the Audit trail popup (issue 9).
    Audit,
    /// `w`: the Who owns this key? popup (issue 9).
    Whois,
    /// `v`: the selected key's Details (issue 9).
    Details,
    /// `p`: Edit access of the selected key (scopes, rate limit, allowed networks).
    Access,
    /// On a check box: check or uncheck it.
    Toggle,
}

impl Action {
    /// The catalog key of this action's name (`action.…` long, `hint.…` short).
    pub fn name(self) -> &'static str {
        match self {
            Action::ForceQuit => "force_quit",
            Action::Redraw => "redraw",
            Action::Suspend => "suspend",
            Action::Up => "up",
            Action::Down => "down",
            Action::First => "first",
            Action::Last => "last",
            Action::PageUp => "page_up",
            Action::PageDown => "page_down",
            Action::NextFocus => "next_focus",
            Action::PrevFocus => "prev_focus",
            Action::Press => "press",
            Action::Submit => "submit",
            Action::Refresh => "refresh",
            Action::Help => "help",
            Action::Back => "back",
            Action::Quit => "quit",
            Action::Cancel => "cancel",
            Action::CreateService => "create_service",
            Action::Filter => "filter",
            Action::Issue => "issue",
            Action::Delete => "delete",
            Action::Menu => "menu",
            Action::ToggleEnabled => "toggle_enabled",
            Action::Rename => "rename",
            Action::Rotate => "rotate",
            Action::ChoicePrev => "choice_prev",
            Action::ChoiceNext => "choice_next",
            Action::Audit => "audit",
            Action::Whois => "whois",
            Action::Details => "details",
            Action::Access => "access",
            Action::Toggle => "toggle",
        }
    }
}

/// Where a key is pressed; decides which bindings apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Services,
    Keys,
    Filter,
    Popup,
    Field,
    Menu,
    Help,
    /// A popup whose focus is on a choice of options (←/→ change it).
    Choice,
    /// The Audit trail popup (issue 9): scrolling, `/`, `r`, Esc.
    Audit,
    /// The Details popup (issue 9): scrolling, Esc.
    Details,
    /// A popup whose focus is on a check box (Access: Custom…): Space toggles it.
    Check,
}

#[derive(Debug, Clone)]
pub struct Binding {
    pub action: Action,
    pub keys: Vec<Key>,
}

#[derive(Debug, Deserialize)]
struct RawBinding {
    action: Action,
    keys: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
struct RawFooter {
    services: Vec<Action>,
    keys: Vec<Action>,
    filter: Vec<Action>,
    popup: Vec<Action>,
    field: Vec<Action>,
    menu: Vec<Action>,
    help: Vec<Action>,
    #[serde(default)]
    choice: Vec<Action>,
    #[serde(default)]
    audit: Vec<Action>,
    #[serde(default)]
    details: Vec<Action>,
    #[serde(default)]
    check: Vec<Action>,
}

#[derive(Debug, Deserialize)]
struct RawKeymap {
    global: Vec<RawBinding>,
    list: Vec<RawBinding>,
    services: Vec<RawBinding>,
    keys: Vec<RawBinding>,
    filter: Vec<RawBinding>,
    popup: Vec<RawBinding>,
    field: Vec<RawBinding>,
    menu: Vec<RawBinding>,
    help: Vec<RawBinding>,
    #[serde(default)]
    choice: Vec<RawBinding>,
    #[serde(default)]
    audit: Vec<RawBinding>,
    #[serde(default)]
    details: Vec<RawBinding>,
    #[serde(default)]
    check: Vec<RawBinding>,
    footer: RawFooter,
}

#[derive(Debug, Default)]
pub struct Keymap {
    global: Vec<Binding>,
    list: Vec<Binding>,
    services: Vec<Binding>,
    keys: Vec<Binding>,
    filter: Vec<Binding>,
    popup: Vec<Binding>,
    field: Vec<Binding>,
    menu: Vec<Binding>,
    help: Vec<Binding>,
    choice: Vec<Binding>,
    audit: Vec<Binding>,
    details: Vec<Binding>,
    check: Vec<Binding>,
    footer: RawFooter,
}

fn convert(raw: Vec<RawBinding>) -> Result<Vec<Binding>, String> {
    raw.into_iter()
        .map(|b| {
            let keys = b
                .keys
                .iter()
                .map(|k| Key::parse(k).ok_or_else(|| format!("unknown key {k:?}")))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Binding {
                action: b.action,
                keys,
            })
        })
        .collect()
}

impl Keymap {
    pub fn parse(src: &str) -> Result<Keymap, String> {
        let raw: RawKeymap = toml::from_str(src).map_err(|e| e.to_string())?;
        Ok(Keymap {
            global: convert(raw.global)?,
            list: convert(raw.list)?,
            services: convert(raw.services)?,
            keys: convert(raw.keys)?,
            filter: convert(raw.filter)?,
            popup: convert(raw.popup)?,
            field: convert(raw.field)?,
            menu: convert(raw.menu)?,
            help: convert(raw.help)?,
            choice: convert(raw.choice)?,
            audit: convert(raw.audit)?,
            details: convert(raw.details)?,
            check: convert(raw.check)?,
            footer: raw.footer,
        })
    }

    /// The compiled-in default map (checked by a test, so it always parses).
    pub fn default_map() -> &'static Keymap {
        static MAP: OnceLock<Keymap> = OnceLock::new();
        MAP.get_or_init(|| Keymap::parse(DEFAULT).unwrap_or_default())
    }

    /// The binding groups of a context, in the order they are consulted.
    pub fn groups(&self, ctx: Context) -> Vec<&[Binding]> {
        match ctx {
            Context::Services => vec![&self.global, &self.services, &self.list],
            Context::Keys => vec![&self.global, &self.keys, &self.list],
            Context::Filter => vec![&self.global, &self.filter],
            Context::Popup => vec![&self.global, &self.popup],
            Context::Field => vec![&self.global, &self.field],
            Context::Menu => vec![&self.global, &self.menu],
            Context::Help => vec![&self.global, &self.help],
            Context::Choice => vec![&self.global, &self.choice],
            Context::Audit => vec![&self.global, &self.audit],
            Context::Details => vec![&self.global, &self.details],
            Context::Check => vec![&self.global, &self.check],
        }
    }

    /// Whether some context binds this key with Alt: only then does an Esc arriving together
    /// with the key read as Alt and the key (docs/console.md, Slow links).
    pub fn binds_alt(&self, ev: &KeyEvent) -> bool {
        [
            &self.global,
            &self.list,
            &self.services,
            &self.keys,
            &self.filter,
            &self.popup,
            &self.field,
            &self.menu,
            &self.help,
            &self.choice,
            &self.audit,
            &self.details,
            &self.check,
        ]
        .into_iter()
        .flatten()
        .any(|b| b.keys.iter().any(|k| k.alt && k.matches(ev)))
    }

    pub fn action(&self, ctx: Context, ev: &KeyEvent) -> Option<Action> {
        self.groups(ctx)
            .into_iter()
            .flatten()
            .find(|b| b.keys.iter().any(|k| k.matches(ev)))
            .map(|b| b.action)
    }

    /// Every binding of a context, for the help popup: (keys as shown, action).
    pub fn help(&self, ctx: Context) -> Vec<(String, Action)> {
        let mut out: Vec<(String, Action)> = Vec::new();
        for b in self.groups(ctx).into_iter().flatten() {
            let keys: Vec<String> = b.keys.iter().map(Key::label).collect();
            out.push((keys.join(" / "), b.action));
        }
        out
    }

    /// What the footer shows in a context: (first key, action).
    pub fn footer(&self, ctx: Context) -> Vec<(String, Action)> {
        let wanted = match ctx {
            Context::Services => &self.footer.services,
            Context::Keys => &self.footer.keys,
            Context::Filter => &self.footer.filter,
            Context::Popup => &self.footer.popup,
            Context::Field => &self.footer.field,
            Context::Menu => &self.footer.menu,
            Context::Help => &self.footer.help,
            Context::Choice => &self.footer.choice,
            Context::Audit => &self.footer.audit,
            Context::Details => &self.footer.details,
            Context::Check => &self.footer.check,
        };
        let groups = self.groups(ctx);
        wanted
            .iter()
            .filter_map(|a| {
                groups
                    .iter()
                    .flat_map(|g| g.iter())
                    .find(|b| b.action == *a)
                    .and_then(|b| b.keys.first())
                    .map(|k| (k.label(), *a))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::{KeyCode, KeyModifiers};

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn the_default_map_parses() {
        let map = Keymap::parse(DEFAULT);
        assert!(map.is_ok(), "{:?}", map.err());
    }

    #[test]
    fn the_keys_of_console_md_are_bound() {
        let m = Keymap::default_map();
        let keys = Context::Keys;
        assert_eq!(m.action(keys, &key(KeyCode::Char('j'))), Some(Action::Down));
        assert_eq!(m.action(keys, &key(KeyCode::Down)), Some(Action::Down));
        assert_eq!(m.action(keys, &key(KeyCode::Char('k'))), Some(Action::Up));
        assert_eq!(
            m.action(keys, &key(KeyCode::Char('g'))),
            Some(Action::First)
        );
        let shift_g = KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT);
        assert_eq!(m.action(keys, &shift_g), Some(Action::Last));
        assert_eq!(
            m.action(keys, &key(KeyCode::PageDown)),
            Some(Action::PageDown)
        );
        assert_eq!(
            m.action(keys, &key(KeyCode::Char('i'))),
            Some(Action::Issue)
        );
        assert_eq!(m.action(keys, &key(KeyCode::Delete)), Some(Action::Delete));
        assert_eq!(
            m.action(keys, &key(KeyCode::Char('d'))),
            Some(Action::Delete)
        );
        assert_eq!(m.action(keys, &key(KeyCode::Char('m'))), Some(Action::Menu));
        assert_eq!(m.action(keys, &key(KeyCode::Char('c'))), None);
        assert_eq!(
            m.action(Context::Services, &key(KeyCode::Char('c'))),
            Some(Action::CreateService)
        );
        assert_eq!(
            m.action(Context::Services, &key(KeyCode::Char('/'))),
            Some(Action::Filter)
        );
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        for ctx in [
            Context::Services,
            Context::Keys,
            Context::Field,
            Context::Popup,
            Context::Help,
        ] {
            assert_eq!(m.action(ctx, &ctrl_c), Some(Action::ForceQuit));
        }
        // Terminal manners work everywhere, text fields included (docs/console.md, Keys).
        let ctrl_l = KeyEvent::new(KeyCode::Char('l'), KeyModifiers::CONTROL);
        let ctrl_z = KeyEvent::new(KeyCode::Char('z'), KeyModifiers::CONTROL);
        for ctx in [
            Context::Services,
            Context::Keys,
            Context::Filter,
            Context::Field,
            Context::Popup,
            Context::Menu,
            Context::Help,
        ] {
            assert_eq!(m.action(ctx, &ctrl_l), Some(Action::Redraw));
            assert_eq!(m.action(ctx, &ctrl_z), Some(Action::Suspend));
        }
        let shift_tab = KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT);
        assert_eq!(
            m.action(Context::Popup, &shift_tab),
            Some(Action::PrevFocus)
        );
        // Letters are not shortcuts in a text field.
        assert_eq!(m.action(Context::Field, &key(KeyCode::Char('q'))), None);
        assert_eq!(m.action(Context::Filter, &key(KeyCode::Char('?'))), None);
    }

    #[test]
    fn help_and_footer_come_from_the_map() {
        let m = Keymap::default_map();
        let help = m.help(Context::Keys);
        assert!(help.contains(&("d / Delete".to_string(), Action::Delete)));
        assert!(help.contains(&("↑ / k".to_string(), Action::Up)));
        assert!(help.contains(&("Ctrl-C".to_string(), Action::ForceQuit)));
        assert!(help.contains(&("Ctrl-L".to_string(), Action::Redraw)));
        assert!(help.contains(&("Ctrl-Z".to_string(), Action::Suspend)));
        let footer = m.footer(Context::Services);
        assert_eq!(footer.first(), Some(&("Enter".to_string(), Action::Press)));
    }

    #[test]
    fn a_patched_map_changes_what_keys_do() {
        let patched = DEFAULT.replace(
            "{ action = \"issue\", keys = [\"i\"] }",
            "{ action = \"issue\", keys = [\"n\"] }",
        );
        let m = Keymap::parse(&patched).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            m.action(Context::Keys, &key(KeyCode::Char('n'))),
            Some(Action::Issue)
        );
        assert_eq!(m.action(Context::Keys, &key(KeyCode::Char('i'))), None);
        assert!(
            m.help(Context::Keys)
                .contains(&("n".to_string(), Action::Issue))
        );
    }
}
