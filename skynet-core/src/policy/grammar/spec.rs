//! Option grammars and a getopt_long-compatible parser: short clusters
//! with attached values (`-vSsh`), long options with `=VALUE` or a
//! separate value, unique-prefix abbreviations (`--s` for
//! `--split-string`), `-NUM`, `--` and GNU argument permutation.
//!
//! The parser is exact where getopt is, so a READ_ONLY judgement sees the
//! options the program will see. Whatever it cannot place is an error,
//! which the caller turns into "not READ_ONLY".

/// How an option takes a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arity {
    /// No value.
    Flag,
    /// A value: attached (`-oV`, `--o=V`) or the next argument.
    Required,
    /// A value only when attached (`--color=auto`, `-U3`).
    Optional,
}

/// The option grammar of one program.
#[derive(Debug)]
pub(crate) struct Spec {
    /// getopt string: a letter, `:` after it for a required value, `::`
    /// for an optional one (`"ab:c::"`).
    pub(crate) short: &'static str,
    /// Long names: `name` (flag), `name=` (required value), `name=?`
    /// (optional value). Options the program has but that are not
    /// READ_ONLY are listed too, so abbreviations resolve as the program
    /// resolves them.
    pub(crate) long: &'static [&'static str],
    /// More long names, shared between grammars (git's diff options).
    pub(crate) more_long: &'static [&'static str],
    /// Whether unique prefixes of long options are accepted. Only for
    /// programs whose long list above is complete; otherwise an
    /// abbreviation is refused.
    pub(crate) abbrev: bool,
    /// `-NUM` is an option (`head -5`, `nice -10`, `grep -3`).
    pub(crate) numeric: bool,
    /// Options may follow operands (GNU); false: the first operand ends
    /// the options (wrappers: `env`, `timeout`, ...).
    pub(crate) permute: bool,
}

/// An option as parsed: its canonical name (`-x`, `--name`, `-NUM`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Name {
    /// A short option letter.
    Short(char),
    /// A long option, resolved to its full name.
    Long(&'static str),
    /// `-NUM`.
    Number,
}

impl Name {
    /// Is this option one of `names` (`"-f"`, `"--follow"`)?
    pub(crate) fn is(self, names: &[&str]) -> bool {
        names.iter().any(|n| self.matches(n))
    }

    fn matches(self, n: &str) -> bool {
        match self {
            Name::Short(c) => {
                let mut it = n.chars();
                it.next() == Some('-') && it.next() == Some(c) && it.next().is_none()
            }
            Name::Long(l) => n.strip_prefix("--") == Some(l),
            Name::Number => n == "-NUM",
        }
    }

    /// For messages: `-x`, `--name`.
    pub(crate) fn show(self) -> String {
        match self {
            Name::Short(c) => format!("-{c}"),
            Name::Long(l) => format!("--{l}"),
            Name::Number => "-NUM".into(),
        }
    }
}

/// One parsed element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Item<'a> {
    /// An option and its value, if any; `index` of the argument holding it.
    Opt {
        /// Canonical name.
        name: Name,
        /// The value, attached or separate.
        value: Option<&'a str>,
        /// Index (in the parsed slice) of the option's argument.
        index: usize,
    },
    /// An operand.
    Operand {
        /// The operand.
        value: &'a str,
        /// Its index in the parsed slice.
        index: usize,
    },
}

/// Parse `args` (without the program) with `spec`, calling `f` for each
/// item in order. `f` may stop the parse with `Err`; `Ok(false)` from
/// `f` on an operand ends the parse there (a wrapper's command).
pub(crate) fn parse<'a, F>(spec: &Spec, args: &'a [String], mut f: F) -> Result<(), String>
where
    F: FnMut(Item<'a>) -> Result<bool, String>,
{
    let mut i = 0;
    let mut operands_only = false;
    while i < args.len() {
        let a = args[i].as_str();
        if operands_only || a == "-" || !a.starts_with('-') {
            if !f(Item::Operand { value: a, index: i })? {
                return Ok(());
            }
            if !spec.permute {
                operands_only = true;
            }
            i += 1;
            continue;
        }
        if a == "--" {
            operands_only = true;
            i += 1;
            continue;
        }
        if let Some(long) = a.strip_prefix("--") {
            let (given, attached) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (long, None),
            };
            let (name, arity) = resolve_long(spec, given)?;
            let value = match (arity, attached) {
                (Arity::Flag, Some(_)) => {
                    return Err(format!("`--{name}` takes no value, but `{a}` gives one"));
                }
                (Arity::Required, None) => {
                    i += 1;
                    Some(
                        args.get(i)
                            .ok_or_else(|| format!("`--{name}` needs a value"))?
                            .as_str(),
                    )
                }
                (_, v) => v,
            };
            f(Item::Opt {
                name: Name::Long(name),
                value,
                index: i,
            })?;
            i += 1;
            continue;
        }
        let cluster = &a[1..];
        if spec.numeric && cluster.bytes().all(|b| b.is_ascii_digit()) {
            f(Item::Opt {
                name: Name::Number,
                value: Some(cluster),
                index: i,
            })?;
            i += 1;
            continue;
        }
        let start = i;
        for (at, c) in cluster.char_indices() {
            let arity = short_arity(spec, c).ok_or_else(|| {
                if a.len() > 2 {
                    format!("`-{c}` (in `{a}`) is not a known option")
                } else {
                    format!("`{a}` is not a known option")
                }
            })?;
            let rest = &cluster[at + c.len_utf8()..];
            let value = match arity {
                Arity::Flag => None,
                Arity::Optional => Some(rest).filter(|r| !r.is_empty()),
                Arity::Required if !rest.is_empty() => Some(rest),
                Arity::Required => {
                    i += 1;
                    Some(
                        args.get(i)
                            .ok_or_else(|| format!("`-{c}` needs a value"))?
                            .as_str(),
                    )
                }
            };
            f(Item::Opt {
                name: Name::Short(c),
                value,
                index: start,
            })?;
            if arity != Arity::Flag {
                break;
            }
        }
        i += 1;
    }
    Ok(())
}

/// The arity of short option `c`, if the spec has it.
fn short_arity(spec: &Spec, c: char) -> Option<Arity> {
    if c == ':' {
        return None;
    }
    let at = spec.short.find(c)?;
    let after = &spec.short[at + c.len_utf8()..];
    Some(if after.starts_with("::") {
        Arity::Optional
    } else if after.starts_with(':') {
        Arity::Required
    } else {
        Arity::Flag
    })
}

fn split_long(entry: &'static str) -> (&'static str, Arity) {
    if let Some(n) = entry.strip_suffix("=?") {
        (n, Arity::Optional)
    } else if let Some(n) = entry.strip_suffix('=') {
        (n, Arity::Required)
    } else {
        (entry, Arity::Flag)
    }
}

/// Resolve a long option as getopt_long does: an exact name wins, else a
/// unique prefix (when the spec allows abbreviations).
fn resolve_long(spec: &Spec, given: &str) -> Result<(&'static str, Arity), String> {
    if given.is_empty() {
        return Err("`--=...` is not an option".into());
    }
    let mut found: Option<(&'static str, Arity)> = None;
    let mut ambiguous = false;
    for &entry in spec.long.iter().chain(spec.more_long) {
        let (name, arity) = split_long(entry);
        if name == given {
            return Ok((name, arity));
        }
        if name.starts_with(given) {
            if found.is_some() {
                ambiguous = true;
            } else {
                found = Some((name, arity));
            }
        }
    }
    match found {
        None => Err(format!("`--{given}` is not a known option")),
        Some(_) if ambiguous => Err(format!(
            "`--{given}` is an ambiguous abbreviation; write the option in full"
        )),
        Some((name, _)) if !spec.abbrev => Err(format!(
            "`--{given}` abbreviates `--{name}`; write the option in full"
        )),
        Some(found) => Ok(found),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const SPEC: Spec = Spec {
        short: "ab:c::v",
        long: &["all", "block=", "color=?", "split-string=", "verbose"],
        more_long: &[],
        abbrev: true,
        numeric: true,
        permute: true,
    };

    fn items(spec: &Spec, args: &[&str]) -> Result<Vec<String>, String> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let mut out = Vec::new();
        parse(spec, &args, |it| {
            out.push(match it {
                Item::Opt { name, value, .. } => format!("{}={}", name.show(), value.unwrap_or("")),
                Item::Operand { value, .. } => value.to_string(),
            });
            Ok(true)
        })?;
        Ok(out)
    }

    #[test]
    fn clusters_values_and_abbreviations() {
        assert_eq!(
            items(&SPEC, &["-vbx", "f", "-c", "-c3", "--s=sh -c id", "--col"]).unwrap(),
            [
                "-v=",
                "-b=x",
                "f",
                "-c=",
                "-c=3",
                "--split-string=sh -c id",
                "--color="
            ]
        );
        assert_eq!(
            items(&SPEC, &["-b", "v", "--block", "w", "--", "-a"]).unwrap(),
            ["-b=v", "--block=w", "-a"]
        );
        assert_eq!(items(&SPEC, &["-12"]).unwrap(), ["-NUM=12"]);
        assert!(items(&SPEC, &["-x"]).is_err());
        assert!(items(&SPEC, &["--v"]).unwrap()[0].starts_with("--verbose"));
        assert!(items(&SPEC, &["--all=1"]).is_err());
        assert!(items(&SPEC, &["-b"]).is_err());
        let strict = Spec {
            abbrev: false,
            ..SPEC
        };
        let err = items(&strict, &["--spl=x"]).unwrap_err();
        assert!(err.contains("abbreviates `--split-string`"), "{err}");
    }
}
