//! The boundary between the console's pure core (`update`, `view`) and its effectful loop
//! (`app`): messages in, effects out. Nothing here does I/O.

use crossterm::event::{KeyEvent, MouseEvent};

use crate::client::{ApiError, Issued};
use crate::clock::ClockReading;
use crate::credential::Secret;
use crate::wire::{
    ApiKey, ApiKeyList, AuditPage, CreateService, IssueApiKey, LeakAnswer, Me, Narrowing,
    NarrowingCandidate, RotateApiKey, Service, ServiceList, UpdateApiKey, Usage, WhoisAnswer,
};

/// Tags one request; a result whose id is no longer pending (Esc pressed) is dropped by `update`.
pub type RequestId = u64;

/// Everything that can happen to the console.
#[derive(Debug)]
// Messages are moved once, through a channel, and matched at once: boxing the answers (the
// large variant, since keys carry their policy) would add an allocation for nothing.
#[allow(clippy::large_enum_variant)]
pub enum Msg {
    /// A key press (the loop passes presses and repeats only, never releases).
    Key(KeyEvent),
    Mouse(MouseEvent),
    Paste(String),
    Resize {
        width: u16,
        height: u16,
    },
    /// Turns the spinner; the loop sends it only while `Model::needs_tick()` is true.
    Tick,
    /// The service's clock as an answer's `Date` gave it, sent just before that answer's
    /// `Api` (docs/console.md, The service's clock).
    ServiceClock(ClockReading),
    /// The answer to `Effect::Call` with the same id.
    Api {
        id: RequestId,
        result: ApiResult,
    },
    /// What became of an `Effect::Copy`.
    Copied(CopyOutcome),
}

/// One API call the core asks the loop to make.
#[derive(Debug, Clone)]
pub enum ApiCall {
    Me,
    ListServices,
    CreateService(CreateService),
    ListKeys {
        service_id: String,
    },
    /// `idempotency_key` is chosen by `update` and reused when the user retries.
    IssueKey {
        service_id: String,
        body: IssueApiKey,
        idempotency_key: String,
    },
    DeleteKey {
        service_id: String,
        key_id: String,
    },
    /// `POST …/api-keys/{key_id}/rotate` (issue 8); `idempotency_key` as for an issue.
    RotateKey {
        service_id: String,
        key_id: String,
        body: RotateApiKey,
        idempotency_key: String,
    },
    /// `PATCH …/api-keys/{key_id}` (issue 8): disable, enable, rename.
    UpdateKey {
        service_id: String,
        key_id: String,
        body: UpdateApiKey,
    },
    /// One page of `GET /v1/audit` (issue 9): one service's events, or every service's when
    /// `service_id` is `None`; `before` is the previous page's `next`, in the same order.
    AuditPage {
        service_id: Option<String>,
        before: Option<String>,
        /// `order=oldest`: the trail from its oldest end (`End`/`G`).
        oldest_first: bool,
    },
    /// `POST /v1/whois` (issue 9); the key only in the body. `Debug` never shows it.
    Whois(Secret),
    /// `POST /v1/leaks` (docs/api.md, Leaked keys): the key, and where it was found if the
    /// admin said. `Debug` never shows the key.
    ReportLeak {
        key: Secret,
        url: Option<String>,
    },
    /// `GET …/api-keys/{key_id}/usage` (issue 9): for the impact line, Details, and the
    /// attention line's disabled keys.
    KeyUsage {
        service_id: String,
        key_id: String,
    },
    /// The newest page (500 events) of `GET /v1/audit?service_id=`, of which Details shows
    /// `key_id`'s events (issue 9).
    KeyAudit {
        service_id: String,
        key_id: String,
    },
    /// `GET …/api-keys/{key_id}/narrowing` (docs/api.md, Narrowing a key to what it used): the
    /// service's proposal for the key (`candidate` None: for the attention line, kept in
    /// `Model::narrowing`), or its judgement of a candidate policy.
    KeyNarrowing {
        service_id: String,
        key_id: String,
        candidate: Option<NarrowingCandidate>,
    },
}

/// The result of an `ApiCall`, one variant per call.
#[derive(Debug)]
pub enum ApiResult {
    Me(Result<Me, ApiError>),
    Services(Result<ServiceList, ApiError>),
    ServiceCreated(Result<Service, ApiError>),
    Keys {
        service_id: String,
        result: Result<ApiKeyList, ApiError>,
    },
    Issued(Result<Issued, ApiError>),
    KeyDeleted {
        service_id: String,
        key_id: String,
        result: Result<(), ApiError>,
    },
    KeyUpdated(Result<ApiKey, ApiError>),
    /// The successor of a rotation, with its plaintext (moved into the copy popup).
    Rotated(Result<Issued, ApiError>),
    /// A page of the audit trail, for the Audit trail popup.
    AuditPage(Result<AuditPage, ApiError>),
    Whois(Result<WhoisAnswer, ApiError>),
    /// The key a report of a leak disabled.
    Leaked(Result<LeakAnswer, ApiError>),
    Usage {
        key_id: String,
        result: Result<Usage, ApiError>,
    },
    /// The service's newest events; Details keeps those of `key_id`.
    KeyAudit {
        key_id: String,
        result: Result<AuditPage, ApiError>,
    },
    /// The answer to `ApiCall::KeyNarrowing`; the call it answers says whether a candidate was
    /// judged.
    Narrowing {
        key_id: String,
        result: Result<Narrowing, ApiError>,
    },
}

/// How a copy went, for the key popup to say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopyOutcome {
    /// Put on the system clipboard; cleared after `clear_after_secs` if it still holds the key.
    System { clear_after_secs: u64 },
    /// Sent to the terminal as OSC 52, which the terminal does not confirm. `fallback` says
    /// why the system clipboard was not used (it failed, or did not answer within 2 s); `tmux`
    /// that tmux sits between us and the terminal (it must let OSC 52 through); `screen` that
    /// GNU screen does (the bytes went wrapped for its passthrough).
    Osc52 {
        fallback: Option<String>,
        tmux: bool,
        screen: bool,
    },
    /// Copying is switched off (`--clipboard off`).
    Disabled,
    /// It could not be copied, and why.
    Failed(String),
}

/// What `update` asks the loop to do.
#[derive(Debug)]
pub enum Effect {
    Call {
        id: RequestId,
        call: ApiCall,
    },
    /// Copy the key through the clipboard policy; answered by `Msg::Copied`.
    Copy(Secret),
    /// Clear the terminal and draw everything again (Ctrl-L).
    Redraw,
    /// Restore the terminal and stop the process until the shell continues it (Ctrl-Z), then
    /// take the terminal back and draw everything again.
    Suspend,
    Quit,
}
