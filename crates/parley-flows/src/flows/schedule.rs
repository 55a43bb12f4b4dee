//! Scheduled flows: `schedule: { cron, timezone, sender, audience, missed, frequency_cap }`.
//! The next fire is computed in the schedule's time zone, correct across daylight-saving
//! changes: a time that does not exist that day (clocks go forward) fires right after the
//! change; a time that happens twice (clocks go back) fires once, the first time.

use super::problem::Problems;
use super::yaml::{self, YamlNode};
use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use std::str::FromStr;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Schedule {
    pub cron: cron::Schedule,
    pub cron_text: String,
    pub timezone: Tz,
    /// The sender whose conversations are the audience (the only sender when omitted).
    pub sender: Option<i64>,
    pub audience: Audience,
    pub missed: MissedPolicy,
    /// A contact gets at most one scheduled flow (of any schedule) per this period.
    pub frequency_cap: Option<Duration>,
}

impl Schedule {
    /// The sender a fire uses among the configured ones: the one named, or the only one.
    /// `Err` says in words why the schedule can never run.
    pub fn sender_among(&self, sender_ids: &[i64]) -> Result<i64, String> {
        match (self.sender, sender_ids) {
            (Some(s), ids) if ids.contains(&s) => Ok(s),
            (Some(s), ids) => Err(format!(
                "the schedule's `sender: {s}` is not a sender in the config (senders: {})",
                list(ids)
            )),
            (None, [only]) => Ok(*only),
            (None, []) => Err("the config has no sender for this schedule to send from".into()),
            (None, ids) => Err(format!(
                "the schedule names no `sender:` and the config has {} senders ({}), so it cannot choose",
                ids.len(),
                list(ids)
            )),
        }
    }

    /// How to fix what `sender_among` refused, for a person editing the flow.
    pub fn sender_hint(&self, sender_ids: &[i64]) -> String {
        match (self.sender, sender_ids) {
            (_, []) => "add a sender to the config's `senders:` first, for example \
                        `- { id: 1, name: Sandbox, channel: sandbox, phone_number: \"+15550000000\" }`"
                .into(),
            (Some(_), ids) => format!(
                "change `sender:` to the id of one of the config's senders ({})",
                list(ids)
            ),
            (None, ids) => format!(
                "add `sender:` with the id of one of the config's senders ({})",
                list(ids)
            ),
        }
    }
}

fn list(ids: &[i64]) -> String {
    if ids.is_empty() {
        return "none".into();
    }
    ids.iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissedPolicy {
    /// Fires missed while Parley was down run once, at start.
    RunOnce,
    /// Missed fires are skipped; the next one runs on time.
    Skip,
}

/// Who a schedule reaches. Every condition given must hold; opted-out contacts never match.
#[derive(Debug, Clone, Default)]
pub struct Audience {
    pub tags: Vec<String>,
    pub without_tags: Vec<String>,
    pub attributes: Vec<(String, String)>,
    /// The customer's last message is at least this old.
    pub inactive_for: Option<Duration>,
    /// The customer wrote within this period.
    pub active_within: Option<Duration>,
    pub in_flow: Option<String>,
    pub not_in_flow: Option<String>,
}

/// Contact attributes Parley itself keeps.
pub use crate::domain::contact::{LAST_REENGAGED_AT, OPTED_OUT};

/// One conversation an audience is matched against: its contact's tags and attributes, its
/// last inbound message and its state (whichever store read them).
#[derive(Debug, Clone, Copy)]
pub struct Member<'a> {
    pub tags: &'a [String],
    pub attributes: &'a serde_json::Map<String, serde_json::Value>,
    pub last_inbound_at: Option<DateTime<Utc>>,
    pub state: &'a crate::domain::ConversationState,
}

impl Audience {
    pub fn matches(
        &self,
        row: &Member<'_>,
        now: DateTime<Utc>,
        frequency_cap: Option<Duration>,
    ) -> bool {
        let c = row;
        if c.attributes.get(OPTED_OUT).and_then(|v| v.as_bool()) == Some(true) {
            return false;
        }
        if let Some(cap) = frequency_cap {
            let last = c
                .attributes
                .get(LAST_REENGAGED_AT)
                .and_then(|v| v.as_str())
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok());
            if let Some(last) = last {
                if now.signed_duration_since(last).to_std().unwrap_or_default() < cap {
                    return false;
                }
            }
        }
        if !self.tags.iter().all(|t| c.tags.contains(t))
            || self.without_tags.iter().any(|t| c.tags.contains(t))
        {
            return false;
        }
        for (k, v) in &self.attributes {
            let actual = match c.attributes.get(k) {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => return false,
            };
            if &actual != v {
                return false;
            }
        }
        let since_last = row
            .last_inbound_at
            .map(|t| now.signed_duration_since(t).to_std().unwrap_or_default());
        // A customer who never wrote has been inactive for as long as anyone: a
        // re-engagement of the quiet ones reaches them too.
        if let Some(min) = self.inactive_for {
            if since_last.is_some_and(|s| s < min) {
                return false;
            }
        }
        if let Some(max) = self.active_within {
            if since_last.is_none_or(|s| s > max) {
                return false;
            }
        }
        let flow = row.state.run.as_ref().map(|r| r.flow.as_str());
        if let Some(f) = &self.in_flow {
            if flow != Some(f.as_str()) {
                return false;
            }
        }
        if let Some(f) = &self.not_in_flow {
            if flow == Some(f.as_str()) {
                return false;
            }
        }
        true
    }
}

impl Schedule {
    /// The first fire strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        next_fire(&self.cron, self.timezone, after)
    }

    /// The latest fire in `(after, now]`, if any (the one a missed-fire policy cares about).
    pub fn latest_due(&self, after: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut latest = None;
        let mut cursor = after;
        // Bounded: a schedule every second down for a year is still only this many steps.
        for _ in 0..100_000 {
            match self.next_after(cursor) {
                Some(t) if t <= now => {
                    latest = Some(t);
                    cursor = t;
                }
                _ => break,
            }
        }
        latest
    }
}

/// Cron times are found in local wall-clock time (where there is no daylight saving), then
/// placed in the time zone.
pub fn next_fire(schedule: &cron::Schedule, tz: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let mut local_after: NaiveDateTime = after.with_timezone(&tz).naive_local();
    for _ in 0..1000 {
        let candidate = schedule
            .after(&Utc.from_utc_datetime(&local_after))
            .next()?
            .naive_utc();
        let instant = match tz.from_local_datetime(&candidate) {
            LocalResult::Single(t) => t,
            LocalResult::Ambiguous(first, _) => first,
            // In the gap of a spring-forward change: the same wall time an hour later.
            LocalResult::None => tz
                .from_local_datetime(&(candidate + chrono::Duration::hours(1)))
                .earliest()?,
        }
        .with_timezone(&Utc);
        if instant > after {
            return Some(instant);
        }
        local_after = candidate;
    }
    None
}

/// Parses `schedule:`; the cron expression is standard cron (`cron_text`).
pub fn parse(node: &YamlNode, problems: &mut Problems) -> Option<Schedule> {
    let m = yaml::as_map(node, "`schedule`", problems)?;
    yaml::check_keys(
        m,
        &[
            "cron",
            "timezone",
            "sender",
            "audience",
            "missed",
            "frequency_cap",
        ],
        "a `schedule`",
        problems,
    );
    let Some(cron_node) = m.get_node("cron") else {
        problems.error(
            yaml::pos(node),
            "`schedule` needs `cron:`, like `cron: \"0 10 * * *\"` (every day at 10:00)",
            None,
        );
        return None;
    };
    let cron_text = yaml::as_str(cron_node, "`cron`", problems).map(|t| t.trim().to_string());
    let cron = cron_text.as_deref().and_then(|text| {
        let crate_form = match super::cron_text::to_crate_form(text) {
            Ok(form) => form,
            Err(e) => {
                problems.error(yaml::pos(cron_node), e.message, Some(e.hint));
                return None;
            }
        };
        match cron::Schedule::from_str(&crate_form) {
            // A date no calendar has (`0 0 30 2 *`) never comes: said now, not never.
            Ok(c) if c.after(&Utc::now()).next().is_some() => Some(c),
            Ok(_) => {
                problems.error(
                    yaml::pos(cron_node),
                    format!("`{text}` never runs: no month has that day"),
                    Some("check the day and month fields (February has 28 or 29 days; April, June, September and November 30)".into()),
                );
                None
            }
            Err(e) => {
                problems.error(
                    yaml::pos(cron_node),
                    format!("`{text}` is not a cron expression: {e}"),
                    Some(super::cron_text::SHAPE.into()),
                );
                None
            }
        }
    });
    // Every mistake of the block is reported in one run: a bad value is noted and the
    // rest still read.
    let timezone = match m.get_node("timezone") {
        None => Some(Tz::UTC),
        Some(n) => {
            yaml::as_str(n, "`timezone`", problems).and_then(|name| match name.parse::<Tz>() {
                Ok(tz) => Some(tz),
                Err(_) => {
                    problems.error(
                        yaml::pos(n),
                        format!("`{name}` is not a time zone"),
                        Some("use an IANA name like Europe/Madrid or America/New_York".into()),
                    );
                    None
                }
            })
        }
    };
    let sender = m
        .get_node("sender")
        .and_then(|n| yaml::as_int(n, "`sender`", problems));
    let missed = match m
        .get_node("missed")
        .map(|n| (n, yaml::as_str(n, "`missed`", problems)))
    {
        None => Some(MissedPolicy::RunOnce),
        Some((_, Some("run_once"))) => Some(MissedPolicy::RunOnce),
        Some((_, Some("skip"))) => Some(MissedPolicy::Skip),
        Some((_, None)) => None,
        Some((n, Some(other))) => {
            problems.error(
                yaml::pos(n),
                format!("`missed: {other}` is not a choice"),
                Some("use `run_once` (run a missed fire once at start) or `skip`".into()),
            );
            None
        }
    };
    let frequency_cap = m
        .get_node("frequency_cap")
        .and_then(|n| yaml::as_duration(n, "`frequency_cap`", problems));
    let audience = match m.get_node("audience") {
        None => Some(Audience::default()),
        Some(n) => audience(n, problems),
    };
    Some(Schedule {
        cron: cron?,
        cron_text: cron_text?,
        timezone: timezone?,
        sender,
        audience: audience?,
        missed: missed?,
        frequency_cap,
    })
}

fn audience(node: &YamlNode, problems: &mut Problems) -> Option<Audience> {
    let m = yaml::as_map(node, "`audience`", problems)?;
    yaml::check_keys(
        m,
        &[
            "tags",
            "without_tags",
            "attributes",
            "inactive_for",
            "active_within",
            "in_flow",
            "not_in_flow",
        ],
        "an `audience`",
        problems,
    );
    let list = |key: &str, problems: &mut Problems| -> Vec<String> {
        m.get_node(key)
            .map(|n| {
                yaml::as_list(n)
                    .into_iter()
                    .filter_map(|x| yaml::as_str(x, "a tag", problems))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut attributes = Vec::new();
    if let Some(a) = m
        .get_node("attributes")
        .and_then(|n| yaml::as_map(n, "`attributes`", problems))
    {
        for (k, v) in a.iter() {
            if let Some(v) = yaml::as_str(v, &format!("attribute `{}`", k.as_str()), problems) {
                attributes.push((k.as_str().to_string(), v.to_string()));
            }
        }
    }
    let s = |key: &str, problems: &mut Problems| {
        m.get_node(key)
            .and_then(|n| yaml::as_str(n, key, problems))
            .map(str::to_string)
    };
    Some(Audience {
        tags: list("tags", problems),
        without_tags: list("without_tags", problems),
        attributes,
        inactive_for: m
            .get_node("inactive_for")
            .and_then(|n| yaml::as_duration(n, "`inactive_for`", problems)),
        active_within: m
            .get_node("active_within")
            .and_then(|n| yaml::as_duration(n, "`active_within`", problems)),
        in_flow: s("in_flow", problems),
        not_in_flow: s("not_in_flow", problems),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn daily(hhmm: &str) -> cron::Schedule {
        let (h, m) = hhmm.split_once(':').unwrap();
        cron::Schedule::from_str(&format!("0 {m} {h} * * *")).unwrap()
    }

    #[test]
    fn madrid_9am_follows_the_spring_dst_change() {
        let tz: Tz = "Europe/Madrid".parse().unwrap();
        let s = daily("09:00");
        // 2026-03-29 02:00 CET → 03:00 CEST.
        let before = next_fire(&s, tz, at("2026-03-27T12:00:00Z")).unwrap();
        assert_eq!(before, at("2026-03-28T08:00:00Z"), "09:00 CET is 08:00 UTC");
        let after = next_fire(&s, tz, before).unwrap();
        assert_eq!(after, at("2026-03-29T07:00:00Z"), "09:00 CEST is 07:00 UTC");
    }

    #[test]
    fn a_time_in_the_spring_gap_fires_an_hour_later_and_a_repeated_time_fires_once() {
        let tz: Tz = "Europe/Madrid".parse().unwrap();
        let s = daily("02:30");
        // 02:30 does not exist on 2026-03-29: it fires at 03:30 CEST = 01:30 UTC.
        let spring = next_fire(&s, tz, at("2026-03-28T12:00:00Z")).unwrap();
        assert_eq!(spring, at("2026-03-29T01:30:00Z"));
        assert_eq!(
            next_fire(&s, tz, spring).unwrap(),
            at("2026-03-30T00:30:00Z")
        );
        // 02:30 happens twice on 2026-10-25 (CEST then CET): it fires once, the first time.
        let autumn = next_fire(&s, tz, at("2026-10-24T12:00:00Z")).unwrap();
        assert_eq!(autumn, at("2026-10-25T00:30:00Z"));
        assert_eq!(
            next_fire(&s, tz, autumn).unwrap(),
            at("2026-10-26T01:30:00Z")
        );
    }

    #[test]
    fn weekdays_one_to_five_fire_monday_to_friday() {
        let form = super::super::cron_text::to_crate_form("0 10 * * 1-5").unwrap();
        let s = cron::Schedule::from_str(&form).unwrap();
        // 2026-01-03 is a Saturday: the next fires are Monday 5th to Friday 9th, then the
        // Monday after.
        let mut t = at("2026-01-03T12:00:00Z");
        let mut fires = Vec::new();
        for _ in 0..6 {
            t = next_fire(&s, Tz::UTC, t).unwrap();
            fires.push(t.format("%a %d").to_string());
        }
        assert_eq!(
            fires,
            ["Mon 05", "Tue 06", "Wed 07", "Thu 08", "Fri 09", "Mon 12"]
        );
    }

    #[test]
    fn latest_due_finds_the_last_missed_fire() {
        let tz: Tz = "Europe/Madrid".parse().unwrap();
        let sched = Schedule {
            cron: daily("10:00"),
            cron_text: "0 10 * * *".into(),
            timezone: tz,
            sender: None,
            audience: Audience::default(),
            missed: MissedPolicy::RunOnce,
            frequency_cap: None,
        };
        let last = at("2026-05-01T08:00:00Z");
        assert_eq!(
            sched.latest_due(last, at("2026-05-04T12:00:00Z")),
            Some(at("2026-05-04T08:00:00Z"))
        );
        assert_eq!(sched.latest_due(last, at("2026-05-01T09:00:00Z")), None);
    }
}
