//! `KnowledgeDocs` (issue 59) on both backends: sources registered due at once, claimed
//! by one process at a time until the lease ends, their pages replaced by a fetch and kept
//! by a failed one (with the error and the count of failures), made due again on demand.

use super::fixtures::*;
use crate::store::{DynStore, KnowledgeFetched, KnowledgePage, KnowledgeUse};

const RETURNS: &str = "https://acme.example/help/returns";
const SITEMAP: &str = "https://acme.example/sitemap.xml";

fn page(source: &str, url: &str, body: &str, at: i64) -> KnowledgePage {
    KnowledgePage {
        source: source.into(),
        url: url.into(),
        title: Some("Returns".into()),
        kind: "html".into(),
        body: body.into(),
        hash: format!("h-{body}"),
        etag: Some("\"v1\"".into()),
        last_modified: None,
        fetched_at: t(at),
    }
}

fn uses() -> Vec<KnowledgeUse> {
    vec![
        KnowledgeUse {
            source: RETURNS.into(),
            used_by: "support/assistant".into(),
        },
        KnowledgeUse {
            source: SITEMAP.into(),
            used_by: "support/assistant".into(),
        },
    ]
}

async fn sources_are_claimed_fetched_and_kept(store: DynStore) {
    assert!(store.knowledge_sources().await.unwrap().is_empty());
    store.knowledge_register(&uses(), t(1)).await.unwrap();
    // Registering again keeps the schedule; `used_by` follows the flows.
    store
        .knowledge_register(
            &[KnowledgeUse {
                source: RETURNS.into(),
                used_by: "support/assistant, faq/bot".into(),
            }],
            t(5),
        )
        .await
        .unwrap();
    let all = store.knowledge_sources().await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(
        (
            all[0].source.as_str(),
            all[0].next_fetch_at,
            all[0].fetched_at
        ),
        (RETURNS, t(1), None)
    );
    assert_eq!(all[0].used_by, "support/assistant, faq/bot");

    // One process holds a lease; another finds nothing to claim until it ends.
    let claimed = store.knowledge_claim("a", t(2), t(62), 10).await.unwrap();
    assert_eq!(claimed, vec![RETURNS.to_string(), SITEMAP.to_string()]);
    assert!(store
        .knowledge_claim("b", t(3), t(63), 10)
        .await
        .unwrap()
        .is_empty());

    let fetched = KnowledgeFetched {
        source: SITEMAP.into(),
        owner: "a".into(),
        at: t(4),
        pages: Some(vec![
            page(SITEMAP, "https://acme.example/help/a", "A", 4),
            page(SITEMAP, "https://acme.example/help/b", "B", 4),
        ]),
        error: None,
        next_fetch_at: t(3604),
    };
    // Not the holder: nothing stored.
    let not_mine = KnowledgeFetched {
        owner: "b".into(),
        ..fetched.clone()
    };
    assert!(!store.knowledge_fetched(&not_mine).await.unwrap());
    assert!(store.knowledge_pages(None).await.unwrap().is_empty());
    assert!(store.knowledge_fetched(&fetched).await.unwrap());
    let pages = store.knowledge_pages(Some(SITEMAP)).await.unwrap();
    assert_eq!(
        pages,
        vec![
            page(SITEMAP, "https://acme.example/help/a", "A", 4),
            page(SITEMAP, "https://acme.example/help/b", "B", 4)
        ]
    );

    // A later fetch replaces the pages: one gone, one changed.
    store.knowledge_due_now(Some(SITEMAP), t(10)).await.unwrap();
    assert_eq!(
        store.knowledge_claim("b", t(11), t(71), 10).await.unwrap(),
        vec![SITEMAP.to_string()]
    );
    let again = KnowledgeFetched {
        owner: "b".into(),
        at: t(12),
        pages: Some(vec![page(SITEMAP, "https://acme.example/help/a", "A2", 12)]),
        next_fetch_at: t(3612),
        ..fetched.clone()
    };
    assert!(store.knowledge_fetched(&again).await.unwrap());
    let pages = store.knowledge_pages(Some(SITEMAP)).await.unwrap();
    assert_eq!(
        pages.iter().map(|p| p.body.as_str()).collect::<Vec<_>>(),
        vec!["A2"]
    );

    // A failed fetch keeps the pages and counts the failure; the lease of `a` on RETURNS
    // ended at t(62), so `b` may claim it then.
    assert!(store
        .knowledge_claim("b", t(50), t(110), 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.knowledge_claim("b", t(63), t(123), 10).await.unwrap(),
        vec![RETURNS.to_string()]
    );
    let failed = KnowledgeFetched {
        source: RETURNS.into(),
        owner: "b".into(),
        at: t(64),
        pages: None,
        error: Some("the server answered 404 Not Found".into()),
        next_fetch_at: t(124),
    };
    assert!(store.knowledge_fetched(&failed).await.unwrap());
    assert!(store
        .knowledge_fetched(&KnowledgeFetched {
            at: t(130),
            next_fetch_at: t(250),
            ..failed.clone()
        })
        .await
        .is_ok());
    let all = store.knowledge_sources().await.unwrap();
    let returns = &all[0];
    assert_eq!(
        (
            returns.error.as_deref(),
            returns.failures,
            returns.fetched_at,
            returns.pages
        ),
        (Some("the server answered 404 Not Found"), 1, None, 0)
    );
    let sitemap = &all[1];
    assert_eq!(
        (
            sitemap.error.as_deref(),
            sitemap.failures,
            sitemap.fetched_at,
            sitemap.pages,
            sitemap.next_fetch_at
        ),
        (None, 0, Some(t(12)), 1, t(3612))
    );
    assert_eq!(store.knowledge_pages(None).await.unwrap().len(), 1);

    // Everything due now.
    let due = store.knowledge_due_now(None, t(200)).await.unwrap();
    assert_eq!(due, vec![RETURNS.to_string(), SITEMAP.to_string()]);
    assert!(store
        .knowledge_due_now(Some("https://other.example/"), t(200))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .knowledge_claim("c", t(200), t(260), 1)
            .await
            .unwrap()
            .len(),
        1,
        "at most the limit"
    );
}

conformance!(sources_are_claimed_fetched_and_kept);
