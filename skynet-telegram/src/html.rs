//! Telegram's HTML parse mode: escaping and splitting under the message
//! limit without ever cutting a tag or an entity in two.
//!
//! A message is built from [`Block`]s. Markup blocks hold bounded text the
//! renderer escaped itself; anything a job, a plan or a model produced goes
//! in a [`Block::Text`] or [`Block::Pre`], which is escaped here and, when
//! too long, split into several self-contained pieces.

/// Telegram's limit on a message's text (UTF-16 code units; the HTML
/// source is never shorter than the text it parses to).
pub const MAX_MESSAGE: usize = 4096;

/// Escape text for HTML parse mode (`&`, `<`, `>` and `"`).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        push_escaped(&mut out, c);
    }
    out
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '"' => out.push_str("&quot;"),
        c => out.push(c),
    }
}

fn escaped_len(c: char) -> usize {
    match c {
        '&' => 5,
        '<' | '>' => 4,
        '"' => 6,
        c => c.len_utf16(),
    }
}

/// Length as Telegram counts it.
pub fn units(text: &str) -> usize {
    text.encode_utf16().count()
}

/// Escaped text cut to at most `max` characters (an ellipsis marks the cut).
pub fn short(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return escape(text);
    }
    let cut: String = text.chars().take(max.saturating_sub(1)).collect();
    format!("{}…", escape(&cut))
}

/// One piece of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// Markup written by the renderer (already escaped, bounded, tags closed).
    Html(String),
    /// Plain text of any length, escaped here.
    Text(String),
    /// Preformatted text of any length (logs, commands), escaped here and
    /// wrapped in `<pre>`.
    Pre(String),
}

impl Block {
    fn render(&self) -> String {
        match self {
            Block::Html(h) => h.clone(),
            Block::Text(t) => escape(t),
            Block::Pre(t) => format!("<pre>{}</pre>", escape(t)),
        }
    }
}

/// The blocks as messages of at most `limit` units each, blocks joined by
/// newlines. A block longer than a message is split into several, each
/// valid on its own.
pub fn pack(blocks: &[Block], limit: usize) -> Vec<String> {
    let mut messages = Vec::new();
    let mut current = String::new();
    let push = |piece: String, current: &mut String, messages: &mut Vec<String>| {
        let extra = usize::from(!current.is_empty());
        if !current.is_empty() && units(current) + extra + units(&piece) > limit {
            messages.push(std::mem::take(current));
        }
        if !current.is_empty() {
            current.push('\n');
        }
        current.push_str(&piece);
    };
    for block in blocks {
        let rendered = block.render();
        if units(&rendered) <= limit {
            push(rendered, &mut current, &mut messages);
            continue;
        }
        for piece in split_block(block, limit) {
            push(piece, &mut current, &mut messages);
        }
    }
    if !current.is_empty() || messages.is_empty() {
        messages.push(current);
    }
    messages
}

/// A long block as pieces of at most `limit` units.
fn split_block(block: &Block, limit: usize) -> Vec<String> {
    let (raw, open, close) = match block {
        Block::Text(t) => (t.as_str(), "", ""),
        Block::Pre(t) => (t.as_str(), "<pre>", "</pre>"),
        // Markup is bounded by the renderer; if one ever is not, its text
        // is sent escaped rather than cut inside a tag.
        Block::Html(h) => (h.as_str(), "", ""),
    };
    let budget = limit.saturating_sub(open.len() + close.len()).max(8);
    let mut pieces = Vec::new();
    let mut piece = String::new();
    let mut used = 0;
    for c in raw.chars() {
        let n = escaped_len(c);
        if used + n > budget {
            pieces.push(format!("{open}{piece}{close}"));
            piece.clear();
            used = 0;
        }
        push_escaped(&mut piece, c);
        used += n;
    }
    if !piece.is_empty() {
        pieces.push(format!("{open}{piece}{close}"));
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_every_special_character() {
        assert_eq!(
            escape("<b>&\"x\"</b>"),
            "&lt;b&gt;&amp;&quot;x&quot;&lt;/b&gt;"
        );
        assert_eq!(
            escape("*_[`]"),
            "*_[`]",
            "HTML mode needs no markdown escapes"
        );
    }

    #[test]
    fn long_blocks_split_into_valid_messages_under_the_limit() {
        let log = "<&>\"".repeat(3000) + &"🙂".repeat(3000);
        let blocks = [
            Block::Html("<b>Result</b>".into()),
            Block::Pre(log.clone()),
            Block::Text("tail & end".into()),
        ];
        let messages = pack(&blocks, MAX_MESSAGE);
        assert!(messages.len() > 3);
        let mut text = String::new();
        for m in &messages {
            assert!(units(m) <= MAX_MESSAGE, "{}", units(m));
            assert_eq!(m.matches("<pre>").count(), m.matches("</pre>").count());
            text.push_str(m);
        }
        let restored = text
            .replace("<pre>", "")
            .replace("</pre>", "")
            .replacen("<b>Result</b>", "", 1)
            .replace('\n', "")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&amp;", "&");
        assert_eq!(restored, format!("{log}tail & end"), "nothing lost");
    }

    #[test]
    fn short_text_fits_in_one_message() {
        assert_eq!(pack(&[Block::Text("hi".into())], MAX_MESSAGE), ["hi"]);
        assert_eq!(short("abcdef", 4), "abc…");
    }
}
