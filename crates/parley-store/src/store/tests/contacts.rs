//! Contact imports and exports: rows found by phone or business-scoped user id update the
//! contact (name, tags added, fields merged, opt-in state), others create one; a row naming
//! two contacts of one person merges them; exports page in id order.

use super::fixtures::*;
use crate::domain::contact::OPTED_OUT;
use crate::domain::contact_file::ContactImport;
use crate::domain::{Contact, ContactPatch, PhoneNumber};
use crate::store::{import, DynStore, ImportOutcome, IMPORT_BATCH};
use serde_json::{json, Map, Value};

fn row(n: usize, phone: Option<u32>, user_id: Option<&str>) -> ContactImport {
    ContactImport {
        row: n,
        phone: phone.map(|p| PhoneNumber::parse(&format!("+1631555{p:04}")).unwrap()),
        user_id: user_id.map(str::to_string),
        name: None,
        tags: Vec::new(),
        opted_in: None,
        fields: Map::new(),
    }
}

fn fields(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

async fn everyone(store: &DynStore) -> Vec<Contact> {
    store.export_contacts(0, 1_000).await.unwrap()
}

async fn an_import_creates_new_contacts_and_updates_known_ones(store: DynStore) {
    let (_, conversation) = receive(&store, "wamid.1", 1, t(0)).await;
    let known = store.find_conversation(SENDER, &customer(1).key()).await;
    assert_eq!(known.unwrap().map(|c| c.id), Some(conversation));
    // The contact already has an attribute and a tag of its own.
    let mut patch = ContactPatch::default();
    patch.set_attributes.insert("city".into(), json!("Lima"));
    patch.tag("customer");
    store
        .claim_conversations("w", t(1), LEASE, 10)
        .await
        .unwrap();
    let work = store.load_work(conversation, 10).await.unwrap();
    let mut commit = step(conversation, work.events[0].id, "w", t(1));
    commit.contact_patch = Some(patch);
    commit.release = true;
    store.commit_step(&commit).await.unwrap();

    let mut ana = row(2, Some(1), None);
    ana.name = Some("Ana".into());
    ana.tags = vec!["vip".into(), "customer".into()];
    ana.opted_in = Some(false);
    ana.fields = fields(json!({"plan": "gold"}));
    let mut bo = row(3, None, Some("US.10482957"));
    bo.fields = fields(json!({"plan": "free"}));
    let cy = row(4, Some(2), None);
    let outcomes = store.import_contacts(&[ana, bo, cy], t(10)).await.unwrap();
    assert!(
        matches!(outcomes[0], ImportOutcome::Updated(_)),
        "{outcomes:?}"
    );
    assert!(
        matches!(outcomes[1], ImportOutcome::Created(_)),
        "{outcomes:?}"
    );
    assert!(
        matches!(outcomes[2], ImportOutcome::Created(_)),
        "{outcomes:?}"
    );

    let all = everyone(&store).await;
    assert_eq!(all.len(), 3);
    let ana = &all[0];
    assert_eq!(ana.key, "+16315550001");
    assert_eq!(ana.name.as_deref(), Some("Ana"));
    assert_eq!(ana.tags, vec!["customer".to_string(), "vip".to_string()]);
    assert_eq!(
        Value::Object(ana.attributes.clone()),
        json!({"city": "Lima", "plan": "gold", OPTED_OUT: true})
    );
    assert_eq!(all[1].key, "bsuid:US.10482957");
    assert_eq!(all[1].user_id.as_deref(), Some("US.10482957"));
    assert_eq!(all[2].key, "+16315550002");
}

async fn importing_again_changes_only_what_the_rows_give(store: DynStore) {
    let mut first = row(2, Some(1), None);
    first.name = Some("Ana".into());
    first.opted_in = Some(false);
    first.fields = fields(json!({"plan": "gold", "city": "Lima"}));
    let outcomes = store.import_contacts(&[first], t(0)).await.unwrap();
    assert!(matches!(outcomes[0], ImportOutcome::Created(_)));

    // No name: the name stays; opted back in; one field removed, one changed.
    let mut again = row(2, Some(1), None);
    again.opted_in = Some(true);
    again.tags = vec!["lead".into()];
    again.fields = fields(json!({"plan": null, "city": "Quito"}));
    let outcomes = store.import_contacts(&[again], t(5)).await.unwrap();
    assert!(matches!(outcomes[0], ImportOutcome::Updated(_)));
    let all = everyone(&store).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].name.as_deref(), Some("Ana"));
    assert_eq!(all[0].tags, vec!["lead".to_string()]);
    assert_eq!(
        Value::Object(all[0].attributes.clone()),
        json!({"city": "Quito"})
    );
}

async fn a_row_naming_two_contacts_of_one_person_merges_them(store: DynStore) {
    let mut phone_only = row(2, Some(1), None);
    phone_only.tags = vec!["a".into()];
    let mut id_only = row(3, None, Some("US.77"));
    id_only.tags = vec!["b".into()];
    store
        .import_contacts(&[phone_only, id_only], t(0))
        .await
        .unwrap();
    assert_eq!(everyone(&store).await.len(), 2);

    let both = row(2, Some(1), Some("US.77"));
    let outcomes = store.import_contacts(&[both], t(5)).await.unwrap();
    assert!(matches!(outcomes[0], ImportOutcome::Updated(_)));
    let all = everyone(&store).await;
    assert_eq!(all.len(), 1, "{all:#?}");
    assert_eq!(all[0].key, "+16315550001");
    assert_eq!(all[0].user_id.as_deref(), Some("US.77"));
    assert_eq!(all[0].tags, vec!["a".to_string(), "b".to_string()]);
}

async fn a_large_import_runs_in_batches_and_exports_in_pages(store: DynStore) {
    let n = IMPORT_BATCH * 2 + 500;
    let rows: Vec<ContactImport> = (0..n)
        .map(|i| row(i + 2, Some(1000 + i as u32), None))
        .collect();
    let parsed = crate::domain::contact_file::ParsedImport {
        contacts: rows,
        refused: Vec::new(),
    };
    let report = import(store.as_ref(), parsed, t(0)).await.unwrap();
    assert_eq!((report.created, report.updated), (n, 0));

    let mut seen = Vec::new();
    let mut after = 0;
    loop {
        let page = store.export_contacts(after, 1_000).await.unwrap();
        let Some(last) = page.last() else { break };
        assert!(page.len() <= 1_000);
        after = last.id;
        seen.extend(page.into_iter().map(|c| c.key));
    }
    assert_eq!(seen.len(), n);
    assert_eq!(seen.first().map(String::as_str), Some("+16315551000"));
    assert_eq!(seen.last().map(String::as_str), Some("+16315553499"));
}

conformance!(
    an_import_creates_new_contacts_and_updates_known_ones,
    importing_again_changes_only_what_the_rows_give,
    a_row_naming_two_contacts_of_one_person_merges_them,
    a_large_import_runs_in_batches_and_exports_in_pages,
);
