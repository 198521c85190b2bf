//! `find`: starting points, then an expression of allowed primaries.

use super::Judgement;

/// Primaries that take no argument and only test or print.
#[rustfmt::skip]
const TESTS: &[&str] = &[
    "-empty", "-readable", "-writable", "-executable", "-true", "-false", "-nouser",
    "-nogroup", "-prune", "-quit", "-print", "-print0", "-ls", "-depth", "-mount", "-xdev",
    "-noleaf", "-daystart", "-ignore_readdir_race", "-noignore_readdir_race", "-not", "-a",
    "-and", "-o", "-or", "!", "(", ")", ",", "-d", "-nowarn", "-warn", "-P", "-H",
];

/// Primaries with one argument that is text (a pattern, a number, a type).
#[rustfmt::skip]
const WITH_TEXT: &[&str] = &[
    "-name", "-iname", "-path", "-ipath", "-wholename", "-iwholename", "-regex", "-iregex",
    "-lname", "-ilname", "-type", "-xtype", "-size", "-perm", "-user", "-group", "-uid",
    "-gid", "-mtime", "-atime", "-ctime", "-mmin", "-amin", "-cmin", "-inum", "-links",
    "-maxdepth", "-mindepth", "-printf", "-regextype", "-fstype", "-used", "-context", "-D",
];

/// Primaries with one argument that is a file it reads (stats).
const WITH_PATH: &[&str] = &["-newer", "-anewer", "-cnewer", "-samefile"];

/// Judge `find ARGS`: every starting point is a read.
pub(super) fn judge<'a>(args: &'a [String], j: &mut Judgement<'a>) {
    let mut i = 0;
    // Global options: -H, -P, -D DEBUG, -OLEVEL (-L is refused below).
    while let Some(a) = args.get(i).map(String::as_str) {
        match a {
            "-H" | "-P" => i += 1,
            "-D" => i += 2,
            _ if a.starts_with("-O") => i += 1,
            _ => break,
        }
    }
    // Starting points come before the first expression token.
    while let Some(a) = args.get(i).map(String::as_str) {
        if a.starts_with('-') || a == "!" || a == "(" {
            break;
        }
        j.reads.push(a);
        i += 1;
    }
    while let Some(a) = args.get(i).map(String::as_str) {
        i += 1;
        if let Some(level) = a.strip_prefix("-O")
            && level.bytes().all(|b| b.is_ascii_digit())
        {
            continue;
        }
        if TESTS.contains(&a) {
            continue;
        }
        // `-newerXY`: `Y = t` compares with a date, others read a file.
        let newer_xy = a.starts_with("-newer") && a.len() == 8;
        let with_text = WITH_TEXT.contains(&a) || (newer_xy && a.ends_with('t'));
        if with_text || WITH_PATH.contains(&a) || newer_xy {
            let Some(v) = args.get(i) else {
                j.refuse(format!("`{a}` needs an argument"));
                return;
            };
            if !with_text {
                j.reads.push(v);
            }
            i += 1;
            continue;
        }
        let why = match a {
            "-L" | "-follow" => "follows symbolic links, which may lead outside the sandbox root",
            "-delete" => "deletes files",
            "-exec" | "-execdir" | "-ok" | "-okdir" => "runs a command on every match",
            "-fprint" | "-fprint0" | "-fprintf" | "-fls" => "writes its results to a file",
            "-files0-from" => {
                "reads the starting points from a file, which the policy cannot check"
            }
            _ => "is not on find's read-only list",
        };
        j.refuse(format!("`{a}` {why}"));
        return;
    }
}
