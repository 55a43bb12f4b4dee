//! The studio's saves: recorded with who, when, the versions and the diff; a file's
//! history newest first, bounded, without other files' saves; one save read back with its
//! text for a restore.

use super::fixtures::*;
use crate::store::{DynStore, NewFlowSave, MAX_FLOW_SAVES};

fn save(path: &str, n: i64, previous: Option<&str>) -> NewFlowSave {
    NewFlowSave {
        path: path.into(),
        at: t(n) + chrono::TimeDelta::microseconds(123_456),
        who: if n % 2 == 0 { "local" } else { "ana" }.into(),
        version: format!("{n:064x}"),
        previous: previous.map(str::to_string),
        text: format!("id: welcome\n# save {n} — ünïcode\n"),
        diff: format!("@@ -1 +1 @@\n-old\n+save {n}\n"),
    }
}

async fn a_files_saves_are_listed_newest_first_and_read_back_with_their_text(store: DynStore) {
    let first = save("flows/welcome.yaml", 1, None);
    let first_id = store.record_flow_save(&first).await.unwrap();
    let second = save("flows/welcome.yaml", 2, Some(&first.version));
    let second_id = store.record_flow_save(&second).await.unwrap();
    store
        .record_flow_save(&save("flows/other.yaml", 3, None))
        .await
        .unwrap();
    assert!(second_id > first_id);

    let history = store.flow_saves("flows/welcome.yaml", 10).await.unwrap();
    let ids: Vec<i64> = history.iter().map(|s| s.id).collect();
    assert_eq!(
        ids,
        vec![second_id, first_id],
        "newest first, this file only"
    );
    let newest = &history[0];
    assert_eq!(newest.path, "flows/welcome.yaml");
    assert_eq!(newest.at, second.at, "to the microsecond");
    assert_eq!(newest.who, "local");
    assert_eq!(newest.version, second.version);
    assert_eq!(newest.previous.as_deref(), Some(first.version.as_str()));
    assert_eq!(newest.diff, second.diff);
    assert_eq!(history[1].previous, None, "a new file replaced nothing");
    assert_eq!(history[1].who, "ana");

    let read = store.flow_save(first_id).await.unwrap().unwrap();
    assert_eq!(read.text, first.text);
    assert_eq!(read.entry, history[1]);
    assert_eq!(store.flow_save(first_id + 1_000).await.unwrap(), None);
    assert!(store
        .flow_saves("flows/none.yaml", 10)
        .await
        .unwrap()
        .is_empty());
}

async fn a_history_is_bounded(store: DynStore) {
    for n in 0..(MAX_FLOW_SAVES + 5) {
        store
            .record_flow_save(&save("flows/busy.yaml", n, None))
            .await
            .unwrap();
    }
    let two = store.flow_saves("flows/busy.yaml", 2).await.unwrap();
    assert_eq!(two.len(), 2);
    assert_eq!(two[0].version, format!("{:064x}", MAX_FLOW_SAVES + 4));
    let all = store.flow_saves("flows/busy.yaml", i64::MAX).await.unwrap();
    assert_eq!(all.len() as i64, MAX_FLOW_SAVES);
    let none_asked = store.flow_saves("flows/busy.yaml", 0).await.unwrap();
    assert_eq!(none_asked.len(), 1, "a limit under 1 reads one");
}

conformance!(
    a_files_saves_are_listed_newest_first_and_read_back_with_their_text,
    a_history_is_bounded,
);
