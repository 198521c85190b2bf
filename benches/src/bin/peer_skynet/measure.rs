//! Clocks and CPU counters shared by every workload, and the line protocol.

use std::io::Write;

/// Linux reports process times in ticks of `1 / USER_HZ` seconds; USER_HZ
/// is 100 on every Linux ABI this runs on.
const TICKS_PER_SECOND: f64 = 100.0;

/// Wall-clock time as Unix seconds (comparable across processes).
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// CPU seconds (user + system) of this process and of its children that
/// have been waited for, from `/proc/self/stat`.
pub fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // The command name may hold spaces: fields are counted after its ')'.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime, stime, cutime, cstime are fields 14..=17 of the whole line,
    // 11..=14 after the command name (field 3 is index 0).
    let ticks: f64 = (11..=14)
        .filter_map(|i| fields.get(i).and_then(|f| f.parse::<f64>().ok()))
        .sum();
    ticks / TICKS_PER_SECOND
}

/// Print one protocol line and flush it at once (the driver reacts to it).
pub fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    // A closed stdout means the driver is gone; nothing useful to do then.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Print the final `RESULT` line.
pub fn result(value: serde_json::Value) {
    say(&format!("RESULT {value}"));
}
