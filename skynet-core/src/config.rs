//! Settings: `SKYNET_HOME`, `skynet.toml`, environment (being written).
