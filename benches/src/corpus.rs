//! The seeded operations notes the memory benches store and search: a
//! fixed generator, so every run and every bench sees the same corpus.

const VERBS: [&str; 8] = [
    "check", "restart", "build", "deploy", "inspect", "rotate", "clean", "test",
];
const OBJECTS: [&str; 12] = [
    "git status",
    "nginx",
    "the postgres replica",
    "disk usage of /var",
    "the api container",
    "kernel logs",
    "the release branch",
    "memory pressure",
    "port 8080",
    "the backup job",
    "tls certificates",
    "the worker pool",
];
const OUTCOMES: [&str; 4] = [
    "it succeeded",
    "it failed: permission denied",
    "it timed out after 30s",
    "it succeeded after one retry",
];

/// SplitMix64 of `i`: neighbouring indices differ in every bit.
pub fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn pick<'a>(words: &[&'a str], x: u64) -> &'a str {
    words[(x % words.len() as u64) as usize]
}

/// The `i`-th note of the corpus.
pub fn note(i: u64) -> String {
    let x = mix(i);
    format!(
        "{} {} on host-{} in /srv/app{}: {} (run {i})",
        pick(&VERBS, x),
        pick(&OBJECTS, x >> 8),
        (x >> 16) % 50,
        (x >> 24) % 20,
        pick(&OUTCOMES, x >> 32),
    )
}

/// The `j`-th query: a verb, an object and a host, like an operator asks.
pub fn query(j: u64) -> String {
    let x = mix(1_000_000_000 + j);
    format!(
        "{} {} host-{}",
        pick(&VERBS, x),
        pick(&OBJECTS, x >> 8),
        (x >> 16) % 50
    )
}
