//! The allow-list: programs that may be READ_ONLY, with their complete
//! option grammars (GNU coreutils 9, grep 3, ripgrep 14, file 5, tree 2,
//! procps 4). Options a program has that read nothing more than its
//! operands are allowed; the others are listed as refused, with why.

use super::spec::Spec;
use super::{Operands, Program};

const FOLLOWS_LINKS: &str = "follows symbolic links, which may lead outside the sandbox root";
const NAMES_FROM_FILE: &str =
    "reads the names of the files to open from a file, which the policy cannot check";
const WRITES: &str = "writes a file";
const RUNS: &str = "runs another program";

/// A program with no options but `--help` and `--version`.
const BARE: Spec = Spec {
    short: "",
    long: &["help", "version"],
    more_long: &[],
    abbrev: true,
    numeric: false,
    permute: true,
};

const BASE: Program = Program {
    names: &[],
    spec: BARE,
    refused: &[],
    paths: &[],
    follow: &[],
    operands: Operands::Paths,
    recurses: false,
};

/// Every READ_ONLY program (wrappers are in `wrappers.rs`).
#[rustfmt::skip]
pub(super) const PROGRAMS: &[Program] = &[
    Program {
        names: &["ls"],
        spec: Spec {
            short: "1aAbBcCdDfFgGhHiI:klLmnNopqQrRsStT:uUvw:xXZ",
            long: &[
                "all", "almost-all", "author", "escape", "block-size=", "ignore-backups",
                "color=?", "directory", "dired", "classify=?", "file-type", "format=",
                "full-time", "group-directories-first", "no-group", "human-readable", "si",
                "dereference-command-line", "dereference-command-line-symlink-to-dir",
                "hide=", "hyperlink=?", "indicator-style=", "inode", "ignore=", "kibibytes",
                "dereference", "literal", "numeric-uid-gid", "hide-control-chars",
                "show-control-chars", "quote-name", "quoting-style=", "reverse", "recursive",
                "size", "sort=", "time=", "time-style=", "tabsize=", "width=", "context",
                "zero", "help", "version",
            ],
            ..BARE
        },
        refused: &[(&["-L", "--dereference"], FOLLOWS_LINKS)],
        ..BASE
    },
    Program {
        names: &["cat"],
        spec: Spec {
            short: "AbeEnstTuv",
            long: &[
                "show-all", "number-nonblank", "show-ends", "number", "squeeze-blank",
                "show-tabs", "show-nonprinting", "help", "version",
            ],
            ..BARE
        },
        ..BASE
    },
    Program {
        names: &["head"],
        spec: Spec {
            short: "c:n:qvz",
            long: &[
                "bytes=", "lines=", "quiet", "silent", "verbose", "zero-terminated", "help",
                "version",
            ],
            numeric: true,
            ..BARE
        },
        ..BASE
    },
    Program {
        names: &["tail"],
        spec: Spec {
            short: "c:fFn:qs:vz",
            long: &[
                "bytes=", "follow=?", "lines=", "max-unchanged-stats=", "pid=", "quiet",
                "silent", "retry", "sleep-interval=", "verbose", "zero-terminated", "debug",
                "help", "version",
            ],
            numeric: true,
            ..BARE
        },
        follow: &["-f", "-F", "--follow"],
        ..BASE
    },
    Program {
        names: &["wc"],
        spec: Spec {
            short: "clmwL",
            long: &[
                "bytes", "chars", "lines", "words", "max-line-length", "total=",
                "files0-from=", "debug", "help", "version",
            ],
            ..BARE
        },
        refused: &[(&["--files0-from"], NAMES_FROM_FILE)],
        ..BASE
    },
    Program {
        names: &["stat"],
        spec: Spec {
            short: "c:fLtZ",
            long: &[
                "dereference", "file-system", "cached=", "format=", "printf=", "terse",
                "help", "version",
            ],
            ..BARE
        },
        ..BASE
    },
    Program {
        names: &["file"],
        spec: Spec {
            short: "bcCde:EF:f:hiklLm:nNpP:rsSvzZ0",
            long: &[
                "brief", "checking-printout", "compile", "debug", "exclude=",
                "exclude-quiet=", "extension", "files-from=", "separator=", "help", "mime",
                "mime-type", "mime-encoding", "apple", "keep-going", "list", "dereference",
                "magic-file=", "no-dereference", "no-pad", "no-buffer", "preserve-date",
                "parameter=", "raw", "special-files", "no-sandbox", "uncompress",
                "uncompress-noreport", "print0", "version",
            ],
            ..BARE
        },
        refused: &[
            (&["-C", "--compile"], "compiles a magic file and writes it"),
            (&["-f", "--files-from"], NAMES_FROM_FILE),
            (&["-p", "--preserve-date"], "changes the files' access times"),
            (&["-S", "--no-sandbox"], "turns off file's own sandbox"),
            (
                &["-z", "-Z", "--uncompress", "--uncompress-noreport"],
                "runs decompression programs",
            ),
        ],
        paths: &["-m", "--magic-file"],
        ..BASE
    },
    Program {
        names: &["du"],
        spec: Spec {
            short: "0abB:cd:DhHklLmPsSt:xX:",
            long: &[
                "null", "all", "apparent-size", "block-size=", "bytes", "total", "max-depth=",
                "human-readable", "inodes", "si", "summarize", "threshold=", "time=?",
                "time-style=", "exclude-from=", "exclude=", "one-file-system",
                "count-links", "dereference", "dereference-args", "no-dereference",
                "separate-dirs", "files0-from=", "help", "version",
            ],
            ..BARE
        },
        refused: &[
            (&["-L", "--dereference"], FOLLOWS_LINKS),
            (&["--files0-from"], NAMES_FROM_FILE),
        ],
        paths: &["-X", "--exclude-from"],
        ..BASE
    },
    Program {
        names: &["df"],
        spec: Spec {
            short: "aB:hHiklPt:Tvx:",
            long: &[
                "all", "block-size=", "human-readable", "si", "inodes", "local", "no-sync",
                "output=?", "portability", "print-type", "sync", "total", "type=",
                "exclude-type=", "help", "version",
            ],
            ..BARE
        },
        ..BASE
    },
    Program {
        names: &["tree"],
        spec: Spec {
            short: "adlfxL:RP:I:o:qNQpugshDFvtcUriASnCXJH:T:",
            long: &[
                "help", "version", "inodes", "device", "noreport", "nolinks", "dirsfirst",
                "filesfirst", "charset=", "filelimit=", "si", "du", "prune", "timefmt=",
                "ignore-case", "matchdirs", "metafirst", "sort=", "fromfile", "gitignore",
                "gitfile=", "info", "infofile=", "hintro=", "houtro=",
            ],
            abbrev: false,
            ..BARE
        },
        refused: &[
            (&["-l"], FOLLOWS_LINKS),
            (&["-o"], WRITES),
            (&["-R", "-H"], "writes HTML listings into the directories"),
            (&["--fromfile"], NAMES_FROM_FILE),
        ],
        paths: &["--gitfile", "--infofile", "--hintro", "--houtro"],
        ..BASE
    },
    Program {
        names: &["diff"],
        spec: Spec {
            short: "abBcC:dD:eEfF:HiI:lL:nNpPqrsS:tTuU:vwW:x:X:yZ",
            long: &[
                "normal", "brief", "report-identical-files", "context=?", "unified=?", "ed",
                "rcs", "side-by-side", "width=", "left-column", "suppress-common-lines",
                "show-c-function", "show-function-line=", "label=", "ignore-case",
                "ignore-file-name-case", "no-ignore-file-name-case", "ignore-tab-expansion",
                "ignore-trailing-space", "ignore-space-change", "ignore-all-space",
                "ignore-blank-lines", "ignore-matching-lines=", "text", "strip-trailing-cr",
                "ifdef=", "old-group-format=", "new-group-format=", "unchanged-group-format=",
                "changed-group-format=", "line-format=", "old-line-format=",
                "new-line-format=", "unchanged-line-format=", "initial-tab", "tabsize=",
                "expand-tabs", "suppress-blank-empty", "no-dereference", "new-file",
                "unidirectional-new-file", "starting-file=", "exclude=", "exclude-from=",
                "minimal", "horizon-lines=", "speed-large-files", "color=?", "palette=",
                "from-file=", "to-file=", "recursive", "paginate", "binary", "help",
                "version",
            ],
            ..BARE
        },
        refused: &[
            (&["-r", "--recursive"], FOLLOWS_LINKS),
            (&["-l", "--paginate"], RUNS),
        ],
        paths: &["--from-file", "--to-file", "-X", "--exclude-from"],
        ..BASE
    },
    Program {
        names: &["cmp"],
        spec: Spec {
            short: "bi:ln:sv",
            long: &[
                "print-bytes", "ignore-initial=", "verbose", "bytes=", "quiet", "silent",
                "help", "version",
            ],
            ..BARE
        },
        ..BASE
    },
    Program {
        names: &[
            "md5sum", "sha1sum", "sha224sum", "sha256sum", "sha384sum", "sha512sum", "b2sum",
        ],
        spec: Spec {
            short: "bcl:twz",
            long: &[
                "binary", "check", "length=", "tag", "text", "zero", "ignore-missing",
                "quiet", "status", "strict", "warn", "help", "version",
            ],
            ..BARE
        },
        refused: &[(&["-c", "--check"], NAMES_FROM_FILE)],
        ..BASE
    },
    Program {
        names: &["cut"],
        spec: Spec {
            short: "b:c:d:f:nsz",
            long: &[
                "bytes=", "characters=", "delimiter=", "fields=", "complement",
                "only-delimited", "output-delimiter=", "zero-terminated", "help", "version",
            ],
            ..BARE
        },
        ..BASE
    },
    Program {
        names: &["nl"],
        spec: Spec {
            short: "b:d:f:h:i:l:n:ps:v:w:",
            long: &[
                "body-numbering=", "section-delimiter=", "footer-numbering=",
                "header-numbering=", "line-increment=", "join-blank-lines=",
                "number-format=", "no-renumber", "number-separator=",
                "starting-line-number=", "number-width=", "help", "version",
            ],
            ..BARE
        },
        ..BASE
    },
    Program {
        names: &["sort"],
        spec: Spec {
            short: "bcCdfghik:mMno:rRsS:t:T:uVz",
            long: &[
                "ignore-leading-blanks", "dictionary-order", "ignore-case",
                "general-numeric-sort", "ignore-nonprinting", "month-sort",
                "human-numeric-sort", "numeric-sort", "random-sort", "random-source=",
                "reverse", "sort=", "version-sort", "batch-size=", "check=?",
                "compress-program=", "debug", "files0-from=", "key=", "merge", "output=",
                "stable", "buffer-size=", "field-separator=", "temporary-directory=",
                "parallel=", "unique", "zero-terminated", "help", "version",
            ],
            ..BARE
        },
        refused: &[
            (&["-o", "--output"], WRITES),
            (&["--compress-program"], RUNS),
            (&["--files0-from"], NAMES_FROM_FILE),
            (&["-T", "--temporary-directory"], "writes temporary files there"),
        ],
        paths: &["--random-source"],
        ..BASE
    },
    Program {
        names: &["basename"],
        spec: Spec {
            short: "as:z",
            long: &["multiple", "suffix=", "zero", "help", "version"],
            ..BARE
        },
        operands: Operands::Text,
        ..BASE
    },
    Program {
        names: &["dirname"],
        spec: Spec {
            short: "z",
            long: &["zero", "help", "version"],
            ..BARE
        },
        operands: Operands::Text,
        ..BASE
    },
    Program {
        names: &["realpath"],
        spec: Spec {
            short: "eELmPqsz",
            long: &[
                "canonicalize-existing", "canonicalize-missing", "logical", "physical",
                "quiet", "relative-to=", "relative-base=", "strip", "no-symlinks", "zero",
                "help", "version",
            ],
            ..BARE
        },
        paths: &["--relative-to", "--relative-base"],
        ..BASE
    },
    Program {
        names: &["readlink"],
        spec: Spec {
            short: "efmnqsvz",
            long: &[
                "canonicalize", "canonicalize-existing", "canonicalize-missing",
                "no-newline", "quiet", "silent", "verbose", "zero", "help", "version",
            ],
            ..BARE
        },
        ..BASE
    },
    Program {
        names: &["grep", "egrep", "fgrep"],
        spec: Spec {
            short: "A:B:C:D:EFGHILPRTUVX:Zabcd:e:f:hilm:noqrsuvwxyz",
            long: &[
                "after-context=", "before-context=", "context=", "devices=",
                "extended-regexp", "fixed-strings", "basic-regexp", "with-filename",
                "no-filename", "label=", "line-buffered", "files-without-match",
                "perl-regexp", "dereference-recursive", "initial-tab", "binary", "version",
                "null", "text", "byte-offset", "count", "directories=", "regexp=", "file=",
                "ignore-case", "no-ignore-case", "files-with-matches", "max-count=",
                "line-number", "only-matching", "quiet", "silent", "recursive",
                "no-messages", "invert-match", "word-regexp", "line-regexp", "null-data",
                "color=?", "colour=?", "include=", "exclude=", "exclude-dir=",
                "exclude-from=", "binary-files=", "help",
            ],
            numeric: true,
            ..BARE
        },
        refused: &[(&["-R", "--dereference-recursive"], FOLLOWS_LINKS)],
        paths: &["-f", "--file", "--exclude-from"],
        operands: Operands::PatternThenPaths,
        recurses: true,
        ..BASE
    },
    Program {
        names: &["rg"],
        spec: Spec {
            short: "0abA:B:C:ce:E:f:Fg:hHiIj:lLm:M:nNopPqr:sSt:T:uUvVwxz",
            long: &[
                "after-context=", "before-context=", "binary", "block-buffered",
                "byte-offset", "case-sensitive", "color=", "colors=", "column", "context=",
                "context-separator=", "count", "count-matches", "crlf", "debug",
                "dfa-size-limit=", "encoding=", "engine=", "field-context-separator=",
                "field-match-separator=", "file=", "files", "files-with-matches",
                "files-without-match", "fixed-strings", "follow", "glob=",
                "glob-case-insensitive", "heading", "no-heading", "help", "hidden",
                "hostname-bin=", "hyperlink-format=", "iglob=", "ignore-case",
                "ignore-file=", "ignore-file-case-insensitive", "include-zero",
                "invert-match", "json", "line-buffered", "line-number", "no-line-number",
                "line-regexp", "max-columns=", "max-columns-preview", "max-count=",
                "max-depth=", "max-filesize=", "mmap", "no-mmap", "multiline",
                "multiline-dotall", "no-config", "no-ignore", "no-ignore-dot",
                "no-ignore-exclude", "no-ignore-files", "no-ignore-global",
                "no-ignore-messages", "no-ignore-parent", "no-ignore-vcs", "no-messages",
                "no-pcre2-unicode", "no-require-git", "no-unicode", "null", "null-data",
                "one-file-system", "only-matching", "passthru", "path-separator=", "pcre2",
                "pcre2-version", "pre=", "pre-glob=", "pretty", "quiet", "regex-size-limit=",
                "regexp=", "replace=", "search-zip", "smart-case", "sort=", "sortr=",
                "stats", "stop-on-nonmatch", "text", "threads=", "trim", "type=",
                "type-not=", "type-add=", "type-clear=", "type-list", "unrestricted",
                "version", "vimgrep", "with-filename", "no-filename", "word-regexp",
            ],
            abbrev: false,
            ..BARE
        },
        refused: &[
            (&["-L", "--follow"], FOLLOWS_LINKS),
            (&["--pre", "--pre-glob"], "runs a preprocessor program on every file"),
            (&["--hostname-bin"], RUNS),
            (&["-z", "--search-zip"], "runs decompression programs"),
        ],
        paths: &["-f", "--file", "--ignore-file"],
        operands: Operands::PatternThenPaths,
        recurses: true,
        ..BASE
    },
    Program {
        names: &["find"],
        operands: Operands::Find,
        ..BASE
    },
    Program {
        names: &["git"],
        operands: Operands::Git,
        ..BASE
    },
    Program {
        names: &["pwd"],
        spec: Spec {
            short: "LP",
            long: &["logical", "physical", "help", "version"],
            ..BARE
        },
        operands: Operands::Text,
        ..BASE
    },
    Program {
        names: &["uname"],
        spec: Spec {
            short: "asnrvmpio",
            long: &[
                "all", "kernel-name", "nodename", "kernel-release", "kernel-version",
                "machine", "processor", "hardware-platform", "operating-system", "help",
                "version",
            ],
            ..BARE
        },
        operands: Operands::Text,
        ..BASE
    },
    Program {
        names: &["whoami", "arch", "groups"],
        operands: Operands::Text,
        ..BASE
    },
    Program {
        names: &["id"],
        spec: Spec {
            short: "agGnruzZ",
            long: &[
                "context", "group", "groups", "name", "real", "user", "zero", "help",
                "version",
            ],
            ..BARE
        },
        operands: Operands::Text,
        ..BASE
    },
    Program {
        names: &["date"],
        spec: Spec {
            short: "d:f:I::r:Rs:u",
            long: &[
                "date=", "debug", "file=", "iso-8601=?", "resolution", "rfc-email",
                "rfc-822", "rfc-2822", "rfc-3339=", "reference=", "set=", "universal",
                "utc", "help", "version",
            ],
            ..BARE
        },
        refused: &[(&["-s", "--set"], "sets the system clock")],
        paths: &["-f", "--file", "-r", "--reference"],
        operands: Operands::DateFormat,
        ..BASE
    },
    Program {
        names: &["which"],
        spec: Spec {
            short: "as",
            long: &[],
            abbrev: false,
            ..BARE
        },
        operands: Operands::Text,
        ..BASE
    },
    Program {
        names: &["printenv"],
        spec: Spec {
            short: "0",
            long: &["null", "help", "version"],
            ..BARE
        },
        operands: Operands::Text,
        ..BASE
    },
    Program {
        names: &["nproc"],
        spec: Spec {
            long: &["all", "ignore=", "help", "version"],
            ..BARE
        },
        operands: Operands::Text,
        ..BASE
    },
    Program {
        names: &["uptime"],
        spec: Spec {
            short: "hprsV",
            long: &["help", "pretty", "raw", "since", "version", "container"],
            ..BARE
        },
        operands: Operands::Text,
        ..BASE
    },
    Program {
        names: &["free"],
        spec: Spec {
            short: "bkmghlLtvwVc:s:",
            long: &[
                "bytes", "kibi", "mebi", "gibi", "tebi", "pebi", "kilo", "mega", "giga",
                "tera", "peta", "human", "wide", "lohi", "line", "total", "committed",
                "count=", "seconds=", "si", "help", "version",
            ],
            ..BARE
        },
        follow: &["-s", "--seconds"],
        operands: Operands::Text,
        ..BASE
    },
    Program {
        names: &["ps"],
        spec: Spec {
            short: "aAcdefFHjlLmMNTuxwyZo:O:p:u:U:g:G:t:C:q:s:",
            long: &[
                "sort=", "format=", "pid=", "ppid=", "user=", "cols=", "columns=", "width=",
                "lines=", "rows=", "no-headers", "headers", "forest", "help=?", "version",
                "info", "cumulative", "deselect", "sid=", "tty=", "group=", "Group=",
                "User=", "quick-pid=",
            ],
            abbrev: false,
            ..BARE
        },
        operands: Operands::Ps,
        ..BASE
    },
    // System inspection: net-tools' hostname, iproute2 6 (ss, ip),
    // systemd 255 journalctl, procps 4 pgrep. Options that set, kill,
    // dump, read a file or enter a namespace are simply not listed.
    Program {
        names: &["hostname"],
        spec: Spec {
            short: "adfAiIsy",
            long: &[
                "alias", "domain", "fqdn", "long", "all-fqdns", "ip-address",
                "all-ip-addresses", "short", "yp", "nis", "help", "version",
            ],
            abbrev: false,
            ..BARE
        },
        operands: Operands::None,
        ..BASE
    },
    Program {
        names: &["ss"],
        spec: Spec {
            short: "HnrapleiomtuwxsE46Z0",
            long: &[
                "no-header", "numeric", "resolve", "all", "processes", "listening",
                "extended", "info", "options", "memory", "tcp", "udp", "raw", "unix", "summary",
                "ipv4", "ipv6", "oneline", "help", "version",
            ],
            abbrev: false,
            ..BARE
        },
        follow: &["-E"],
        // A filter expression: `sport = :8080`, `state listening`.
        operands: Operands::Text,
        ..BASE
    },
    Program {
        names: &["ip"],
        spec: Spec {
            short: "46sdojp",
            long: &[],
            abbrev: false,
            ..BARE
        },
        operands: Operands::Words(&[
            "addr", "address", "a", "link", "l", "route", "r", "neigh", "neighbour", "n",
            "show", "list", "ls",
        ]),
        ..BASE
    },
    Program {
        names: &["journalctl"],
        spec: Spec {
            short: "u:n::kp:rqxg:S:U:o:t:",
            long: &[
                "unit=", "user-unit=", "lines=?", "dmesg", "priority=", "reverse", "quiet",
                "catalog", "grep=", "case-sensitive=?", "since=", "until=", "output=",
                "identifier=", "no-pager", "no-hostname", "utc", "list-boots", "disk-usage",
                "no-full", "full", "all", "help", "version",
            ],
            abbrev: false,
            ..BARE
        },
        // Journal matches (`_PID=1`), not files.
        operands: Operands::Text,
        ..BASE
    },
    Program {
        names: &["pgrep"],
        spec: Spec {
            short: "lafinovxcwd:g:G:P:s:t:u:U:",
            long: &[
                "list-name", "list-full", "full", "ignore-case", "newest", "oldest",
                "inverse", "exact", "count", "lightweight", "delimiter=", "pgroup=", "group=",
                "parent=", "session=", "terminal=", "euid=", "uid=", "help", "version",
            ],
            abbrev: false,
            ..BARE
        },
        // A process-name pattern, never opened.
        operands: Operands::Text,
        ..BASE
    },
    Program {
        names: &["locale"],
        spec: Spec {
            short: "aemvk",
            long: &[
                "all-locales", "charmaps", "verbose", "keyword-name", "category-name",
                "help", "version", "usage",
            ],
            ..BARE
        },
        operands: Operands::Text,
        ..BASE
    },
    Program {
        names: &["echo", "printf", "true", "false", "sleep", "seq"],
        operands: Operands::Anything,
        ..BASE
    },
    Program {
        names: &["test", "["],
        operands: Operands::Probe,
        ..BASE
    },
];
