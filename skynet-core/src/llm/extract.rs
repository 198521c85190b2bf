//! Defensive JSON extraction from a model's answer: the whole text, a
//! fenced code block, or the first balanced `{...}` that parses, in that
//! order. Never panics, whatever the input (a property test checks).

use serde_json::Value;

/// How many `{` positions are tried before giving up (bounds the work on
/// huge or hostile input).
const MAX_CANDIDATES: usize = 32;

/// The first JSON object found in `text`, or `None`.
pub fn json_object(text: &str) -> Option<Value> {
    let text = text.trim().trim_start_matches('\u{feff}');
    if let Some(v) = parse_object(text) {
        return Some(v);
    }
    for block in fenced_blocks(text) {
        if let Some(v) = parse_object(block.trim()) {
            return Some(v);
        }
    }
    balanced_objects(text).find_map(parse_object)
}

fn parse_object(text: &str) -> Option<Value> {
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => Some(v),
        _ => None,
    }
}

/// Contents of ``` fences (an info string like `json` is skipped).
fn fenced_blocks(text: &str) -> impl Iterator<Item = &str> {
    text.split("```")
        .skip(1)
        .step_by(2)
        .map(|block| match block.split_once('\n') {
            Some((info, rest)) if !info.trim_start().starts_with('{') => rest,
            _ => block,
        })
}

/// Substrings from a `{` to its matching `}`, skipping braces in strings.
fn balanced_objects(text: &str) -> impl Iterator<Item = &str> {
    text.char_indices()
        .filter(|(_, c)| *c == '{')
        .take(MAX_CANDIDATES)
        .filter_map(move |(start, _)| {
            matching_end(&text[start..]).map(|end| &text[start..start + end])
        })
}

/// Byte length of the object starting at `s[0] == '{'`, if it closes.
fn matching_end(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '{' => depth += 1,
            '}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plain_fenced_and_prose_wrapped() {
        assert_eq!(json_object(r#"{"a":1}"#).expect("plain")["a"], 1);
        let fenced = "Here is the plan:\n```json\n{\"a\": 2}\n```\nLet me know!";
        assert_eq!(json_object(fenced).expect("fenced")["a"], 2);
        let prose = "Sure! {\"a\": {\"b\": \"}\"}} hope that helps";
        assert_eq!(json_object(prose).expect("prose")["a"]["b"], "}");
    }

    #[test]
    fn nothing_usable() {
        assert!(json_object("").is_none());
        assert!(json_object("I cannot help with that.").is_none());
        assert!(json_object(r#"{"steps": [{"action": "git_st"#).is_none());
        assert!(json_object("[1, 2]").is_none());
        assert!(json_object("}}}{{{").is_none());
    }

    proptest! {
        #[test]
        fn arbitrary_input_never_panics(s in ".{0,400}") {
            let _ = json_object(&s);
        }

        #[test]
        fn arbitrary_json_ish_input_never_panics(s in "[{}\\[\\]\"\\\\:,a-z0-9 `\n]{0,300}") {
            let _ = json_object(&s);
        }

        #[test]
        fn an_object_in_prose_is_found(prefix in "[a-zA-Z .!]{0,40}", n in 0u32..1000) {
            let text = format!("{prefix} {{\"n\": {n}}} trailing words");
            prop_assert_eq!(json_object(&text).map(|v| v["n"].clone()), Some(Value::from(n)));
        }
    }
}
