//! All the console's state. `update` changes it, `view` and `layout` only read it.

use std::collections::BTreeMap;

use tui_input::Input;

use crate::args::Lang;
use crate::charset::Charset;
pub use crate::console::format::Tz;
use crate::console::i18n::Catalog;
use crate::console::keymap::{Context, Keymap};
use crate::console::msg::{ApiCall, RequestId};
use crate::console::popups::Popup;
use crate::console::terminal::caps::ColorDepth;
use crate::wire::{ApiKey, ApiKeyList, Me, Role, Service, Timestamp};

/// The smallest terminal the console draws into; below it, a "terminal too small" screen.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 16;

/// The frames of the spinner shown while a request is in flight.
pub const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
/// The spinner where only 7-bit ASCII may be drawn.
pub const ASCII_SPINNER: [&str; 4] = ["|", "/", "-", "\\"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Services,
    Keys,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    Info,
    Success,
    Error,
    /// A load that failed: no longer true once a load succeeds.
    LoadError,
    /// About the connection itself (`--insecure`, plain http): stays until replaced.
    Warning,
}

/// The footer's latest message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub kind: NoticeKind,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ServicesFocus {
    #[default]
    Table,
    CreateButton,
    Filter,
}

#[derive(Debug, Default)]
pub struct ServicesView {
    /// None until the first answer.
    pub list: Option<Vec<Service>>,
    /// Why the last load failed, shown in place of the table until the next success.
    pub error: Option<String>,
    /// Index into `visible()`.
    pub selected: usize,
    pub offset: usize,
    pub focus: ServicesFocus,
    pub filter: Input,
    /// A service to select when the next list arrives (one just created).
    pub want: Option<String>,
    /// What this session learnt of services' attention since the services list arrived: from
    /// a key list opened here, or a leak reported here. A listing that carries `attention`
    /// replaces it; one from a service older than that field keeps it (docs/console.md,
    /// Services).
    pub attention: BTreeMap<String, bool>,
}

impl ServicesView {
    /// Whether `s` carries the `!` beside its Keys count: what this session learnt since the
    /// list arrived, else the service's own count; an older service that sends no count and
    /// was never opened here reads as no `!`.
    pub fn needs_attention(&self, s: &Service) -> bool {
        match self.attention.get(&s.id) {
            Some(known) => *known,
            None => s.attention.is_some_and(|n| n > 0),
        }
    }

    /// The services the filter lets through, in the service's order.
    pub fn visible(&self) -> Vec<&Service> {
        let needle = self.filter.value().trim().to_lowercase();
        self.list
            .iter()
            .flatten()
            .filter(|s| {
                needle.is_empty()
                    || s.id.to_lowercase().contains(&needle)
                    || s.name.to_lowercase().contains(&needle)
            })
            .collect()
    }

    pub fn selected_service(&self) -> Option<&Service> {
        self.visible().get(self.selected).copied()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeysFocus {
    Table,
    IssueButton,
}

/// Which row to select when the next list arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Want {
    /// This key (one just issued, or the one selected before a refresh).
    Id(String),
    /// The row at this index, or the last one (after a delete).
    Index(usize),
}

#[derive(Debug)]
pub struct KeysView {
    pub service: Service,
    pub list: Option<ApiKeyList>,
    pub error: Option<String>,
    pub selected: usize,
    pub offset: usize,
    pub focus: KeysFocus,
    pub want: Option<Want>,
}

impl KeysView {
    pub fn new(service: Service) -> Self {
        KeysView {
            service,
            list: None,
            error: None,
            selected: 0,
            offset: 0,
            focus: KeysFocus::Table,
            want: None,
        }
    }

    pub fn keys(&self) -> &[ApiKey] {
        self.list.as_ref().map_or(&[], |l| &l.api_keys)
    }

    pub fn selected_key(&self) -> Option<&ApiKey> {
        self.keys().get(self.selected)
    }

    pub fn limit(&self) -> u32 {
        self.list
            .as_ref()
            .map_or(self.service.key_limit, |l| l.key_limit)
    }

    /// The slots in use: a rotated key (one with `replaced_by`) shares its successor's slot
    /// during its grace (docs/api.md, Key lifecycle), so it is not counted.
    pub fn count(&self) -> u32 {
        self.list
            .as_ref()
            .map_or(self.service.key_count, |l| slots_used(&l.api_keys))
    }

    pub fn at_limit(&self) -> bool {
        self.list.is_some() && self.count() >= self.limit()
    }
}

pub use crate::wire::slots_used;

/// What the loop knows when it starts the console.
#[derive(Debug, Clone)]
pub struct Options {
    pub lang: Lang,
    /// The colours the terminal has (docs/console.md, Terminal capabilities).
    pub colors: ColorDepth,
    pub tz: Tz,
    /// `local` for the embedded service, else the endpoint's host.
    pub connection: String,
}

#[derive(Debug)]
pub struct Model {
    pub tr: &'static Catalog,
    pub keymap: &'static Keymap,
    pub colors: ColorDepth,
    /// UTF-8, or 7-bit ASCII in English (docs/console.md, Locale).
    pub charset: Charset,
    pub tz: Tz,
    /// Now on the service's clock: this machine's clock at the loop's last wake-up, less
    /// `skew`. Every relative time ("3 h ago", "expires in 3 d", a grace's end, an expiry to
    /// send) counts from it (docs/console.md, The service's clock).
    pub now: Timestamp,
    /// Seconds this machine's clock is ahead of the service's (negative: behind), as the
    /// latest answer's `Date` showed it; 0 until then.
    pub skew: i64,
    pub connection: String,
    pub me: Option<Me>,
    pub screen: Screen,
    pub services: ServicesView,
    pub keys: Option<KeysView>,
    pub popups: Vec<Popup>,
    /// Requests in flight, with what they ask (for retries). A result whose id is not here is
    /// dropped.
    pub pending: BTreeMap<RequestId, ApiCall>,
    /// Issues and rotations abandoned with Esc, with their service: a key they still make is
    /// shown when it arrives (docs/console.md, A request abandoned with Esc).
    pub abandoned_issues: BTreeMap<RequestId, String>,
    /// Keys made by abandoned requests, waiting for the popups above the screen to close before
    /// their copy popup opens; each holds its only plaintext, wiped when dropped.
    pub late_keys: Vec<(String, crate::client::Issued)>,
    /// What is known of keys' usage, by key id (issue 9): for the impact line, Details, and the
    /// attention line. Key ids are unique across services.
    pub usage: BTreeMap<String, crate::console::usage::UsageState>,
    /// The service's narrowing proposal of each listed key, by key id, for the attention line's
    /// "could be narrowed" (docs/console.md, API Key management). A key whose answer failed has
    /// no entry.
    pub narrowing: BTreeMap<String, crate::wire::Narrowing>,
    pub next_id: RequestId,
    pub notice: Option<Notice>,
    pub width: u16,
    pub height: u16,
    pub spinner: usize,
    /// Something visible changed since the last draw.
    pub dirty: bool,
    pub quit: bool,
}

impl Model {
    pub fn new(opts: Options) -> Model {
        Model {
            tr: Catalog::get(opts.lang),
            keymap: Keymap::default_map(),
            colors: opts.colors,
            charset: Charset::Utf8,
            tz: opts.tz,
            now: Timestamp::now(),
            skew: 0,
            connection: opts.connection,
            me: None,
            screen: Screen::Services,
            services: ServicesView::default(),
            keys: None,
            popups: Vec::new(),
            pending: BTreeMap::new(),
            abandoned_issues: BTreeMap::new(),
            late_keys: Vec::new(),
            usage: BTreeMap::new(),
            narrowing: BTreeMap::new(),
            next_id: 1,
            notice: None,
            width: 100,
            height: 30,
            spinner: 0,
            dirty: true,
            quit: false,
        }
    }

    /// The loop's reading of this machine's clock: `now` becomes the service's now.
    pub fn set_local_now(&mut self, local: Timestamp) {
        self.now = Timestamp::from_unix(local.unix() - self.skew);
    }

    /// A tick (for the spinner) is needed only while a request is in flight.
    pub fn needs_tick(&self) -> bool {
        !self.pending.is_empty()
    }

    pub fn spinner_frame(&self) -> &'static str {
        match self.charset {
            Charset::Utf8 => SPINNER[self.spinner % SPINNER.len()],
            Charset::Ascii => ASCII_SPINNER[self.spinner % ASCII_SPINNER.len()],
        }
    }

    /// Whether the terminal shows no colour (docs/console.md, Terminal capabilities): marks
    /// that colour carries elsewhere are then drawn as signs.
    pub fn monochrome(&self) -> bool {
        self.colors == ColorDepth::None
    }

    /// Draws with 7-bit ASCII only, and so in English: no other catalog reads in ASCII.
    pub fn use_ascii(&mut self) {
        self.charset = Charset::Ascii;
        self.tr = Catalog::ascii();
    }

    pub fn too_small(&self) -> bool {
        self.width < MIN_WIDTH || self.height < MIN_HEIGHT
    }

    /// Unknown roles may try: the service has the last word and answers 403.
    pub fn can_manage(&self) -> bool {
        self.me.as_ref().is_none_or(|m| m.role == Role::Manager)
    }

    pub fn is_viewer(&self) -> bool {
        self.me.as_ref().is_some_and(|m| m.role == Role::Viewer)
    }

    /// Where a key pressed now would land.
    pub fn context(&self) -> Context {
        match self.popups.last() {
            // The top popup says where its keys land.
            Some(p) => p.context(),
            None => match self.screen {
                Screen::Services if self.services.focus == ServicesFocus::Filter => Context::Filter,
                Screen::Services => Context::Services,
                Screen::Keys => Context::Keys,
            },
        }
    }

    pub fn notice(&mut self, kind: NoticeKind, text: impl Into<String>) {
        self.notice = Some(Notice {
            kind,
            text: text.into(),
        });
    }

    /// Allocates an id for a call and records it as pending.
    pub fn start(&mut self, call: ApiCall) -> (RequestId, ApiCall) {
        let id = self.next_id;
        self.next_id += 1;
        self.pending.insert(id, call.clone());
        (id, call)
    }
}
