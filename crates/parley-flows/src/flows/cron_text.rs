//! Standard cron, read the way flow authors know it, and written out for the `cron` crate.
//!
//! Authors write `minute hour day month weekday`, where weekday 0 and 7 are Sunday and 1–5
//! are Monday to Friday, as in crontab(5). The `cron` crate numbers weekdays 1 (Sunday) to 7
//! (Saturday), takes a seconds field first and combines a day of the month with a weekday as
//! "both". So Parley reads each field itself, checks it with a message naming the field and
//! its range, and hands the crate explicit lists: weekdays by name, everything else by
//! number. A sixth, leading field gives the second of the minute (one number): a schedule
//! never runs more often than once a minute.

use std::collections::BTreeSet;

const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];

/// One of the five fields: its name in words and the values it takes.
struct Field {
    what: &'static str,
    plural: &'static str,
    low: u32,
    high: u32,
    names: &'static [&'static str],
    /// The value the first name stands for.
    names_from: u32,
}

const FIELDS: [Field; 5] = [
    Field {
        what: "minute",
        plural: "minutes",
        low: 0,
        high: 59,
        names: &[],
        names_from: 0,
    },
    Field {
        what: "hour",
        plural: "hours",
        low: 0,
        high: 23,
        names: &[],
        names_from: 0,
    },
    Field {
        what: "day of the month",
        plural: "days of the month",
        low: 1,
        high: 31,
        names: &[],
        names_from: 0,
    },
    Field {
        what: "month",
        plural: "months",
        low: 1,
        high: 12,
        names: &MONTHS,
        names_from: 1,
    },
    Field {
        what: "weekday",
        plural: "weekdays",
        low: 0,
        high: 7,
        names: &WEEKDAYS,
        names_from: 0,
    },
];

/// What is wrong with an expression, and how to fix it.
#[derive(Debug, PartialEq)]
pub struct CronError {
    pub message: String,
    pub hint: String,
}

fn error(message: String, hint: impl Into<String>) -> CronError {
    CronError {
        message,
        hint: hint.into(),
    }
}

pub const SHAPE: &str = "write minute hour day month weekday, like `0 10 * * 1-5` (10:00 Monday to Friday) or `30 9 1 * *` (09:30 on the 1st of each month)";

/// The expression in the `cron` crate's form (seconds first, weekdays by name), or what is
/// wrong with it.
pub fn to_crate_form(text: &str) -> Result<String, CronError> {
    let parts: Vec<&str> = text.split_whitespace().collect();
    let (second, fields) = match parts.len() {
        5 => ("0", &parts[..]),
        6 => (parts[0], &parts[1..]),
        n => {
            return Err(error(
                format!(
                    "`{text}` has {n} field{}; a cron expression has five",
                    if n == 1 { "" } else { "s" }
                ),
                SHAPE,
            ))
        }
    };
    if !matches!(second.parse::<u32>(), Ok(0..=59)) || second.starts_with('+') {
        return Err(error(
            format!("`{second}`, the first of six fields, is the second of the minute: it must be one number from 0 to 59"),
            "a schedule runs at most once a minute; drop the sixth field to run at the start of the minute",
        ));
    }
    let mut sets = Vec::with_capacity(5);
    for (field, part) in FIELDS.iter().zip(fields) {
        sets.push(read_field(field, part)?);
    }
    let (days, weekdays) = (&sets[2], &sets[4]);
    if days.is_some() && weekdays.is_some() {
        return Err(error(
            format!(
                "`{text}` gives both a day of the month (`{}`) and a weekday (`{}`); standard cron then runs on either, which is rarely what is meant",
                fields[2], fields[4]
            ),
            "keep one of the two and write `*` for the other (`0 10 1 * *`: the 1st of each month; `0 10 * * 1`: every Monday)",
        ));
    }
    let mut out = vec![second.to_string()];
    for (i, set) in sets.iter().enumerate() {
        out.push(match set {
            None => "*".to_string(),
            Some(values) if i == 4 => {
                let days: BTreeSet<u32> = values.iter().map(|d| d % 7).collect();
                days.iter()
                    .map(|d| WEEKDAYS[*d as usize])
                    .collect::<Vec<_>>()
                    .join(",")
            }
            Some(values) => values
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(","),
        });
    }
    Ok(out.join(" "))
}

/// The values a field allows; `None` for `*` (every value).
fn read_field(field: &Field, part: &str) -> Result<Option<BTreeSet<u32>>, CronError> {
    if part == "*" {
        return Ok(None);
    }
    let mut values = BTreeSet::new();
    for item in part.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => {
                let step = match step.parse::<u32>() {
                    Ok(n) if n >= 1 && n <= field.high - field.low + 1 => n,
                    _ => {
                        return Err(error(
                            format!(
                                "`{item}`: the step after `/` must be a number from 1 to {} for {}",
                                field.high - field.low + 1,
                                field.plural
                            ),
                            "for example `*/15` in the minute field is every 15 minutes",
                        ))
                    }
                };
                (range, step)
            }
            None => (item, 1),
        };
        let (from, to) = if range == "*" {
            (field.low, field.high)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (value(field, a)?, value(field, b)?);
            if a > b {
                return Err(error(
                    format!(
                        "`{range}`: a range goes from the smaller {} to the larger",
                        field.what
                    ),
                    format!(
                        "write it the other way round, or as two parts: `{b}-{},{}-{a}`",
                        field.high, field.low
                    ),
                ));
            }
            (a, b)
        } else {
            let a = value(field, range)?;
            // `5/10` in crontab(5) means from 5 to the end, every 10.
            (a, if step > 1 { field.high } else { a })
        };
        values.extend((from..=to).step_by(step as usize));
    }
    Ok(Some(values))
}

/// One value of a field: a number in its range or, for months and weekdays, a name.
fn value(field: &Field, text: &str) -> Result<u32, CronError> {
    if let Ok(n) = text.parse::<u32>() {
        if (field.low..=field.high).contains(&n) && !text.starts_with('+') {
            return Ok(n);
        }
    }
    let upper = text.to_ascii_uppercase();
    if let Some(i) = field.names.iter().position(|n| *n == upper) {
        return Ok(field.names_from + i as u32);
    }
    let names = if field.names.is_empty() {
        String::new()
    } else {
        format!(" or a name ({})", field.names.join(", "))
    };
    let sunday = if field.what == "weekday" {
        " (0 and 7 are Sunday, 1 is Monday)"
    } else {
        ""
    };
    Err(error(
        format!("`{text}` is not {} {}", article(field.what), field.what),
        format!(
            "{} go from {} to {}{sunday}{names}",
            field.plural, field.low, field.high
        ),
    ))
}

/// "a" or "an" before a field's name ("an hour").
fn article(what: &str) -> &'static str {
    if what.starts_with(['a', 'e', 'i', 'o', 'u', 'h']) {
        "an"
    } else {
        "a"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weekdays_are_numbered_as_in_crontab() {
        assert_eq!(
            to_crate_form("0 10 * * 1-5").unwrap(),
            "0 0 10 * * MON,TUE,WED,THU,FRI"
        );
        assert_eq!(to_crate_form("0 10 * * 0").unwrap(), "0 0 10 * * SUN");
        assert_eq!(to_crate_form("0 10 * * 7").unwrap(), "0 0 10 * * SUN");
        assert_eq!(to_crate_form("0 10 * * 6,7").unwrap(), "0 0 10 * * SUN,SAT");
        assert_eq!(
            to_crate_form("0 10 * * mon-fri").unwrap(),
            "0 0 10 * * MON,TUE,WED,THU,FRI"
        );
        assert_eq!(
            to_crate_form("0 10 * * */2").unwrap(),
            "0 0 10 * * SUN,TUE,THU,SAT"
        );
    }

    #[test]
    fn other_fields_become_lists_and_a_seconds_field_is_one_number() {
        assert_eq!(
            to_crate_form("*/20 9-17/4 1,15 jan-mar *").unwrap(),
            "0 0,20,40 9,13,17 1,15 1,2,3 *"
        );
        assert_eq!(to_crate_form("5/20 * * * *").unwrap(), "0 5,25,45 * * * *");
        assert_eq!(to_crate_form("30 5 10 * * *").unwrap(), "30 5 10 * * *");
        assert!(to_crate_form("* * * * * *").is_err());
        assert!(to_crate_form("*/5 * * * * *").is_err());
    }

    #[test]
    fn mistakes_name_the_field_and_its_range() {
        let e = to_crate_form("61 10 * * *").unwrap_err();
        assert_eq!(e.message, "`61` is not a minute");
        assert_eq!(e.hint, "minutes go from 0 to 59");
        let e = to_crate_form("0 10 * * 8").unwrap_err();
        assert!(e.hint.contains("0 and 7 are Sunday"), "{e:?}");
        let e = to_crate_form("0 10 * * MOM").unwrap_err();
        assert!(e.hint.contains("SUN, MON"), "{e:?}");
        let e = to_crate_form("0 10 * * 5-1").unwrap_err();
        assert!(e.message.contains("from the smaller weekday"), "{e:?}");
        let e = to_crate_form("0 0 1 1 * 2020").unwrap_err();
        assert_eq!(e.message, "`2020` is not a weekday", "no year field");
        let e = to_crate_form("1-5 0 0 1 1 *").unwrap_err();
        assert!(e.message.contains("second of the minute"), "{e:?}");
        let e = to_crate_form("0 10 * *").unwrap_err();
        assert!(e.message.contains("has 4 fields"), "{e:?}");
        let e = to_crate_form("0 10 1-7 * 1").unwrap_err();
        assert!(e.message.contains("both a day of the month"), "{e:?}");
        assert!(to_crate_form("0 10 * * 1/0").is_err());
        assert!(to_crate_form("0 10 L * *").is_err());
        assert!(to_crate_form("0 10 ? * *").is_err());
    }
}
