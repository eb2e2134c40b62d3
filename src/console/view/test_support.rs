//! What the view's tests draw with: a model drawn at a size, its screen as text, and the
//! snapshot of a screen in English and Korean at 100×30 and 60×16 (`snapshots/`, named
//! explicitly, so they do not depend on the test's module). Plaintext keys are redacted by a
//! filter before comparison.

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;

use crate::args::Lang;
use crate::console::i18n::Catalog;
use crate::console::model::Model;
use crate::console::msg::{ApiResult, Msg};
use crate::console::update::fixtures::*;
use crate::console::update::update;
use crate::console::view::view;
use crate::wire::{Role, Service, ServiceList};

/// The screen as text, one line per row; a wide character's second cell is not repeated.
pub fn screen_text(buf: &Buffer) -> String {
    let mut out = String::new();
    for y in 0..buf.area.height {
        let mut skip = 0;
        let mut line = String::new();
        for x in 0..buf.area.width {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            let sym = buf[(x, y)].symbol();
            skip = crate::console::text::width(sym).saturating_sub(1);
            line.push_str(sym);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

pub(super) fn draw(m: &mut Model, w: u16, h: u16) -> Buffer {
    update(
        m,
        Msg::Resize {
            width: w,
            height: h,
        },
    );
    let mut t = match Terminal::new(TestBackend::new(w, h)) {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    };
    if let Err(e) = t.draw(|f| view(m, f)) {
        panic!("{e}");
    }
    t.backend().buffer().clone()
}

pub(super) fn with_lang(mut m: Model, lang: Lang) -> Model {
    m.tr = Catalog::get(lang);
    m
}

pub(super) fn snapshot(name: &str, build: impl Fn(Lang) -> Model) {
    for lang in [Lang::En, Lang::Ko] {
        for (w, h) in [(100u16, 30u16), (60, 16)] {
            let mut m = build(lang);
            let text = screen_text(&draw(&mut m, w, h));
            let tag = format!("{name}__{}_{w}x{h}", format!("{lang:?}").to_lowercase());
            insta::with_settings!({
                filters => vec![(r"ragk_[0-9A-Za-z]{36}", "[API KEY]")],
                prepend_module_to_snapshot => false,
                omit_expression => true,
            }, {
                insta::assert_snapshot!(tag, text);
            });
        }
    }
}

/// The snapshot of a screen in the ASCII theme (a C locale), at 100×30 and 60×16.
pub(super) fn snapshot_ascii(name: &str, build: impl Fn() -> Model) {
    for (w, h) in [(100u16, 30u16), (60, 16)] {
        let mut m = build();
        m.use_ascii();
        let text = screen_text(&draw(&mut m, w, h));
        let tag = format!("{name}__ascii_{w}x{h}");
        insta::with_settings!({
            filters => vec![(r"ragk_[0-9A-Za-z]{36}", "[API KEY]")],
            prepend_module_to_snapshot => false,
            omit_expression => true,
        }, {
            insta::assert_snapshot!(tag, text);
        });
    }
}

pub(super) fn keys_with(ids: &[u32], role: Role, lang: Lang) -> Model {
    let mut m = with_lang(on_keys(ids, role), lang);
    if let Some(k) = m.keys.as_mut()
        && let Some(l) = k.list.as_mut()
        && let Some(first) = l.api_keys.first_mut()
    {
        first.name = Some("배포용 키".into());
    }
    m
}

pub(super) fn services_with_wide_names(lang: Lang) -> Model {
    let mut m = with_lang(on_services(0, Role::Manager), lang);
    let mut list: Vec<Service> = (1..=3).map(|i| svc(i, i)).collect();
    list[1].name = "검색서비스".into();
    list[1].description = "社内文書の検索サービス".into();
    let (id, _) = only_call(&update(&mut m, key('r')));
    update(
        &mut m,
        Msg::Api {
            id,
            result: ApiResult::Services(Ok(ServiceList { services: list })),
        },
    );
    m
}
