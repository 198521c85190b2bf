//! `docs/events.md` documents the catalogue the code has: every type, once,
//! with its payload struct, and nothing else.

use skynet_core::events::{ALL_EVENT_TYPES, EventPayload};
use std::collections::BTreeMap;

/// The first two backticked cells of each row of the table under `heading`.
fn table(doc: &str, heading: &str) -> Vec<(String, String)> {
    let section = doc
        .split("\n## ")
        .find(|s| s.starts_with(heading))
        .unwrap_or_else(|| panic!("docs/events.md has no `## {heading}` section"));
    section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let unquote = |c: &str| c.trim_matches('`').to_string();
            (unquote(cells[1]), unquote(cells[2]))
        })
        .collect()
}

#[test]
fn the_catalogue_page_matches_the_code() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/events.md"))
        .expect("docs/events.md");
    let documented = table(&doc, "Types");
    let names: Vec<&str> = documented.iter().map(|(n, _)| n.as_str()).collect();
    let code: Vec<&str> = ALL_EVENT_TYPES.iter().map(|t| t.as_str()).collect();
    assert_eq!(names, code, "the Types table lists the catalogue, in order");
    for (t, (_, payload)) in ALL_EVENT_TYPES.iter().zip(&documented) {
        assert_eq!(
            payload,
            EventPayload::struct_name(*t),
            "{t}'s payload in docs/events.md"
        );
    }
    let payloads: BTreeMap<String, String> = table(&doc, "Payloads").into_iter().collect();
    for t in ALL_EVENT_TYPES {
        let name = EventPayload::struct_name(t);
        assert!(
            payloads.contains_key(name),
            "docs/events.md documents {name}'s fields"
        );
    }
}
