//! What the tests of `update` and `view` start from: models on each screen, and the service's
//! answers, built through `update` itself.

use chrono::FixedOffset;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::update;
use crate::args::Lang;
use crate::client::{ApiError, Issued};
use crate::console::model::{Model, Options, Tz};
use crate::console::msg::{ApiCall, ApiResult, Effect, Msg, RequestId};
use crate::console::popups::{Focus, Popup};
use crate::credential::{Kind, generate};
use crate::wire::{
    ApiKey, ApiKeyList, ErrorCode, IssueApiKey, IssuedKey, Me, Role, Service, Timestamp,
};

pub(crate) const T0: i64 = 1_795_671_792;

pub(crate) fn model() -> Model {
    let mut m = Model::new(Options {
        lang: Lang::En,
        colors: crate::console::terminal::caps::ColorDepth::Indexed256,
        tz: Tz::Fixed(FixedOffset::east_opt(9 * 3600).unwrap()),
        connection: "local".into(),
    });
    m.now = Timestamp::from_unix(T0);
    m
}

pub(crate) fn key(c: char) -> Msg {
    let mods = if c.is_ascii_uppercase() {
        KeyModifiers::SHIFT
    } else {
        KeyModifiers::NONE
    };
    Msg::Key(KeyEvent::new(KeyCode::Char(c), mods))
}

pub(crate) fn code(c: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

pub(crate) fn ctrl_c() -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL))
}

pub(crate) fn svc(i: u32, keys: u32) -> Service {
    Service {
        id: format!("svc_{i:04}"),
        name: format!("service-{i}"),
        description: format!("Service number {i}"),
        key_count: keys,
        key_limit: 5,
        created_at: Timestamp::from_unix(T0 - i64::from(i) * 3600),
        attention: Some(0),
    }
}

pub(crate) fn api_key(i: u32) -> ApiKey {
    ApiKey {
        id: format!("key_{i:04}"),
        masked: format!("ragk_Ab{i:02}********wXyZ"),
        name: (i % 2 == 0).then(|| format!("key-{i}")),
        state: crate::wire::KeyState::Active,
        created_at: Timestamp::from_unix(T0 - 86_400 + i64::from(i) * 60),
        created_by: "admin".into(),
        expires_at: None,
        last_used_at: (i % 3 == 0).then(|| Timestamp::from_unix(T0 - 3 * 3600)),
        replaced_by: None,
        policy: Default::default(),
        leak: None,
    }
}

/// The ids of the calls among `effects`.
pub(crate) fn calls(effects: &[Effect]) -> Vec<(RequestId, ApiCall)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Call { id, call } => Some((*id, call.clone())),
            _ => None,
        })
        .collect()
}

pub(crate) fn only_call(effects: &[Effect]) -> (RequestId, ApiCall) {
    let c = calls(effects);
    assert_eq!(c.len(), 1, "expected one call, got {effects:?}");
    c[0].clone()
}

pub(crate) fn find_call(effects: &[Effect], f: impl Fn(&ApiCall) -> bool) -> RequestId {
    calls(effects)
        .into_iter()
        .find(|(_, c)| f(c))
        .map(|(id, _)| id)
        .unwrap_or_else(|| panic!("no such call in {effects:?}"))
}

pub(crate) fn api_err(code: ErrorCode, message: &str) -> ApiError {
    ApiError::Api {
        status: code.status(),
        code,
        message: message.into(),
        retry_after: None,
    }
}

pub(crate) fn unreachable() -> ApiError {
    ApiError::Unreachable {
        endpoint: "http://127.0.0.1:9".into(),
        reason: "Connection refused (os error 111)".into(),
    }
}

/// A model on the Services screen with `n` services and `who` as the token's role.
pub(crate) fn on_services(n: u32, role: Role) -> Model {
    let mut m = model();
    let fx = super::start(&mut m);
    let me = find_call(&fx, |c| matches!(c, ApiCall::Me));
    let list = find_call(&fx, |c| matches!(c, ApiCall::ListServices));
    update(
        &mut m,
        Msg::Api {
            id: me,
            result: ApiResult::Me(Ok(Me {
                name: "alice".into(),
                role,
            })),
        },
    );
    let services = (1..=n).map(|i| svc(i, 0)).collect();
    update(
        &mut m,
        Msg::Api {
            id: list,
            result: ApiResult::Services(Ok(crate::wire::ServiceList { services })),
        },
    );
    m
}

/// The answer to a ListKeys call with keys `ids` (newest = highest number).
pub(crate) fn keys_result(service_id: &str, ids: &[u32]) -> ApiResult {
    let mut api_keys: Vec<ApiKey> = ids.iter().map(|i| api_key(*i)).collect();
    api_keys.sort_by_key(|k| std::cmp::Reverse(k.created_at));
    ApiResult::Keys {
        service_id: service_id.into(),
        result: Ok(ApiKeyList {
            api_keys,
            key_limit: 5,
        }),
    }
}

/// A model on API Key management of the first service, with keys `ids`.
pub(crate) fn on_keys(ids: &[u32], role: Role) -> Model {
    let mut m = on_services(3, role);
    let fx = update(&mut m, code(KeyCode::Enter));
    let (id, call) = only_call(&fx);
    assert!(matches!(call, ApiCall::ListKeys { ref service_id } if service_id == "svc_0001"));
    let fx = update(
        &mut m,
        Msg::Api {
            id,
            result: keys_result("svc_0001", ids),
        },
    );
    answer_narrowing(&mut m, &fx, |_| None);
    m
}

/// Answers the narrowing requests among `fx`: `proposed(key_id)` is the service's proposal, or
/// None for "nothing to narrow" (the proposal is the key's policy).
pub(crate) fn answer_narrowing(
    m: &mut Model,
    fx: &[Effect],
    proposed: impl Fn(&str) -> Option<crate::policy::Policy>,
) {
    for (id, call) in calls(fx) {
        if let ApiCall::KeyNarrowing { key_id, .. } = call {
            let current = m
                .keys
                .as_ref()
                .and_then(|k| k.keys().iter().find(|k| k.id == key_id))
                .map(|k| k.policy.clone())
                .unwrap_or_default();
            let proposal = proposed(&key_id).unwrap_or_else(|| current.clone());
            respond(
                m,
                id,
                ApiResult::Narrowing {
                    key_id,
                    result: Ok(crate::wire::Narrowing {
                        current,
                        proposed: Some(proposal),
                        reasons: Vec::new(),
                        would_refuse_30d: Some(0),
                    }),
                },
            );
        }
    }
}

pub(crate) fn issued(i: u32) -> ApiResult {
    let k = api_key(i);
    ApiResult::Issued(Ok(Issued {
        key: IssuedKey {
            api_key: k,
            key: generate(Kind::ApiKey),
        },
        replayed: false,
    }))
}

pub(crate) fn top(m: &Model) -> &Popup {
    m.popups.last().unwrap_or_else(|| panic!("no popup"))
}

pub(crate) fn focus(m: &Model) -> Option<Focus> {
    m.popups.last().and_then(Popup::focus)
}

/// Whether `effects` is exactly the usage request of `key_id` that a stopping popup sends when
/// it opens (issue 9, the impact line).
pub(crate) fn only_usage(effects: &[Effect], key_id: &str) -> bool {
    matches!(calls(effects).as_slice(), [(_, ApiCall::KeyUsage { key_id: k, .. })] if k == key_id)
}

/// Request `id` answered with `result`: what `update` asks for next.
pub(crate) fn respond(m: &mut Model, id: RequestId, result: ApiResult) -> Vec<Effect> {
    update(m, Msg::Api { id, result })
}

/// The footer's notice, as text.
pub(crate) fn notice(m: &Model) -> Option<&str> {
    m.notice.as_ref().map(|n| n.text.as_str())
}

/// The one issue among `fx`: its request, body and Idempotency-Key.
pub(crate) fn issue_sent(fx: &[Effect]) -> (RequestId, IssueApiKey, String) {
    match only_call(fx) {
        (
            id,
            ApiCall::IssueKey {
                body,
                idempotency_key,
                ..
            },
        ) => (id, body, idempotency_key),
        other => panic!("expected an issue, got {other:?}"),
    }
}
