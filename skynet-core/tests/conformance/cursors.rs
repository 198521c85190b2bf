//! Cursors: named resume positions that survive a reopen and only move
//! forward.

use super::*;
use skynet_core::Error;

/// A cursor starts absent, stores a position, refuses to move back,
/// keeps names apart, and refuses a bad name.
pub async fn cursors_only_move_forward(store: SharedStore) {
    assert_eq!(store.cursor("telegram:bot1").await.expect("read"), None);
    assert_eq!(
        store
            .advance_cursor("telegram:bot1", 10)
            .await
            .expect("store"),
        10
    );
    assert_eq!(
        store
            .advance_cursor("telegram:bot1", 7)
            .await
            .expect("older"),
        10
    );
    assert_eq!(store.cursor("telegram:bot1").await.expect("read"), Some(10));
    assert_eq!(
        store
            .advance_cursor("telegram:bot1", 11)
            .await
            .expect("newer"),
        11
    );
    assert_eq!(store.cursor("telegram:bot2").await.expect("read"), None);
    for bad in ["", "a\nb"] {
        assert!(matches!(
            store.advance_cursor(bad, 1).await,
            Err(Error::InvalidInput(_))
        ));
    }
}
