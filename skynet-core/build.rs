//! `sqlx::migrate!` embeds the migrations at compile time: rebuild when
//! one is added or changed (sqlx's documented build script).

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
