use super::*;
use serde_json::json;

fn csv(text: &str) -> ParsedImport {
    parse(ImportFormat::Csv, text.as_bytes()).expect("a valid file")
}

fn reasons(parsed: &ParsedImport) -> Vec<(usize, String)> {
    parsed
        .refused
        .iter()
        .map(|r| (r.row, r.reason.clone()))
        .collect()
}

#[test]
fn a_csv_row_becomes_a_contact_with_tags_opt_in_and_fields() {
    let parsed = csv("phone,user_id,name,tags,opted_in,city,plan\r\n\
         +1 (631) 555-0101,US.10482957,Ana,vip; lead ;vip,no,Lima,\"gold, yearly\"\r\n");
    assert_eq!(parsed.refused, vec![]);
    let [c] = parsed.contacts.as_slice() else {
        panic!("one contact: {parsed:?}")
    };
    assert_eq!(c.row, 2);
    assert_eq!(c.phone.as_ref().map(|p| p.as_e164()), Some("+16315550101"));
    assert_eq!(c.user_id.as_deref(), Some("US.10482957"));
    assert_eq!(c.name.as_deref(), Some("Ana"));
    assert_eq!(c.tags, vec!["vip".to_string(), "lead".to_string()]);
    assert_eq!(c.opted_in, Some(false));
    assert_eq!(
        Value::Object(c.fields.clone()),
        json!({"city": "Lima", "plan": "gold, yearly"})
    );
    let patch = c.patch();
    assert_eq!(patch.set_attributes[OPTED_OUT], json!(true));
    assert_eq!(patch.add_tags, c.tags);
}

#[test]
fn empty_cells_change_nothing_and_blank_lines_are_skipped() {
    let parsed = csv("phone,name,opted_in,city\n+16315550101,,,\n\n+16315550102,Bo,yes,Quito\n");
    assert_eq!(parsed.refused, vec![]);
    assert_eq!(parsed.contacts.len(), 2);
    let first = &parsed.contacts[0];
    assert_eq!(
        (first.name.clone(), first.opted_in, first.fields.len()),
        (None, None, 0)
    );
    assert_eq!(parsed.contacts[1].row, 4);
    assert_eq!(parsed.contacts[1].opted_in, Some(true));
    assert_eq!(
        parsed.contacts[1].patch().set_attributes[OPTED_OUT],
        json!(null)
    );
}

#[test]
fn quoted_values_keep_commas_quotes_and_line_breaks_and_rows_count_lines() {
    let parsed = csv("phone,note\n+16315550101,\"said \"\"hi\"\",\nthen left\"\n+16315550102,x\n");
    assert_eq!(parsed.refused, vec![]);
    assert_eq!(
        parsed.contacts[0].fields["note"],
        json!("said \"hi\",\nthen left")
    );
    assert_eq!(
        parsed.contacts[1].row, 4,
        "the second record starts on line 4"
    );
}

#[test]
fn every_refusal_names_its_row_and_reason() {
    let long = "x".repeat(MAX_VALUE_CHARS + 1);
    let text = format!(
        "phone,user_id,name,opted_in,city\n\
         12,,,,\n\
         ,,Ana,,\n\
         +16315550101,,,,\n\
         +1 631 555 0101,,,,\n\
         ,bad id,,,\n\
         +16315550103,,,maybe,\n\
         +16315550104,,{long},,\n\
         +16315550105,,,\n\
         +16315550106,US.1,,,\n\
         ,US.1,,,\n"
    );
    let parsed = csv(&text);
    let got = reasons(&parsed);
    let expect: Vec<(usize, &str)> = vec![
        (2, "bad phone \"12\""),
        (3, "neither phone nor user_id"),
        (5, "duplicate of row 4 in the file"),
        (6, "bad user_id \"bad id\""),
        (7, "bad opted_in \"maybe\""),
        (8, "value too long: \"name\" has 1025 characters"),
        (9, "has 4 values but the header names 5 columns"),
        (11, "duplicate of row 10 in the file"),
    ];
    assert_eq!(got.len(), expect.len(), "{got:#?}");
    for ((row, reason), (want_row, want)) in got.iter().zip(&expect) {
        assert_eq!(row, want_row, "{reason}");
        assert!(
            reason.starts_with(want),
            "row {row}: {reason} (want {want})"
        );
    }
    assert_eq!(
        parsed.contacts.iter().map(|c| c.row).collect::<Vec<_>>(),
        vec![4, 10]
    );
}

/// Names and tags are one line of plain text, as the API takes them; a field may hold
/// line breaks and tabs but no other control character (an escape sequence came back out
/// in exports and made broadcasts skip the contact).
#[test]
fn control_characters_are_refused_in_names_tags_and_fields() {
    let parsed = csv("phone,name,tags,city,address\n\
         +16315550101,\"Ana\nBel\",,,\n\
         +16315550102,Ana\u{1b}[31m,,,\n\
         +16315550103,Ana,\"vip\tgold\",,\n\
         +16315550104,Ana,,Sevilla\u{1},\n\
         +16315550105,Ana,,Sevilla,\"Calle 1\nPiso 2\"\n");
    let got = reasons(&parsed);
    assert_eq!(got.len(), 4, "{got:#?}");
    assert_eq!(got[0].0, 2);
    assert!(
        got[0]
            .1
            .starts_with("name has a line break, a tab or another control character (U+000A)"),
        "{got:#?}"
    );
    assert!(got[1].1.contains("(U+001B)"), "{got:#?}");
    assert!(got[2].1.starts_with("tag has a line break"), "{got:#?}");
    assert!(
        got[3].1.contains("has a control character (U+0001)"),
        "{got:#?}"
    );
    assert_eq!(
        parsed.contacts.iter().map(|c| c.row).collect::<Vec<_>>(),
        vec![7],
        "the row of line 7 (the first row's quoted name takes two lines)"
    );
}

#[test]
fn a_row_with_too_many_fields_is_refused() {
    let fields: Map<String, Value> = (0..=MAX_FIELDS)
        .map(|i| (format!("f{i}"), json!(i)))
        .collect();
    let mut row = json!({"phone": "+16315550101"});
    row.as_object_mut().unwrap().extend(fields);
    let parsed = parse(ImportFormat::Json, json!([row]).to_string().as_bytes()).unwrap();
    assert_eq!(
        reasons(&parsed),
        vec![(
            1,
            "too many fields (51): a row may set at most 50".to_string()
        )]
    );
    // The fields Parley keeps itself (a broadcast stamps `last_reengaged_at`) do not count:
    // a contact with 50 fields of its own, exported after a broadcast, reads back.
    let fields: Map<String, Value> = (0..MAX_FIELDS)
        .map(|i| (format!("f{i}"), json!(i)))
        .collect();
    let mut row = json!({"phone": "+16315550101", "last_reengaged_at": "2026-11-27T10:00:00Z"});
    row.as_object_mut().unwrap().extend(fields);
    let parsed = parse(ImportFormat::Json, json!([row]).to_string().as_bytes()).unwrap();
    assert_eq!(reasons(&parsed), vec![]);
    assert_eq!(parsed.contacts.len(), 1);
}

#[test]
fn json_rows_take_the_same_keys_a_fields_object_and_extra_keys() {
    let body = json!([
        {"phone": 16315550101u64, "name": "Ana", "tags": ["vip", "lead;vip"], "opted_in": true,
         "fields": {"city": "Lima"}, "age": 31},
        {"user_id": "US.77", "opted_in": "0", "tags": "a;b"},
        "not an object",
        {"phone": "+16315550102", "fields": {"nested": {"x": 1}}},
        {"phone": "+16315550103", "opted_in": 2},
        {"phone": "+16315550104", "opted_out": true},
    ]);
    let parsed = parse(ImportFormat::Json, body.to_string().as_bytes()).unwrap();
    let got = reasons(&parsed);
    assert_eq!(got.len(), 4, "{got:#?}");
    assert!(got[0].0 == 3 && got[0].1.starts_with("is not an object"));
    assert!(got[1].0 == 4 && got[1].1.starts_with("field \"nested\" must be"));
    assert!(got[2].0 == 5 && got[2].1.starts_with("bad opted_in \"2\""));
    assert!(got[3].0 == 6 && got[3].1.starts_with("opted_out is kept by Parley"));
    let ana = &parsed.contacts[0];
    assert_eq!(ana.phone.as_ref().unwrap().as_e164(), "+16315550101");
    assert_eq!(ana.tags, vec!["vip".to_string(), "lead".to_string()]);
    assert_eq!(
        Value::Object(ana.fields.clone()),
        json!({"city": "Lima", "age": 31})
    );
    let second = &parsed.contacts[1];
    assert_eq!(
        (second.user_id.as_deref(), second.opted_in),
        (Some("US.77"), Some(false))
    );
    assert_eq!(second.tags, vec!["a".to_string(), "b".to_string()]);
}

#[test]
fn whole_file_errors_say_where_and_what_to_do() {
    let err = |format, text: &str| parse(format, text.as_bytes()).unwrap_err().to_string();
    assert_eq!(
        err(ImportFormat::Csv, ""),
        "the file is empty: the first line must name the columns (phone, user_id, name, tags, opted_in, and your fields)"
    );
    assert_eq!(
        err(ImportFormat::Csv, "name,city\nAna,Lima\n"),
        "line 1, column 1: no phone or user_id column: contacts are found by one of them"
    );
    assert_eq!(
        err(ImportFormat::Csv, "phone,city,city\n"),
        "line 1, column 3: column city appears twice: keep one"
    );
    assert_eq!(
        err(ImportFormat::Csv, "phone,,city\n"),
        "line 1, column 2: this column has no name: name it or delete it"
    );
    assert_eq!(
        err(ImportFormat::Csv, "phone,opted_out\n"),
        "line 1, column 2: opted_out is kept by Parley: write the opt-in state as opted_in (true or false)"
    );
    assert_eq!(
        err(
            ImportFormat::Csv,
            "phone,note\n+16315550101,ok\n+16315550102,\"open\n"
        ),
        "line 3: a quoted value is never closed: add the closing \""
    );
    assert!(err(ImportFormat::Csv, "phone,note\n+16315550101,\"a\"b\n")
        .starts_with("line 2, column 2: text after a closing \""));
    // Latin-1: where the first byte that is not UTF-8 stands, as a line and a column.
    assert_eq!(
        parse(ImportFormat::Csv, b"phone,name\n+16315550101,Jos\xe9\n")
            .unwrap_err()
            .to_string(),
        "line 2, column 17: the file is not UTF-8 text from here: save it as UTF-8"
    );
    assert_eq!(
        parse(ImportFormat::Csv, b"phone\n\xff\n").unwrap_err(),
        ImportError::NotUtf8 { line: 2, column: 1 }
    );
    // An object where the array belongs: column 1, counted from 1 as every error here.
    assert_eq!(
        err(ImportFormat::Json, "{\"phone\": 1}"),
        "line 1, column 1: invalid type: map, expected a sequence (the file must be a JSON array of objects)"
    );
    assert_eq!(
        err(ImportFormat::Json, "[{\"phone\": 1},\n  oops]"),
        "line 2, column 3: expected value (the file must be a JSON array of objects)"
    );
    // Excel's semicolons, where the decimal mark is a comma: said so.
    assert!(
        err(ImportFormat::Csv, "phone;name\n+16315550101;Ana\n").contains(
            "the header reads as one column, `phone;name`; the columns must be separated by commas, not semicolons"
        ),
        "{}",
        err(ImportFormat::Csv, "phone;name\n+16315550101;Ana\n")
    );
}

/// The columns every file may have are found whatever their case (`Phone`, `NAME`), and
/// a JSON file may start with a byte-order mark, as a CSV file may.
#[test]
fn known_columns_in_any_case_and_a_json_byte_order_mark() {
    let parsed = csv("Phone,NAME,Tags,Opted_In,City\n+16315550101,Ana,vip,yes,Lima\n");
    assert_eq!(reasons(&parsed), vec![]);
    let ana = &parsed.contacts[0];
    assert_eq!(ana.name.as_deref(), Some("Ana"));
    assert_eq!(ana.tags, vec!["vip".to_string()]);
    assert_eq!(ana.opted_in, Some(true));
    assert_eq!(ana.fields.get("City"), Some(&json!("Lima")));
    let json = "\u{feff}[{\"phone\": \"+16315550101\", \"name\": \"Ana\"}]";
    let parsed = parse(ImportFormat::Json, json.as_bytes()).unwrap();
    assert_eq!(parsed.contacts.len(), 1);
}

#[test]
fn imports_are_bounded_in_bytes_and_rows() {
    let big = vec![b' '; MAX_BYTES + 1];
    assert_eq!(
        parse(ImportFormat::Csv, &big).unwrap_err(),
        ImportError::TooLarge(MAX_BYTES + 1)
    );
    let mut text = String::from("phone\n");
    for i in 0..=MAX_ROWS {
        text.push_str(&format!("+1631{:07}\n", i));
    }
    assert_eq!(
        parse(ImportFormat::Csv, text.as_bytes()).unwrap_err(),
        ImportError::TooManyRows
    );
    let rows = vec![json!({}); MAX_ROWS + 1];
    assert_eq!(
        parse(ImportFormat::Json, json!(rows).to_string().as_bytes()).unwrap_err(),
        ImportError::TooManyRows
    );
}

#[test]
fn an_export_reads_back_as_the_same_contact() {
    let contact = Contact {
        id: 1,
        key: "+16315550101".into(),
        name: Some("Ana, \"the\" first".into()),
        attributes: json!({"city": "Lima", "age": 31, OPTED_OUT: true})
            .as_object()
            .cloned()
            .unwrap(),
        tags: vec!["vip".into(), "lead".into()],
        created_at: chrono::DateTime::from_timestamp(0, 0).unwrap(),
        user_id: Some("US.77".into()),
        username: None,
    };
    let fields: Vec<String> = field_names(&contact).cloned().collect();
    assert_eq!(fields, vec!["age".to_string(), "city".to_string()]);
    let text = csv_header(&fields) + csv_line(&contact, &fields).as_str();
    let parsed = csv(&text);
    let back = &parsed.contacts[0];
    assert_eq!(back.name, contact.name);
    assert_eq!(back.user_id.as_deref(), Some("US.77"));
    assert_eq!(back.opted_in, Some(false));
    assert_eq!(back.tags, contact.tags);
    assert_eq!(
        Value::Object(back.fields.clone()),
        json!({"city": "Lima", "age": "31"})
    );
    let row = serde_json::to_value(ExportRow::of(&contact)).unwrap();
    assert_eq!(
        row,
        json!({"phone": "+16315550101", "user_id": "US.77", "name": "Ana, \"the\" first",
               "tags": ["vip", "lead"], "opted_in": false, "fields": {"age": 31, "city": "Lima"}})
    );
}

/// A name or field a spreadsheet would run as a formula is exported behind a `'`, and the
/// export still reads back as it was.
#[test]
fn formulas_are_defused_in_an_export_that_still_reads_back() {
    let contact = Contact {
        id: 1,
        key: "+16315550101".into(),
        name: Some("=HYPERLINK(\"http://evil\")".into()),
        attributes: json!({"score": "=1+2", "note": "@SUM(A1)", "plain": "ok", "=f": "-3"})
            .as_object()
            .cloned()
            .unwrap(),
        tags: vec!["+vip".into()],
        created_at: chrono::DateTime::from_timestamp(0, 0).unwrap(),
        user_id: None,
        username: None,
    };
    let fields: Vec<String> = field_names(&contact).cloned().collect();
    let text = csv_header(&fields) + csv_line(&contact, &fields).as_str();
    assert!(
        text.contains("\"'=HYPERLINK(\"\"http://evil\"\")\"") && text.contains(",'=1+2"),
        "{text}"
    );
    assert!(
        text.contains(",'@SUM(A1)") && text.contains(",'+vip,"),
        "{text}"
    );
    assert!(text.contains(",'=f") && text.contains(",'-3"), "{text}");
    assert!(
        text.starts_with("phone,") && text.contains("\r\n+16315550101,"),
        "{text}"
    );
    let parsed = csv(&text);
    let back = &parsed.contacts[0];
    assert_eq!(back.name, contact.name);
    assert_eq!(back.tags, contact.tags);
    assert_eq!(
        Value::Object(back.fields.clone()),
        json!({"score": "=1+2", "note": "@SUM(A1)", "plain": "ok", "=f": "-3"})
    );
}

#[test]
fn formats_come_from_content_types_and_extensions() {
    assert_eq!(
        ImportFormat::from_name("text/csv; charset=utf-8"),
        Some(ImportFormat::Csv)
    );
    assert_eq!(
        ImportFormat::from_name("application/json"),
        Some(ImportFormat::Json)
    );
    assert_eq!(ImportFormat::from_name("json"), Some(ImportFormat::Json));
    assert_eq!(ImportFormat::from_name("text/plain"), None);
}
