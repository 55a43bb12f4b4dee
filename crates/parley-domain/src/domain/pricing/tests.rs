use super::rate_card::{format_micros, parse_price};
use super::*;
use crate::domain::{PhoneNumber, TemplateMessage};
use chrono::TimeZone;

fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

const CARD: &str = "calling_code,category,price,currency,effective
*,marketing,0.05,USD,2025-07-01
*,utility,0.01,USD,2025-07-01
*,authentication,0.02,USD,2025-07-01
*,service,0,USD,2025-07-01
*,service,0.004,USD,2026-10-01
1,marketing,0.025,USD,2025-07-01
1,utility,0.0034,USD,2025-07-01
1876,marketing,0.07,USD,2025-07-01
1876,marketing,0.08,USD,2026-01-01
";

fn card() -> RateCard {
    RateCard::parse("card.csv", CARD).unwrap()
}

#[test]
fn the_longest_calling_code_wins_and_others_fall_back() {
    let c = card();
    let (m, r) = c.rates("18765550100", day(2025, 8, 1));
    assert_eq!(m, "1876");
    assert_eq!(r.marketing, 70_000);
    // Jamaica has no utility row: the `1` row applies, then the default for the rest.
    assert_eq!(r.utility, 3_400);
    assert_eq!(r.authentication, 20_000);
    let (m, r) = c.rates("14155550100", day(2025, 8, 1));
    assert_eq!((m, r.marketing), ("1", 25_000));
    let (m, r) = c.rates("34600000001", day(2025, 8, 1));
    assert_eq!((m, r.marketing), ("*", 50_000));
    // A business-scoped user has no number: the default row.
    assert_eq!(c.rates("", day(2025, 8, 1)).0, "*");
}

#[test]
fn the_latest_effective_date_not_after_the_day_applies() {
    let c = card();
    assert_eq!(
        c.rates("18765550100", day(2025, 12, 31)).1.marketing,
        70_000
    );
    assert_eq!(c.rates("18765550100", day(2026, 1, 1)).1.marketing, 80_000);
    assert_eq!(c.rates("34600000001", day(2026, 9, 30)).1.service, 0);
    assert_eq!(c.rates("34600000001", day(2026, 10, 1)).1.service, 4_000);
    // Before the card's first date nothing is priced.
    assert_eq!(c.rates("34600000001", day(2024, 1, 1)).1, Rates::default());
}

#[test]
fn a_bad_card_names_the_file_and_line() {
    let cases = [
        ("x,marketing,0.1,USD,2025-07-01\n", 1, "calling code \"x\""),
        ("*,marketing,0.1,USD\n", 1, "expected 5 columns"),
        ("# c\n\n*,marketing,-1,USD,2025-07-01\n", 3, "price \"-1\""),
        (
            "*,marketing,0.1234567,USD,2025-07-01\n",
            1,
            "at most 6 decimals",
        ),
        ("*,promo,0.1,USD,2025-07-01\n", 1, "category \"promo\""),
        ("*,marketing,0.1,usd,2025-07-01\n", 1, "currency \"usd\""),
        ("*,marketing,0.1,USD,1 July\n", 1, "YYYY-MM-DD"),
        (
            "*,marketing,0.1,USD,2025-07-01\n*,utility,0.1,EUR,2025-07-01\n",
            2,
            "differs from USD on line 1",
        ),
        (
            "*,marketing,0.1,USD,2025-07-01\n*,marketing,0.2,USD,2025-07-01\n",
            2,
            "a second marketing price",
        ),
        (
            "*,marketing,0.1,USD,2025-07-01\n",
            1,
            "no default row for utility",
        ),
        ("", 1, "no rows"),
    ];
    for (text, line, needle) in cases {
        let e = RateCard::parse("rates.csv", text).unwrap_err();
        assert_eq!(e.line, line, "{text:?}: {e}");
        let shown = e.to_string();
        assert!(shown.starts_with(&format!("rates.csv:{line}: ")), "{shown}");
        assert!(shown.contains(needle), "{shown} lacks {needle}");
    }
    let huge = "#".repeat(rate_card::MAX_BYTES + 1);
    assert!(RateCard::parse("r", &huge)
        .unwrap_err()
        .message
        .contains("at most"));
}

#[test]
fn prices_are_exact_micro_units() {
    assert_eq!(parse_price("0.0250"), Ok(25_000));
    assert_eq!(parse_price("1"), Ok(1_000_000));
    assert_eq!(parse_price(".5"), Ok(500_000));
    assert_eq!(parse_price("0.000001"), Ok(1));
    assert!(parse_price("").is_err());
    assert!(parse_price("1e3").is_err());
    assert!(parse_price("5000").is_err());
    assert_eq!(format_micros(25_000), "0.025");
    assert_eq!(format_micros(2_000_000), "2");
    assert_eq!(format_micros(-1), "-0.000001");
}

#[test]
fn the_shipped_card_parses_and_prices_service_from_october_2026() {
    let c = RateCard::builtin();
    assert_eq!(c.currency(), "USD");
    assert_eq!(c.rates("4915112345678", day(2026, 9, 30)).1.service, 0);
    assert!(c.rates("4915112345678", day(2026, 10, 1)).1.service > 0);
}

#[test]
fn meta_rules_decide_the_type() {
    let before = at(2026, 9, 1, 12);
    let after = at(2026, 10, 2, 12);
    use Category::*;
    use EntryPointAt::*;
    use PricingType::*;
    assert_eq!(classify(Service, true, Closed, before), FreeCustomerService);
    assert_eq!(classify(Service, true, Closed, after), Regular);
    assert_eq!(classify(Utility, true, Closed, after), FreeCustomerService);
    assert_eq!(classify(Utility, false, Closed, after), Regular);
    assert_eq!(classify(Marketing, true, Closed, after), Regular);
    assert_eq!(classify(Authentication, true, Closed, after), Regular);
    for c in Category::ALL {
        assert_eq!(classify(c, false, Free, after), FreeEntryPoint);
        assert_eq!(classify(c, true, Opens, after), FreeEntryPoint);
    }
}

#[test]
fn an_ad_message_answered_within_24h_opens_72_free_hours() {
    let referral = at(2026, 10, 5, 10);
    let ep = EntryPoint::new(referral);
    assert_eq!(ep.at(referral + TimeDelta::hours(23)), EntryPointAt::Opens);
    assert_eq!(ep.at(referral + TimeDelta::hours(24)), EntryPointAt::Closed);
    let opened = EntryPoint {
        referral_at: referral,
        opened_at: Some(referral + TimeDelta::hours(2)),
    };
    assert_eq!(
        opened.at(referral + TimeDelta::hours(73)),
        EntryPointAt::Free
    );
    assert_eq!(
        opened.at(referral + TimeDelta::hours(74)),
        EntryPointAt::Closed
    );
    // A new ad message inside the free window does not restart it; after it, it does.
    let again = EntryPoint::referral(Some(opened), referral + TimeDelta::hours(30));
    assert_eq!(again, opened);
    let later = EntryPoint::referral(Some(opened), referral + TimeDelta::hours(100));
    assert_eq!(later, EntryPoint::new(referral + TimeDelta::hours(100)));
}

#[test]
fn a_prediction_prices_the_category_of_what_is_sent() {
    let pricer = Pricer {
        card: card(),
        templates: [
            ("offer".to_string(), TemplateCategory::Marketing),
            ("receipt".to_string(), TemplateCategory::Utility),
        ]
        .into(),
    };
    let to = ContactRef::Phone(PhoneNumber::parse("+14155550100").unwrap());
    let template = |name: &str| {
        OutboundContent::Template(TemplateMessage {
            name: name.into(),
            language: "en".into(),
            variables: Default::default(),
            quick_reply_payloads: Vec::new(),
            content_sid: None,
        })
    };
    let now = at(2026, 10, 10, 9);
    let p = pricer.predict(&template("offer"), &to, true, None, now);
    assert_eq!(
        (p.cost.category, p.cost.price_micros),
        (Category::Marketing, 25_000)
    );
    assert_eq!(p.cost.market, "1");
    let p = pricer.predict(&template("receipt"), &to, true, None, now);
    assert_eq!(
        (p.cost.pricing_type, p.cost.price_micros),
        (PricingType::FreeCustomerService, 0)
    );
    assert_eq!(p.cost.rates.utility, 3_400);
    let p = pricer.predict(&template("receipt"), &to, false, None, now);
    assert_eq!(p.cost.price_micros, 3_400);
    // No declared category: priced as marketing.
    let p = pricer.predict(&template("unknown"), &to, false, None, now);
    assert_eq!(p.cost.category, Category::Marketing);
    let text = OutboundContent::Text {
        body: "hi".into(),
        preview_url: false,
    };
    let p = pricer.predict(&text, &to, true, None, now);
    assert_eq!(
        (p.cost.category, p.cost.price_micros),
        (Category::Service, 4_000)
    );
    let ep = EntryPoint::new(now - TimeDelta::hours(1));
    let p = pricer.predict(&text, &to, true, Some(&ep), now);
    assert_eq!(p.cost.pricing_type, PricingType::FreeEntryPoint);
    assert_eq!(p.cost.price_micros, 0);
    assert!(p.opens_entry_point);
}
