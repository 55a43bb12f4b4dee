//! The rate card: what one message of a category costs in a market, from an effective
//! date. Kept as data (`rates/meta.csv`, or the file `pricing.rate_card` names), one row a
//! line:
//!
//! ```text
//! calling_code,category,price,currency,effective
//! 1,marketing,0.025,USD,2025-07-01
//! *,service,0.004,USD,2026-10-01
//! ```
//!
//! `calling_code` is the start of the recipient's number in international form (digits, up
//! to 7, so `1` and `1876` can differ); `*` is the default row for numbers no other row
//! matches. The longest matching calling code wins; among its rows of the category, the
//! latest `effective` date not after the send's day. Blank lines and `#` comments are
//! skipped, and so is a first line naming the columns.

use super::Category;
use chrono::NaiveDate;
use serde::Serialize;
use std::collections::HashMap;

/// Bounds for a hostile or mistaken file.
pub const MAX_BYTES: usize = 1 << 20;
pub const MAX_ROWS: usize = 20_000;
pub const MAX_CODE_DIGITS: usize = 7;
/// 1,000 currency units a message is more than anyone is charged.
const MAX_PRICE_MICROS: i64 = 1_000_000_000;

const DEFAULT_MARKET: &str = "*";

/// Each category's price in one market, in micro-units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Rates {
    pub marketing: i64,
    pub utility: i64,
    pub authentication: i64,
    pub service: i64,
}

impl Rates {
    pub fn of(&self, category: Category) -> i64 {
        match category {
            Category::Marketing => self.marketing,
            Category::Utility => self.utility,
            Category::Authentication => self.authentication,
            Category::Service => self.service,
        }
    }

    fn set(&mut self, category: Category, price: i64) {
        match category {
            Category::Marketing => self.marketing = price,
            Category::Utility => self.utility = price,
            Category::Authentication => self.authentication = price,
            Category::Service => self.service = price,
        }
    }
}

/// A problem of the file, with the line it is on (1-based).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct RateCardError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

/// Prices by market and category, each a list of (effective date, price), oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateCard {
    markets: HashMap<String, [Vec<(NaiveDate, i64)>; 4]>,
    currency: String,
}

fn slot(category: Category) -> usize {
    match category {
        Category::Marketing => 0,
        Category::Utility => 1,
        Category::Authentication => 2,
        Category::Service => 3,
    }
}

impl RateCard {
    /// The card shipped with Parley (`rates/meta.csv`).
    pub fn builtin() -> Self {
        Self::parse("rates/meta.csv", BUILTIN).expect("the shipped rate card parses")
    }

    pub fn currency(&self) -> &str {
        &self.currency
    }

    /// Parses the card; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Self, RateCardError> {
        let err = |line: usize, message: String| RateCardError {
            file: file.to_string(),
            line,
            message,
        };
        if text.len() > MAX_BYTES {
            return Err(err(
                1,
                format!(
                    "the file is {} bytes; a rate card may have at most {MAX_BYTES}",
                    text.len()
                ),
            ));
        }
        let mut markets: HashMap<String, [Vec<(NaiveDate, i64)>; 4]> = HashMap::new();
        let mut currency: Option<(String, usize)> = None;
        let mut rows = 0usize;
        let mut first = true;
        for (i, raw) in text.lines().enumerate() {
            let n = i + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if std::mem::take(&mut first) && line.to_ascii_lowercase().starts_with("calling_code") {
                continue;
            }
            rows += 1;
            if rows > MAX_ROWS {
                return Err(err(n, format!("more than {MAX_ROWS} rows")));
            }
            let cols: Vec<&str> = line.split(',').map(str::trim).collect();
            let [code, category, price, cur, effective] = cols[..] else {
                return Err(err(
                    n,
                    format!(
                    "expected 5 columns `calling_code,category,price,currency,effective`, found {}",
                    cols.len()
                ),
                ));
            };
            let code_ok = code == DEFAULT_MARKET
                || (!code.is_empty()
                    && code.len() <= MAX_CODE_DIGITS
                    && code.bytes().all(|b| b.is_ascii_digit())
                    && !code.starts_with('0'));
            if !code_ok {
                return Err(err(n, format!("calling code {code:?} must be 1 to {MAX_CODE_DIGITS} digits without a leading 0 (or `*` for the default row)")));
            }
            let category = Category::parse(category).ok_or_else(|| {
                err(
                    n,
                    format!("category {category:?} must be marketing, utility, authentication or service"),
                )
            })?;
            let price = parse_price(price).map_err(|m| err(n, m))?;
            if !(cur.len() == 3 && cur.bytes().all(|b| b.is_ascii_uppercase())) {
                return Err(err(
                    n,
                    format!("currency {cur:?} must be a 3-letter code such as USD"),
                ));
            }
            match &currency {
                None => currency = Some((cur.to_string(), n)),
                Some((c, at)) if c != cur => {
                    return Err(err(n, format!("currency {cur} differs from {c} on line {at}: one card, one currency (costs are added up)")));
                }
                _ => {}
            }
            let date = NaiveDate::parse_from_str(effective, "%Y-%m-%d").map_err(|_| {
                err(
                    n,
                    format!("effective date {effective:?} must be YYYY-MM-DD"),
                )
            })?;
            let list = &mut markets.entry(code.to_string()).or_default()[slot(category)];
            if list.iter().any(|(d, _)| *d == date) {
                return Err(err(
                    n,
                    format!(
                        "a second {} price for calling code {code} from {date}",
                        category.as_str()
                    ),
                ));
            }
            list.push((date, price));
        }
        let last = text.lines().count().max(1);
        let Some((currency, _)) = currency else {
            return Err(err(last, "the rate card has no rows".into()));
        };
        let default = markets.get(DEFAULT_MARKET);
        for c in Category::ALL {
            if default.is_none_or(|d| d[slot(c)].is_empty()) {
                return Err(err(last, format!("no default row for {}: add `*,{},PRICE,{currency},YYYY-MM-DD` for numbers no calling code matches", c.as_str(), c.as_str())));
            }
        }
        for lists in markets.values_mut() {
            for l in lists.iter_mut() {
                l.sort_by_key(|(d, _)| *d);
            }
        }
        Ok(Self { markets, currency })
    }

    /// The market `digits` (a number in international form, no `+`) falls in and its
    /// rates on `day`. A category with no row in force yet costs 0.
    pub fn rates(&self, digits: &str, day: NaiveDate) -> (&str, Rates) {
        let digits = digits.trim_start_matches('+');
        let longest = digits.len().min(MAX_CODE_DIGITS);
        let mut rates = Rates::default();
        let mut found = [false; 4];
        let mut market: Option<&str> = None;
        let prefixes = (1..=longest)
            .rev()
            .filter_map(|n| digits.get(..n))
            .chain([DEFAULT_MARKET]);
        for prefix in prefixes {
            let Some((key, lists)) = self.markets.get_key_value(prefix) else {
                continue;
            };
            for c in Category::ALL {
                let s = slot(c);
                if found[s] {
                    continue;
                }
                if let Some((_, price)) = lists[s].iter().rev().find(|(d, _)| *d <= day) {
                    rates.set(c, *price);
                    found[s] = true;
                    market.get_or_insert(key.as_str());
                }
            }
            if found.iter().all(|f| *f) {
                break;
            }
        }
        (market.unwrap_or(DEFAULT_MARKET), rates)
    }
}

/// `0.0250` → 25,000 micro-units; at most 6 decimals, never negative.
pub fn parse_price(text: &str) -> Result<i64, String> {
    let bad = || {
        format!("price {text:?} must be a number such as 0.0250 (at most 6 decimals, not negative)")
    };
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() && frac.is_empty()
        || frac.len() > 6
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || whole.len() > 6
    {
        return Err(bad());
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad())?
    };
    let frac: i64 = format!("{frac:0<6}").parse().map_err(|_| bad())?;
    let micros = whole * 1_000_000 + frac;
    if micros > MAX_PRICE_MICROS {
        return Err(format!(
            "price {text} is more than 1000 a message; is it in the right unit?"
        ));
    }
    Ok(micros)
}

/// Micro-units as a decimal text (`25000` → `0.025`), for people and the API.
pub fn format_micros(micros: i64) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    let m = micros.unsigned_abs();
    let frac = format!("{:06}", m % 1_000_000);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        format!("{sign}{}", m / 1_000_000)
    } else {
        format!("{sign}{}.{frac}", m / 1_000_000)
    }
}

const BUILTIN: &str = include_str!("../../../../../rates/meta.csv");
