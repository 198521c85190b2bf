//! Policy rules: the TOML format, compiled matchers, and the load-time
//! check that every rule's `match` / `not_match` examples hold.

use crate::risk::RiskLevel;
use crate::{Error, Result};
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::str::FromStr;

/// One argv element pattern: a string or a list of alternatives. Strings
/// containing `*`, `?`, `[` or `{` are globs (`*` also matches `/`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ArgPattern {
    /// One string or glob.
    One(String),
    /// Any of these strings or globs.
    AnyOf(Vec<String>),
}

impl ArgPattern {
    /// The alternatives this element accepts.
    pub fn alternatives(&self) -> &[String] {
        match self {
            ArgPattern::One(s) => std::slice::from_ref(s),
            ArgPattern::AnyOf(v) => v,
        }
    }
}

/// A policy rule, as written in the rules file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rule {
    /// Unique name; reported as the deciding rule.
    pub name: String,
    /// Prefix over argv; element 0 matches the program's basename.
    pub pattern: Vec<ArgPattern>,
    /// Each element must be matched by some argument after the prefix.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub args_contain: Vec<ArgPattern>,
    /// If set, every argument after the prefix must match one of these.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub only_args: Option<Vec<String>>,
    /// The risk of a matching command.
    pub risk: RiskLevel,
    /// A matching command never runs.
    pub forbid: bool,
    /// Why; shown in decisions.
    pub reason: String,
    /// Example argvs this rule must match (checked at load).
    #[serde(rename = "match")]
    pub match_examples: Vec<Vec<String>>,
    /// Example argvs this rule must not match (checked at load).
    #[serde(rename = "not_match")]
    pub not_match_examples: Vec<Vec<String>>,
}

/// A rule as deserialized, before validation.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: String,
    pattern: Vec<ArgPattern>,
    #[serde(default)]
    args_contain: Vec<ArgPattern>,
    #[serde(default)]
    only_args: Option<Vec<String>>,
    #[serde(default)]
    risk: Option<String>,
    #[serde(default)]
    forbid: bool,
    reason: String,
    #[serde(default, rename = "match")]
    match_examples: Vec<Vec<String>>,
    #[serde(default)]
    not_match: Vec<Vec<String>>,
}

/// Matches one string against literal alternatives and globs.
#[derive(Debug, Clone)]
pub(crate) struct Matcher {
    literals: Vec<String>,
    globs: Option<GlobSet>,
}

impl Matcher {
    fn new(alts: &[String], rule: &str) -> Result<Matcher> {
        let mut literals = Vec::new();
        let mut builder = GlobSetBuilder::new();
        let mut any_glob = false;
        for a in alts {
            if a.contains(['*', '?', '[', '{']) {
                let glob = GlobBuilder::new(a)
                    .literal_separator(false)
                    .backslash_escape(true)
                    .build()
                    .map_err(|e| {
                        Error::PolicyRules(format!("rule `{rule}`: bad glob {a:?}: {e}"))
                    })?;
                builder.add(glob);
                any_glob = true;
            } else {
                literals.push(a.clone());
            }
        }
        let globs = if any_glob {
            Some(builder.build().map_err(|e| {
                Error::PolicyRules(format!("rule `{rule}`: bad globs {alts:?}: {e}"))
            })?)
        } else {
            None
        };
        Ok(Matcher { literals, globs })
    }

    pub(crate) fn is_match(&self, s: &str) -> bool {
        self.literals.iter().any(|l| l == s) || self.globs.as_ref().is_some_and(|g| g.is_match(s))
    }

    fn is_literal(&self) -> bool {
        self.globs.is_none()
    }
}

/// The options an `args_contain` group names, matched the way programs
/// parse them: GNU tools accept any unambiguous prefix of a long option
/// (`--comp` for `--compress-program`), and short options bundle
/// (`-iO` holds `-O`). Over-matching only makes a rule stricter.
#[derive(Debug, Clone, Default)]
pub(crate) struct OptionForms {
    long: Vec<String>,
    short: Vec<char>,
}

impl OptionForms {
    fn new(alts: &[String]) -> OptionForms {
        let mut forms = OptionForms::default();
        for a in alts {
            if let Some(long) = a.strip_prefix("--") {
                let name = long.trim_end_matches('*').trim_end_matches('=');
                let name = name.split('=').next().unwrap_or(name);
                if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                    forms.long.push(name.to_string());
                }
            } else if let Some(short) = a.strip_prefix('-') {
                // `-X`, `-X*`, `-X?*`: one option letter, maybe with a value.
                let letter = short.trim_end_matches('*').trim_end_matches('?');
                let mut chars = letter.chars();
                if let (Some(c), None) = (chars.next(), chars.next())
                    && c.is_ascii_alphanumeric()
                {
                    forms.short.push(c);
                }
            }
        }
        forms
    }

    fn is_match(&self, arg: &str) -> bool {
        if let Some(long) = arg.strip_prefix("--") {
            let given = long.split('=').next().unwrap_or(long);
            return !given.is_empty() && self.long.iter().any(|name| name.starts_with(given));
        }
        match arg.strip_prefix('-') {
            Some(cluster) if !cluster.is_empty() => {
                cluster.chars().any(|c| self.short.contains(&c))
            }
            _ => false,
        }
    }
}

/// A rule compiled for fast matching.
#[derive(Debug, Clone)]
pub(crate) struct CompiledRule {
    pattern: Vec<Matcher>,
    contain: Vec<(Matcher, OptionForms)>,
    only: Option<Matcher>,
    /// The pattern's subcommand words may follow options (it names no
    /// options itself).
    subcommand: bool,
}

/// The program name a rule sees: the basename of argv[0].
pub(crate) fn basename(program: &str) -> &str {
    program.rsplit('/').next().unwrap_or(program)
}

impl CompiledRule {
    fn compile(rule: &Rule) -> Result<CompiledRule> {
        let pattern = rule
            .pattern
            .iter()
            .map(|p| Matcher::new(p.alternatives(), &rule.name))
            .collect::<Result<Vec<_>>>()?;
        let contain = rule
            .args_contain
            .iter()
            .map(|p| {
                let alts = p.alternatives();
                Ok((Matcher::new(alts, &rule.name)?, OptionForms::new(alts)))
            })
            .collect::<Result<Vec<_>>>()?;
        let only = match &rule.only_args {
            Some(alts) => Some(Matcher::new(alts, &rule.name)?),
            None => None,
        };
        let names_options = rule.pattern.iter().skip(1).any(|p| {
            p.alternatives()
                .iter()
                .any(|a| a.starts_with(['-', '+', '*', '?', '[', '{']))
        });
        let subcommand = rule.pattern.len() >= 2 && !names_options;
        Ok(CompiledRule {
            pattern,
            contain,
            only,
            subcommand,
        })
    }

    /// Does `argv` match this rule?
    pub(crate) fn matches<S: AsRef<str>>(&self, argv: &[S]) -> bool {
        let program = argv.first().map_or("", |p| basename(p.as_ref()));
        self.matches_program(program, argv)
    }

    /// [`CompiledRule::matches`] with `program`, the basename of `argv[0]`,
    /// found once by the caller for all the rules it tries.
    fn matches_program<S: AsRef<str>>(&self, program: &str, argv: &[S]) -> bool {
        if !self.pattern[0].is_match(program) {
            return false;
        }
        let literal = argv.len() >= self.pattern.len()
            && self
                .pattern
                .iter()
                .enumerate()
                .skip(1)
                .all(|(i, m)| m.is_match(argv[i].as_ref()));
        let rest = if literal {
            &argv[self.pattern.len()..]
        } else if self.subcommand_after_options(argv) {
            argv.get(1..).unwrap_or(&[])
        } else {
            return false;
        };
        if let Some(only) = &self.only
            && !rest.iter().all(|a| only.is_match(a.as_ref()))
        {
            return false;
        }
        self.contain.iter().all(|(m, forms)| {
            rest.iter()
                .any(|a| m.is_match(a.as_ref()) || forms.is_match(a.as_ref()))
        })
    }
}

impl CompiledRule {
    /// The pattern's words after the program, matched where a subcommand
    /// can be when options come first: `systemctl --no-block poweroff`,
    /// `npm -g install`, `cargo +nightly install`, and after a word that
    /// may be an option's value (`git -C dir push`, `systemctl -H host
    /// poweroff`). Never further (`git log --grep add` is not `git add`).
    fn subcommand_after_options<S: AsRef<str>>(&self, argv: &[S]) -> bool {
        if !self.subcommand {
            return false;
        }
        let mut dashes = false;
        let mut after_option = false;
        let mut open = true;
        let mut words: Vec<&str> = Vec::new();
        let mut starts: Vec<usize> = Vec::new();
        for a in argv.iter().skip(1).map(AsRef::as_ref) {
            if a == "--" && !dashes {
                dashes = true;
                continue;
            }
            if !dashes && (a.starts_with('-') || a.starts_with('+')) {
                after_option = true;
                continue;
            }
            if open {
                starts.push(words.len());
                // The first word no option may have taken ends the search.
                open = after_option;
            }
            words.push(a);
            after_option = false;
        }
        let want = &self.pattern[1..];
        starts.iter().any(|&k| {
            words.len() - k >= want.len()
                && want.iter().zip(&words[k..]).all(|(m, w)| m.is_match(w))
        })
    }
}

/// A validated, compiled rule set with an index by program name.
#[derive(Debug, Clone)]
pub(crate) struct RuleSet {
    pub(crate) rules: Vec<Rule>,
    compiled: Vec<CompiledRule>,
    /// Rules whose program element is literal, by program name.
    by_program: HashMap<String, Vec<usize>>,
    /// Rules whose program element contains a glob: tried for every program.
    glob_program: Vec<usize>,
}

impl RuleSet {
    /// Parse and validate a rules file. Errors name the rule and the problem.
    pub(crate) fn parse(text: &str) -> Result<RuleSet> {
        let table: toml::Table = text
            .parse()
            .map_err(|e| Error::PolicyRules(format!("malformed TOML: {e}")))?;
        let mut rules = Vec::new();
        for (key, value) in table {
            if key != "rule" {
                return Err(Error::PolicyRules(format!(
                    "unknown top-level key `{key}`; rules are `[[rule]]` tables"
                )));
            }
            let toml::Value::Array(items) = value else {
                return Err(Error::PolicyRules(
                    "`rule` must be an array of tables: write `[[rule]]`".into(),
                ));
            };
            for (i, item) in items.into_iter().enumerate() {
                let label = item
                    .get("name")
                    .and_then(|n| n.as_str())
                    .map(|n| format!("rule `{n}`"))
                    .unwrap_or_else(|| format!("rule #{}", i + 1));
                let raw: RawRule = item
                    .try_into()
                    .map_err(|e| Error::PolicyRules(format!("{label}: {e}")))?;
                rules.push(validate(raw)?);
            }
        }
        RuleSet::new(rules)
    }

    fn new(rules: Vec<Rule>) -> Result<RuleSet> {
        let mut seen = HashSet::new();
        let mut compiled = Vec::with_capacity(rules.len());
        let mut by_program: HashMap<String, Vec<usize>> = HashMap::new();
        let mut glob_program = Vec::new();
        for (i, rule) in rules.iter().enumerate() {
            if !seen.insert(rule.name.as_str()) {
                return Err(Error::PolicyRules(format!(
                    "rule `{}` is defined twice; rule names must be unique",
                    rule.name
                )));
            }
            let c = CompiledRule::compile(rule)?;
            check_examples(rule, &c)?;
            if c.pattern[0].is_literal() {
                for lit in &c.pattern[0].literals {
                    by_program.entry(lit.clone()).or_default().push(i);
                }
            } else {
                glob_program.push(i);
            }
            compiled.push(c);
        }
        Ok(RuleSet {
            rules,
            compiled,
            by_program,
            glob_program,
        })
    }

    /// Does any rule name this program?
    pub(crate) fn knows_program(&self, program: &str) -> bool {
        self.by_program.contains_key(program)
            || self
                .glob_program
                .iter()
                .any(|&i| self.compiled[i].pattern[0].is_match(program))
    }

    /// Indices of the rules matching `argv`, in file order.
    pub(crate) fn matching<S: AsRef<str>>(&self, argv: &[S], out: &mut Vec<usize>) {
        out.clear();
        let Some(first) = argv.first() else { return };
        let program = basename(first.as_ref());
        let literal = self.by_program.get(program).map(Vec::as_slice);
        for &i in literal.unwrap_or(&[]).iter().chain(&self.glob_program) {
            if self.compiled[i].matches_program(program, argv) {
                out.push(i);
            }
        }
        if literal.is_some() && !self.glob_program.is_empty() {
            out.sort_unstable();
        }
    }
}

fn validate(raw: RawRule) -> Result<Rule> {
    let name = raw.name.trim().to_string();
    if name.is_empty() {
        return Err(Error::PolicyRules("a rule has an empty `name`".into()));
    }
    let err = |msg: String| Error::PolicyRules(format!("rule `{name}`: {msg}"));
    if raw.pattern.is_empty() {
        return Err(err(
            "`pattern` is empty; give at least the program name".into()
        ));
    }
    for p in raw.pattern.iter().chain(&raw.args_contain) {
        if p.alternatives().is_empty() {
            return Err(err("an empty list of alternatives matches nothing".into()));
        }
    }
    if raw.reason.trim().is_empty() {
        return Err(err("`reason` is empty; say why".into()));
    }
    let risk = match (&raw.risk, raw.forbid) {
        (Some(r), _) => RiskLevel::from_str(r)
            .map_err(|_| err(format!("unknown risk {r:?}; use READ_ONLY, WRITE or ADMIN")))?,
        (None, true) => RiskLevel::Admin,
        (None, false) => return Err(err("`risk` is missing (READ_ONLY, WRITE or ADMIN)".into())),
    };
    if risk == RiskLevel::ReadOnly && !raw.forbid {
        read_only_programs_known(&name, &raw.pattern[0])?;
    }
    if raw.match_examples.is_empty() {
        return Err(err(
            "no `match` examples; give at least one argv the rule must match".into(),
        ));
    }
    Ok(Rule {
        name: name.clone(),
        pattern: raw.pattern,
        args_contain: raw.args_contain,
        only_args: raw.only_args,
        risk,
        forbid: raw.forbid,
        reason: raw.reason.trim().to_string(),
        match_examples: raw.match_examples,
        not_match_examples: raw.not_match,
    })
}

/// A READ_ONLY rule only selects programs on the built-in allow-list:
/// their grammar, not the rule, decides what is READ_ONLY.
fn read_only_programs_known(name: &str, program: &ArgPattern) -> Result<()> {
    for p in program.alternatives() {
        if !super::grammar::knows(p) {
            return Err(Error::PolicyRules(format!(
                "rule `{name}`: `{p}` has no built-in read-only grammar, so a READ_ONLY rule cannot make it READ_ONLY; give the rule risk WRITE or ADMIN (READ_ONLY rules may name only: {})",
                super::grammar::known_names().join(", ")
            )));
        }
    }
    Ok(())
}

fn check_examples(rule: &Rule, c: &CompiledRule) -> Result<()> {
    for ex in &rule.match_examples {
        if !c.matches(ex) {
            return Err(Error::PolicyRules(format!(
                "rule `{}`: example {ex:?} should match but does not",
                rule.name
            )));
        }
    }
    for ex in &rule.not_match_examples {
        if c.matches(ex) {
            return Err(Error::PolicyRules(format!(
                "rule `{}`: example {ex:?} should not match but does",
                rule.name
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn argv(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    fn one(toml: &str) -> RuleSet {
        RuleSet::parse(toml).unwrap()
    }

    #[test]
    fn prefix_alternatives_and_basename() {
        let rs = one(r#"
            [[rule]]
            name = "git-inspect"
            pattern = ["git", ["status", "log"]]
            risk = "READ_ONLY"
            reason = "r"
            match = [["/usr/bin/git", "status"], ["git", "log", "-1"]]
            not_match = [["git", "push"], ["git"]]
        "#);
        let mut out = Vec::new();
        rs.matching(&argv(&["git", "status"]), &mut out);
        assert_eq!(out, vec![0]);
        rs.matching(&argv(&["gitx", "status"]), &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn args_contain_needs_every_group_and_only_args_limits() {
        let rs = one(r#"
            [[rule]]
            name = "rm-root"
            pattern = ["rm"]
            args_contain = [["-[rR]*", "--recursive"], ["/", "/*"]]
            forbid = true
            reason = "r"
            match = [["rm", "-rf", "/"], ["rm", "/", "--recursive"]]
            not_match = [["rm", "-f", "/"], ["rm", "-r", "./x"]]

            [[rule]]
            name = "branch-list"
            pattern = ["git", "branch"]
            only_args = ["-a", "--list", "-v*"]
            risk = "READ_ONLY"
            reason = "r"
            match = [["git", "branch"], ["git", "branch", "-a", "-vv"]]
            not_match = [["git", "branch", "new"]]
        "#);
        assert!(rs.rules[0].forbid);
        assert_eq!(rs.rules[0].risk, RiskLevel::Admin);
    }

    #[test]
    fn glob_program_rules_are_found_in_file_order() {
        let rs = one(r#"
            [[rule]]
            name = "mkfs"
            pattern = ["mkfs*"]
            forbid = true
            reason = "r"
            match = [["mkfs.ext4", "x"]]

            [[rule]]
            name = "mkfs-lit"
            pattern = ["mkfs.ext4"]
            risk = "ADMIN"
            reason = "r"
            match = [["mkfs.ext4"]]
        "#);
        let mut out = Vec::new();
        rs.matching(&argv(&["/sbin/mkfs.ext4", "/dev/sda"]), &mut out);
        assert_eq!(out, vec![0, 1]);
    }

    #[test]
    fn errors_name_the_rule_and_the_problem() {
        let cases = [
            ("[[rule]\nname=", "malformed TOML"),
            (
                "[[rule]]\nname='a'\npattern=['x']\nrisk='SUPER'\nreason='r'\nmatch=[['x']]",
                "rule `a`: unknown risk \"SUPER\"",
            ),
            (
                "[[rule]]\nname='b'\npattern=['x']\nrisk='WRITE'\nreason='r'\nmatch=[['y']]",
                "rule `b`: example [\"y\"] should match but does not",
            ),
            (
                "[[rule]]\nname='c'\npattern=['x']\nrisk='WRITE'\nreason='r'\nmatch=[['x']]\nnot_match=[['x','1']]",
                "rule `c`: example [\"x\", \"1\"] should not match but does",
            ),
            (
                "[[rule]]\nname='d'\npattern=['x']\nrisk='WRITE'\nreason='r'\nmatch=[['x']]\nany_args=['x']",
                "rule `d`: unknown field `any_args`",
            ),
            (
                "[[rule]]\nname='e'\npattern=['x']\nreason='r'\nmatch=[['x']]",
                "rule `e`: `risk` is missing",
            ),
            (
                "[[rule]]\nname='f'\npattern=['x']\nrisk='WRITE'\nreason='r'\nmatch=[['x']]\n[[rule]]\nname='f'\npattern=['x']\nrisk='WRITE'\nreason='r'\nmatch=[['x']]",
                "rule `f` is defined twice",
            ),
            (
                "[[rule]]\nname='g'\npattern=['x[']\nrisk='WRITE'\nreason='r'\nmatch=[['x']]",
                "rule `g`: bad glob",
            ),
        ];
        for (text, want) in cases {
            let err = RuleSet::parse(text).unwrap_err();
            assert!(matches!(err, Error::PolicyRules(_)), "{err}");
            assert!(
                err.to_string().contains(want),
                "{err} should contain {want}"
            );
        }
    }
}
