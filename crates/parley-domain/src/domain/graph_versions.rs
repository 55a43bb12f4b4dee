//! Meta Graph API versions and the day each one stops answering, as data.
//!
//! Source: Meta's "Graph API changelog: versions" page (developers.facebook.com/docs/
//! graph-api/changelog/versions), read 2026-11-23. Meta announces a version's expiry date only
//! when its successor two releases later ships, so the newest versions have none yet; update
//! this table when Meta publishes one (a test keeps it ordered and the default listed).

use chrono::NaiveDate;

/// The version a Meta sender's `api_base` uses unless the config names another.
pub const DEFAULT_VERSION: &str = "v26.0";

/// How many days before a version's retirement Parley starts warning.
pub const WARN_DAYS: i64 = 90;

/// `(major, released, retires)` as `YYYY-MM-DD`; `None` where Meta has not said yet.
const VERSIONS: &[(u32, &str, Option<&str>)] = &[
    (16, "2023-02-02", Some("2025-05-14")),
    (17, "2023-05-23", Some("2025-09-12")),
    (18, "2023-09-12", Some("2026-01-26")),
    (19, "2024-01-23", Some("2026-05-21")),
    (20, "2024-05-21", Some("2026-09-24")),
    (21, "2024-10-02", Some("2027-01-21")),
    (22, "2025-01-21", Some("2027-05-20")),
    (23, "2025-05-29", Some("2027-10-08")),
    (24, "2025-10-08", Some("2028-02-18")),
    (25, "2026-02-18", Some("2028-07-29")),
    (26, "2026-07-29", None),
];

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("the table holds valid dates")
}

/// The `vNN.0` segment of a Graph API base URL (`https://graph.facebook.com/v26.0`), as its
/// major number. `None` when the URL names no version (a test double, a proxy).
pub fn version_in(api_base: &str) -> Option<u32> {
    version_parts(api_base).map(|(major, _)| major)
}

/// The major number and the minor text of the version segment (`v21.5` → `(21, "5")`).
fn version_parts(api_base: &str) -> Option<(u32, &str)> {
    let path = api_base.split("://").nth(1).unwrap_or(api_base);
    path.split('/').skip(1).find_map(|segment| {
        let number = segment.strip_prefix('v')?;
        let (major, minor) = number.split_once('.').unwrap_or((number, "0"));
        if minor.is_empty() || !minor.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some((major.parse().ok()?, minor))
    })
}

/// Where a version stands on a given day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Supported, with no retirement within `WARN_DAYS` (or none announced).
    Supported,
    /// Retires on that day, `days` from now (at most `WARN_DAYS`).
    RetiresSoon { on: NaiveDate, days: i64 },
    /// Meta stopped answering it on that day (`None`: before the table starts).
    Retired { on: Option<NaiveDate> },
    /// Newer than this table: Parley cannot say.
    Unknown,
}

/// The retirement day of a version, if Meta has announced it.
pub fn retires(major: u32) -> Option<NaiveDate> {
    VERSIONS
        .iter()
        .find(|(m, _, _)| *m == major)
        .and_then(|(_, _, retires)| retires.map(date))
}

pub fn standing(major: u32, today: NaiveDate) -> Standing {
    let first = VERSIONS[0].0;
    let last = VERSIONS[VERSIONS.len() - 1].0;
    if major < first {
        return Standing::Retired { on: None };
    }
    if major > last {
        return Standing::Unknown;
    }
    match retires(major) {
        None => Standing::Supported,
        Some(on) if on <= today => Standing::Retired { on: Some(on) },
        Some(on) => {
            let days = (on - today).num_days();
            if days <= WARN_DAYS {
                Standing::RetiresSoon { on, days }
            } else {
                Standing::Supported
            }
        }
    }
}

/// A sentence for `parley check`, the start's log and `/readyz`, or `None` when there is
/// nothing to say. `who` names the sender (`senders[0] (Support)`).
pub fn warning(who: &str, api_base: &str, today: NaiveDate) -> Option<String> {
    let (major, minor) = version_parts(api_base)?;
    let fix = format!("change its meta.api_base to https://graph.facebook.com/{DEFAULT_VERSION} (Parley's default) after checking Meta's changelog for that version");
    if minor.bytes().any(|b| b != b'0') {
        return Some(format!(
            "{who} uses Graph API v{major}.{minor}, which is not a version Meta has (they are numbered v{major}.0): its sends fail; {fix}"
        ));
    }
    match standing(major, today) {
        Standing::Supported => None,
        Standing::Unknown => {
            let (last, released, _) = VERSIONS[VERSIONS.len() - 1];
            Some(format!(
                "{who} uses Graph API v{major}.0, newer than the versions Parley knows (the last, v{last}.0, came out on {released}): if Meta has not released it, every send fails; check Meta's changelog, or {fix}"
            ))
        }
        Standing::RetiresSoon { on, days } => Some(format!(
            "{who} uses Graph API v{major}.0, which Meta retires on {on} (in {days} days): sends will fail from that day; {fix}"
        )),
        Standing::Retired { on } => Some(format!(
            "{who} uses Graph API v{major}.0, which Meta retired{}: its sends fail; {fix}",
            on.map(|d| format!(" on {d}")).unwrap_or_default()
        )),
    }
}

/// Days until the version retires (negative once retired), for the
/// `parley_graph_api_days_left` gauge; `None` when no date is known.
pub fn days_left(api_base: &str, today: NaiveDate) -> Option<i64> {
    let major = version_in(api_base)?;
    if major < VERSIONS[0].0 {
        return Some(-1);
    }
    retires(major).map(|on| (on - today).num_days())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        date(s)
    }

    #[test]
    fn the_table_is_ordered_and_holds_the_default() {
        for pair in VERSIONS.windows(2) {
            assert_eq!(pair[0].0 + 1, pair[1].0, "no version is skipped");
            assert!(date(pair[0].1) < date(pair[1].1), "released in order");
            if let (Some(a), Some(b)) = (pair[0].2, pair[1].2) {
                assert!(date(a) < date(b), "retire in order");
            }
        }
        let default = version_in(&format!("https://graph.facebook.com/{DEFAULT_VERSION}"));
        assert_eq!(default, Some(VERSIONS[VERSIONS.len() - 1].0));
    }

    #[test]
    fn reads_the_version_from_a_base_url() {
        assert_eq!(version_in("https://graph.facebook.com/v21.0"), Some(21));
        assert_eq!(version_in("https://graph.facebook.com/v26.0/"), Some(26));
        assert_eq!(version_in("http://127.0.0.1:9/v22.0"), Some(22));
        assert_eq!(version_in("http://proxy.local/meta/v23"), Some(23));
        assert_eq!(version_in("http://127.0.0.1:9"), None);
        assert_eq!(version_in("http://v21.example.com/api"), None);
        assert_eq!(version_in("http://x/video/vx.0"), None);
    }

    #[test]
    fn warns_of_a_version_meta_never_had_or_parley_does_not_know() {
        let today = day("2026-11-27");
        let odd = warning("senders[0]", "https://graph.facebook.com/v21.5", today).unwrap();
        assert!(
            odd.contains("v21.5, which is not a version Meta has"),
            "{odd}"
        );
        let newer = warning("senders[0]", "https://graph.facebook.com/v27.0", today).unwrap();
        assert!(
            newer.contains("v27.0, newer than the versions Parley knows"),
            "{newer}"
        );
        assert_eq!(
            warning("senders[0]", "https://graph.facebook.com/v26.0", today),
            None
        );
        assert_eq!(
            warning("senders[0]", "http://127.0.0.1:9/meta", today),
            None
        );
    }

    #[test]
    fn warns_within_ninety_days_and_after_retirement() {
        let base = "https://graph.facebook.com/v21.0";
        assert_eq!(standing(21, day("2026-10-01")), Standing::Supported);
        assert_eq!(
            standing(21, day("2026-11-23")),
            Standing::RetiresSoon {
                on: day("2027-01-21"),
                days: 59
            }
        );
        let soon = warning("senders[0] (Support)", base, day("2026-11-23")).unwrap();
        assert!(
            soon.contains("retires on 2027-01-21 (in 59 days)"),
            "{soon}"
        );
        assert!(soon.contains("v26.0"), "{soon}");
        let gone = warning("senders[0]", base, day("2027-01-21")).unwrap();
        assert!(gone.contains("retired on 2027-01-21"), "{gone}");
        assert_eq!(
            standing(12, day("2026-01-01")),
            Standing::Retired { on: None }
        );
        assert_eq!(
            warning("s", "https://graph.facebook.com/v26.0", day("2026-11-23")),
            None
        );
        assert_eq!(standing(99, day("2026-11-23")), Standing::Unknown);
        assert_eq!(days_left(base, day("2026-11-23")), Some(59));
        assert_eq!(
            days_left("https://graph.facebook.com/v26.0", day("2026-11-23")),
            None
        );
        assert_eq!(
            days_left("https://graph.facebook.com/v12.0", day("2026-11-23")),
            Some(-1)
        );
    }
}
