//! Estimated cost of a request, from list prices per million tokens.
//! Estimates only: vendors change prices, so `[llm] input_price_per_mtok`
//! and `output_price_per_mtok` override the table.

use super::Usage;

/// US dollars per million (input, output) tokens for well-known models;
/// `None` for models not in the table. Local servers cost nothing here.
pub fn list_price(provider: &str, model: &str) -> Option<(f64, f64)> {
    if provider == "ollama" {
        return Some((0.0, 0.0));
    }
    let m = model.to_ascii_lowercase();
    const TABLE: &[(&str, f64, f64)] = &[
        ("gpt-4o-mini", 0.15, 0.60),
        ("gpt-4o", 2.50, 10.00),
        ("gpt-4.1-mini", 0.40, 1.60),
        ("gpt-4.1-nano", 0.10, 0.40),
        ("gpt-4.1", 2.00, 8.00),
        ("gemini-2.0-flash-lite", 0.075, 0.30),
        ("gemini-2.0-flash", 0.10, 0.40),
        ("gemini-2.5-flash", 0.30, 2.50),
        ("gemini-2.5-pro", 1.25, 10.00),
        ("claude-3-5-haiku", 0.80, 4.00),
        ("claude-3-5-sonnet", 3.00, 15.00),
        ("claude-sonnet-4", 3.00, 15.00),
        ("claude-opus-4", 15.00, 75.00),
    ];
    // Longest prefix first, so `gpt-4o-mini` is not priced as `gpt-4o`.
    TABLE
        .iter()
        .filter(|(prefix, _, _)| m.starts_with(prefix))
        .max_by_key(|(prefix, _, _)| prefix.len())
        .map(|(_, i, o)| (*i, *o))
}

/// Dollars for `usage` at `price` per million (input, output) tokens.
pub fn cost(usage: &Usage, price: (f64, f64)) -> f64 {
    (usage.input_tokens as f64 * price.0 + usage.output_tokens as f64 * price.1) / 1_000_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_wins_and_unknown_is_none() {
        assert_eq!(
            list_price("openai", "gpt-4o-mini-2024-07-18"),
            Some((0.15, 0.60))
        );
        assert_eq!(list_price("openai", "gpt-4o"), Some((2.50, 10.00)));
        assert_eq!(list_price("ollama", "anything"), Some((0.0, 0.0)));
        assert_eq!(list_price("openai", "my-finetune"), None);
        let u = Usage {
            input_tokens: 1_000_000,
            output_tokens: 500_000,
        };
        assert!((cost(&u, (0.15, 0.60)) - 0.45).abs() < 1e-9);
    }
}
