//! Inbound media downloads: enqueued with their message (once, whatever the duplicates),
//! claimed by one worker at a time, retried, recorded, and swept after the retention
//! without forgetting a file another message still refers to.

use super::fixtures::*;
use crate::domain::{InboundContent, InboundMessage, MediaKind};
use crate::store::{
    DownloadOutcome, DownloadStatus, DynStore, Id, IngestItem, IngestOutcome, StoreError,
};

fn photo(id: &str, from: u32) -> InboundMessage {
    let mut m = inbound(id, from, Some(t(0)), "");
    m.content = InboundContent::Media {
        media: MediaKind::Image,
        media_id: Some(format!("media-{id}")),
        url: None,
        mime_type: Some("image/jpeg".into()),
        sha256: Some("CyjIldvknK1UBHfZ5X/nRGbmZa0aqCjYFD16Id/wzx8=".into()),
        caption: Some("the box".into()),
        filename: None,
        voice: false,
    };
    m
}

/// Stores a photo message received at `at`; its event id.
async fn receive_photo(store: &DynStore, id: &str, from: u32, at: i64) -> Id {
    match &store
        .ingest(&[message(photo(id, from), t(at))])
        .await
        .unwrap()[..]
    {
        [IngestOutcome::Stored { event_id, .. }] => *event_id,
        other => panic!("not stored: {other:?}"),
    }
}

fn stored(sha: &str) -> DownloadOutcome {
    DownloadOutcome::Stored {
        sha256: sha.into(),
        content_type: "image/jpeg".into(),
        size_bytes: 42,
    }
}

async fn a_media_message_enqueues_one_download(store: DynStore) {
    let event = receive_photo(&store, "wamid.p1", 1, 0).await;
    // The same webhook again, and a text message: nothing more to download.
    store
        .ingest(&[
            message(photo("wamid.p1", 1), t(1)),
            message(inbound("wamid.t1", 1, Some(t(1)), "hi"), t(1)),
        ])
        .await
        .unwrap();
    let r = store.event_media(event).await.unwrap().expect("a download");
    assert_eq!(r.status, DownloadStatus::Queued);
    assert_eq!(r.kind, MediaKind::Image);
    assert_eq!(r.media_id.as_deref(), Some("media-wamid.p1"));
    assert_eq!(r.declared_mime_type.as_deref(), Some("image/jpeg"));
    assert_eq!(
        r.declared_sha256.as_deref(),
        Some("CyjIldvknK1UBHfZ5X/nRGbmZa0aqCjYFD16Id/wzx8=")
    );
    assert_eq!(r.provider_message_id, "wamid.p1");
    assert_eq!(store.downloads_queued().await.unwrap(), 1);
    let claimed = store.claim_downloads("w", t(2), LEASE, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].id, r.id);
}

async fn a_claimed_download_is_not_claimed_twice_until_its_lease_ends(store: DynStore) {
    receive_photo(&store, "wamid.p1", 1, 0).await;
    receive_photo(&store, "wamid.p2", 2, 0).await;
    let first = store.claim_downloads("a", t(1), LEASE, 1).await.unwrap();
    assert_eq!(first.len(), 1);
    let second = store.claim_downloads("b", t(20), LEASE, 10).await.unwrap();
    assert_eq!(second.len(), 1);
    assert_ne!(first[0].id, second[0].id);
    assert!(store
        .claim_downloads("c", t(21), LEASE, 10)
        .await
        .unwrap()
        .is_empty());
    // `a` died: once its lease ran out, another takes its download over (not `b`'s).
    let later = t(1) + chrono::Duration::from_std(LEASE).unwrap() + chrono::Duration::seconds(1);
    let taken = store.claim_downloads("c", later, LEASE, 10).await.unwrap();
    assert_eq!(
        taken.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![first[0].id]
    );
    // ...and `a`'s late outcome changes nothing.
    let err = store
        .record_download(first[0].id, "a", &stored("aa"), later)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::LeaseLost { .. }), "{err}");
}

async fn a_retry_waits_and_a_success_is_recorded(store: DynStore) {
    let event = receive_photo(&store, "wamid.p1", 1, 0).await;
    let job = store
        .claim_downloads("w", t(1), LEASE, 10)
        .await
        .unwrap()
        .remove(0);
    store
        .record_download(
            job.id,
            "w",
            &DownloadOutcome::Retry {
                at: t(60),
                error: "Meta answered HTTP 500".into(),
            },
            t(2),
        )
        .await
        .unwrap();
    assert!(store
        .claim_downloads("w", t(59), LEASE, 10)
        .await
        .unwrap()
        .is_empty());
    let again = store
        .claim_downloads("w", t(60), LEASE, 10)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(again.attempts, 1);
    assert_eq!(again.error.as_deref(), Some("Meta answered HTTP 500"));
    let sha = "ab".repeat(32);
    store
        .record_download(again.id, "w", &stored(&sha), t(61))
        .await
        .unwrap();
    let r = store.event_media(event).await.unwrap().unwrap();
    assert_eq!(r.status, DownloadStatus::Stored);
    assert_eq!(r.attempts, 2);
    assert_eq!(r.error, None);
    assert_eq!(r.sha256.as_deref(), Some(sha.as_str()));
    assert_eq!(r.content_type.as_deref(), Some("image/jpeg"));
    assert_eq!(r.size_bytes, Some(42));
    assert_eq!(r.stored_at, Some(t(61)));
    assert_eq!(store.stored_media(&sha).await.unwrap().unwrap().id, r.id);
    assert_eq!(store.downloads_queued().await.unwrap(), 0);
    assert!(store
        .claim_downloads("w", t(999), LEASE, 10)
        .await
        .unwrap()
        .is_empty());
}

async fn a_failure_keeps_its_reason(store: DynStore) {
    let event = receive_photo(&store, "wamid.p1", 1, 0).await;
    let job = store
        .claim_downloads("w", t(1), LEASE, 10)
        .await
        .unwrap()
        .remove(0);
    let error = "the file's SHA-256 is 00…, not the 0b… the provider declared".to_string();
    store
        .record_download(
            job.id,
            "w",
            &DownloadOutcome::Failed {
                error: error.clone(),
            },
            t(2),
        )
        .await
        .unwrap();
    let r = store.event_media(event).await.unwrap().unwrap();
    assert_eq!(r.status, DownloadStatus::Failed);
    assert_eq!(r.error, Some(error));
    assert_eq!(r.sha256, None);
    assert!(store
        .claim_downloads("w", t(999), LEASE, 10)
        .await
        .unwrap()
        .is_empty());
}

async fn the_sweep_forgets_old_downloads_but_not_a_file_still_referred_to(store: DynStore) {
    let shared = "11".repeat(32);
    let alone = "22".repeat(32);
    // Two old messages (t=0) and a recent one (t=1000) with the old one's bytes.
    for (id, from, at) in [
        ("wamid.old1", 1, 0),
        ("wamid.old2", 2, 0),
        ("wamid.new", 3, 1000),
    ] {
        receive_photo(&store, id, from, at).await;
    }
    let jobs = store
        .claim_downloads("w", t(1001), LEASE, 10)
        .await
        .unwrap();
    let sha_of = |m: &str| {
        if m == "wamid.old2" {
            alone.clone()
        } else {
            shared.clone()
        }
    };
    for job in &jobs {
        let sha = sha_of(&job.provider_message_id);
        store
            .record_download(job.id, "w", &stored(&sha), t(1002))
            .await
            .unwrap();
    }
    // A fourth, still queued and not leased, from long ago: forgotten as well.
    receive_photo(&store, "wamid.stuck", 4, 1).await;

    let (deleted, mut orphans) = store.sweep_downloads(t(500), 100).await.unwrap();
    orphans.sort();
    assert_eq!(deleted, 3, "old1, old2 and the stuck one");
    assert_eq!(
        orphans,
        vec![alone.clone()],
        "the shared file is still referred to"
    );
    assert!(store.stored_media(&shared).await.unwrap().is_some());
    assert!(store.stored_media(&alone).await.unwrap().is_none());
    // Nothing more to sweep before the recent one's time.
    assert_eq!(
        store.sweep_downloads(t(500), 100).await.unwrap(),
        (0, vec![])
    );
    let (deleted, orphans) = store.sweep_downloads(t(2000), 100).await.unwrap();
    assert_eq!((deleted, orphans), (1, vec![shared]));
}

async fn the_sweep_leaves_a_download_in_progress(store: DynStore) {
    receive_photo(&store, "wamid.p1", 1, 0).await;
    let job = store
        .claim_downloads("w", t(1), LEASE, 10)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(
        store.sweep_downloads(t(100), 100).await.unwrap(),
        (0, vec![])
    );
    store
        .record_download(job.id, "w", &stored(&"33".repeat(32)), t(2))
        .await
        .unwrap();
    assert_eq!(store.sweep_downloads(t(100), 100).await.unwrap().0, 1);
}

async fn a_message_without_media_or_with_nothing_to_fetch_enqueues_nothing(store: DynStore) {
    let mut m = photo("wamid.nothing", 1);
    if let InboundContent::Media { media_id, .. } = &mut m.content {
        *media_id = None;
    }
    let items: Vec<IngestItem> = vec![
        message(m, t(0)),
        message(inbound("wamid.t", 2, Some(t(0)), "hello"), t(0)),
    ];
    store.ingest(&items).await.unwrap();
    assert_eq!(store.downloads_queued().await.unwrap(), 0);
}

conformance!(
    a_media_message_enqueues_one_download,
    a_claimed_download_is_not_claimed_twice_until_its_lease_ends,
    a_retry_waits_and_a_success_is_recorded,
    a_failure_keeps_its_reason,
    the_sweep_forgets_old_downloads_but_not_a_file_still_referred_to,
    the_sweep_leaves_a_download_in_progress,
    a_message_without_media_or_with_nothing_to_fetch_enqueues_nothing,
);
