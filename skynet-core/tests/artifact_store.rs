//! The artifact store conformance suite: every backend stores, streams,
//! verifies and deletes objects alike. Each case takes a [`Bucket`] (a
//! fresh store plus a way to tamper with an object behind its back) and
//! runs on the local filesystem backend.
#![allow(clippy::unwrap_used)]

use futures::future::BoxFuture;
use sha2::{Digest, Sha256};
use skynet_core::Error;
use skynet_core::artifact::{ByteRange, LocalArtifactStore, SharedArtifactStore};
use std::sync::Arc;
use tokio::io::AsyncReadExt;

/// A fresh store and a way to overwrite an object's bytes directly.
pub struct Bucket {
    store: SharedArtifactStore,
    tamper: Box<dyn Fn(String, Vec<u8>) -> BoxFuture<'static, ()> + Send + Sync>,
    #[allow(dead_code)]
    keep: Box<dyn std::any::Any + Send + Sync>,
}

fn local() -> Bucket {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    Bucket {
        store: Arc::new(LocalArtifactStore::new(root.clone())),
        tamper: Box::new(move |sha: String, bytes: Vec<u8>| {
            let path = root.join("objects").join(&sha[..2]).join(&sha);
            Box::pin(async move { tokio::fs::write(path, bytes).await.unwrap() })
        }),
        keep: Box::new(dir),
    }
}

/// Pseudo-random bytes (a fixed xorshift, so failures reproduce).
fn bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

async fn read_all(
    store: &SharedArtifactStore,
    sha: &str,
    size: u64,
    r: Option<ByteRange>,
) -> Vec<u8> {
    let mut reader = store.get(sha, size, r).await.unwrap();
    let mut out = Vec::new();
    reader.read_to_end(&mut out).await.unwrap();
    out
}

/// Bytes go in streamed and come back the same, under their SHA-256; the
/// same bytes twice are one object; a range reads just that part.
pub async fn objects_round_trip_by_content(b: Bucket) {
    let data = bytes(3 * 1024 * 1024 + 17, 7);
    let stored = b.store.put(&mut data.as_slice(), u64::MAX).await.unwrap();
    assert_eq!(stored.size, data.len() as u64);
    assert_eq!(stored.sha256, hex::encode(Sha256::digest(&data)));
    let again = b.store.put(&mut data.as_slice(), u64::MAX).await.unwrap();
    assert_eq!(again, stored);
    assert_eq!(
        read_all(&b.store, &stored.sha256, stored.size, None).await,
        data
    );
    let part = read_all(
        &b.store,
        &stored.sha256,
        stored.size,
        Some(ByteRange {
            start: 100,
            end: 1_000_100,
        }),
    )
    .await;
    assert_eq!(part, data[100..1_000_100]);
    let listed = b.store.objects().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].sha256.as_str(), listed[0].size),
        (stored.sha256.as_str(), stored.size)
    );
    let empty = b.store.put(&mut &b""[..], 0).await.unwrap();
    assert_eq!(empty.size, 0);
    assert!(read_all(&b.store, &empty.sha256, 0, None).await.is_empty());
}

/// More than the cap is refused and leaves nothing behind.
pub async fn over_the_cap_keeps_nothing(b: Bucket) {
    let data = bytes(100_000, 3);
    let e = b.store.put(&mut data.as_slice(), 99_999).await.unwrap_err();
    assert!(matches!(e, Error::InvalidInput(_)), "{e}");
    assert!(b.store.objects().await.unwrap().is_empty());
}

/// A source that fails midway (a worker dying mid-upload) leaves no object.
pub async fn a_failed_upload_leaves_no_object(b: Bucket) {
    let head = bytes(700_000, 5);
    let mut broken = tokio::io::AsyncReadExt::chain(head.as_slice(), tokio_test_error_reader());
    let e = b.store.put(&mut broken, u64::MAX).await.unwrap_err();
    assert!(matches!(e, Error::ArtifactStorage { .. }), "{e}");
    assert!(b.store.objects().await.unwrap().is_empty());
}

fn tokio_test_error_reader() -> impl tokio::io::AsyncRead + Unpin + Send {
    struct Failing;
    impl tokio::io::AsyncRead for Failing {
        fn poll_read(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            _: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Err(std::io::Error::other("the uploader died")))
        }
    }
    Failing
}

/// A stored object changed behind the store's back fails its checksum
/// and is not served, whole or in part; a missing one too.
pub async fn corrupted_objects_are_not_served(b: Bucket) {
    let data = bytes(200_000, 11);
    let stored = b.store.put(&mut data.as_slice(), u64::MAX).await.unwrap();
    let mut flipped = data.clone();
    flipped[150_000] ^= 1;
    (b.tamper)(stored.sha256.clone(), flipped).await;
    for range in [None, Some(ByteRange { start: 0, end: 10 })] {
        let e = b
            .store
            .get(&stored.sha256, stored.size, range)
            .await
            .err()
            .unwrap();
        assert!(matches!(e, Error::ArtifactCorrupt { .. }), "{e}");
    }
    (b.tamper)(stored.sha256.clone(), data[..1000].to_vec()).await;
    let e = b
        .store
        .get(&stored.sha256, stored.size, None)
        .await
        .err()
        .unwrap();
    assert!(matches!(e, Error::ArtifactCorrupt { .. }), "{e}");
    assert!(b.store.delete(&stored.sha256).await.unwrap());
    assert!(
        !b.store.delete(&stored.sha256).await.unwrap(),
        "already gone"
    );
    let e = b
        .store
        .get(&stored.sha256, stored.size, None)
        .await
        .err()
        .unwrap();
    assert!(matches!(e, Error::ArtifactCorrupt { .. }), "{e}");
    assert!(b.store.objects().await.unwrap().is_empty());
}

/// An address is a digest, never a path.
pub async fn addresses_are_never_paths(b: Bucket) {
    for bad in ["../../../../etc/passwd", "", "ab/cd"] {
        let e = b.store.get(bad, 1, None).await.err().unwrap();
        assert!(matches!(e, Error::InvalidInput(_)), "{e}");
        let e = b.store.delete(bad).await.unwrap_err();
        assert!(matches!(e, Error::InvalidInput(_)), "{e}");
    }
}

/// Unfinished uploads are listed and removed by name (never a path); an
/// object is deleted by retention only if it was stored before the given
/// instant: one stored again since stays.
pub async fn unfinished_uploads_and_guarded_deletes(b: Bucket) {
    let data = bytes(1000, 7);
    let stored = b.store.put(&mut &data[..], 1 << 20).await.unwrap();
    let before = chrono::Utc::now() - chrono::Duration::hours(1);
    assert!(
        !b.store
            .delete_if_stored_before(&stored.sha256, before)
            .await
            .unwrap(),
        "stored after the instant: kept"
    );
    assert_eq!(read_all(&b.store, &stored.sha256, 1000, None).await, data);
    let later = chrono::Utc::now() + chrono::Duration::seconds(5);
    assert!(
        b.store
            .delete_if_stored_before(&stored.sha256, later)
            .await
            .unwrap()
    );
    assert!(b.store.objects().await.unwrap().is_empty());
    assert!(
        !b.store
            .delete_if_stored_before(&stored.sha256, later)
            .await
            .unwrap(),
        "already gone"
    );
    for bad in ["../x.part", "/etc/passwd", "a/b.part", ".hidden.part"] {
        let e = b.store.remove_unfinished_upload(bad).await.unwrap_err();
        assert!(matches!(e, Error::InvalidInput(_)), "{bad}: {e}");
    }
    // Nothing is unfinished after whole uploads.
    assert!(b.store.unfinished_uploads().await.unwrap().is_empty());
}

macro_rules! artifact_store_tests {
    ($bucket:expr; $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let Some(bucket) = ($bucket)().await else { return };
                super::$case(bucket).await;
            }
        )+
    };
}

macro_rules! all_cases {
    ($bucket:expr) => {
        artifact_store_tests!($bucket;
            objects_round_trip_by_content,
            over_the_cap_keeps_nothing,
            a_failed_upload_leaves_no_object,
            corrupted_objects_are_not_served,
            addresses_are_never_paths,
            unfinished_uploads_and_guarded_deletes,
        );
    };
}

mod local_fs {
    async fn bucket() -> Option<super::Bucket> {
        Some(super::local())
    }
    all_cases!(bucket);
}

/// The local store writes through a temporary file: a killed writer's
/// leftovers are in `tmp/`, never under an address.
#[tokio::test]
async fn local_writes_go_through_a_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalArtifactStore::new(dir.path());
    std::fs::create_dir_all(store.tmp_dir()).unwrap();
    std::fs::write(store.tmp_dir().join("crashed.part"), b"half").unwrap();
    assert!(
        skynet_core::artifact::ArtifactStore::objects(&store)
            .await
            .unwrap()
            .is_empty()
    );
    let unfinished = skynet_core::artifact::ArtifactStore::unfinished_uploads(&store)
        .await
        .unwrap();
    assert_eq!(
        unfinished
            .iter()
            .map(|u| (u.name.as_str(), u.size))
            .collect::<Vec<_>>(),
        [("crashed.part", 4)]
    );
    assert!(
        skynet_core::artifact::ArtifactStore::remove_unfinished_upload(&store, "crashed.part")
            .await
            .unwrap()
    );
    assert!(!store.tmp_dir().join("crashed.part").exists());
}
