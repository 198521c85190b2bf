//! Splitting a command line at its pipes: `du -ah . | sort -rh` is two
//! argvs, which SKYNET connects itself. Quotes and backslashes keep a `|`
//! a plain character (`grep 'a|b' f`); the words of each stage are split
//! like a POSIX shell would, and nothing else of the shell's language is
//! given a meaning.

/// The stages of `line`: one argv for a line without an unquoted `|`.
/// Refuses `||` and `|&` (shell operators SKYNET does not run) and an empty
/// stage, saying so.
pub(crate) fn split_pipeline(line: &str) -> Result<Vec<Vec<String>>, String> {
    let mut segments = Vec::new();
    let mut start = 0;
    let (mut single, mut double, mut escaped) = (false, false, false);
    let bytes = line.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if escaped {
            escaped = false;
            continue;
        }
        match b {
            b'\\' if !single => escaped = true,
            b'\'' if !double => single = !single,
            b'"' if !single => double = !double,
            b'|' if !single && !double => {
                match bytes.get(i + 1) {
                    Some(b'|') => {
                        return Err(
                            "`||` is a shell operator; SKYNET connects pipelines (`a | b`) but runs no shell: make it separate steps"
                                .into(),
                        );
                    }
                    Some(b'&') => {
                        return Err(
                            "`|&` is a shell operator; SKYNET connects only standard output to the next stage"
                                .into(),
                        );
                    }
                    _ => {}
                }
                // `a||b` was refused above; `a | | b` is an empty stage below.
                segments.push(&line[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    segments.push(&line[start..]);
    let count = segments.len();
    segments
        .into_iter()
        .enumerate()
        .map(|(i, text)| {
            let argv = shell_words::split(text).map_err(|e| {
                format!(
                    "cannot split `{}` into words ({e}); check its quotes",
                    text.trim()
                )
            })?;
            if count > 1 && argv.first().is_none_or(|p| p.trim().is_empty()) {
                return Err(format!(
                    "stage {} of {count} of the pipeline is empty",
                    i + 1
                ));
            }
            Ok(argv)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &str) -> Vec<Vec<String>> {
        split_pipeline(line).expect("splits")
    }

    #[test]
    fn unquoted_bars_separate_stages() {
        assert_eq!(
            split("du -ah . | sort -rh|head -n 10"),
            [
                vec!["du", "-ah", "."],
                vec!["sort", "-rh"],
                vec!["head", "-n", "10"]
            ]
        );
        assert_eq!(split("ls -la"), [vec!["ls", "-la"]]);
        assert_eq!(split("grep 'a|b' f | wc -l").len(), 2);
        assert_eq!(split("grep 'a|b' f")[0], ["grep", "a|b", "f"]);
        assert_eq!(split("grep \"a|b\" f")[0], ["grep", "a|b", "f"]);
        assert_eq!(split("grep a\\|b f")[0], ["grep", "a|b", "f"]);
        assert_eq!(split("echo \"it's | fine\"")[0], ["echo", "it's | fine"]);
    }

    #[test]
    fn shell_operators_and_empty_stages_are_refused() {
        for line in ["a || b", "a |& b", "a | | b", "| a", "a |", "a | 'b"] {
            assert!(split_pipeline(line).is_err(), "{line}");
        }
    }
}
