//! What a WhatsApp message costs, as Meta prices it per message (PMP, since 2025-07-01): the
//! pricing category and type of one send (`classify`), the free-entry-point window a
//! click-to-WhatsApp ad opens (`EntryPoint`), and the rate card that turns a category and a
//! recipient's calling code into a price (`rate_card`). Pure: the card is parsed from text,
//! the file is read by `config`.
//!
//! The rules, as Meta's pricing pages state them (and as the sandbox plays them back):
//! 1. A message sent inside a free-entry-point window is free (`free_entry_point`), whatever
//!    its category. The window opens when the business answers, within 24 h, a customer
//!    message that came from a click-to-WhatsApp ad (it carries a `referral`), and lasts
//!    72 h from that answer.
//! 2. A free-form message is a `service` message. Service messages were free inside the
//!    customer-service window (`free_customer_service`); from `SERVICE_CHARGED_FROM`
//!    (2026-10-01) they are charged at the card's service rate (`regular`).
//! 3. A utility template sent while the customer-service window is open is free
//!    (`free_customer_service`).
//! 4. Everything else is charged at its category's rate (`regular`).
//!
//! Money is integer micro-units of the card's currency (1 USD = 1,000,000): sums never
//! round.

pub mod rate_card;

pub use rate_card::{RateCard, RateCardError, Rates};

use super::{ContactRef, OutboundContent, TemplateCategory};
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// How long a free-entry-point window lasts once the business answered.
pub const ENTRY_POINT_WINDOW: TimeDelta = TimeDelta::hours(72);
/// How long after the ad's message the business may answer and still open the window.
pub const ENTRY_POINT_ANSWER_WITHIN: TimeDelta = TimeDelta::hours(24);

/// The day Meta starts charging service messages (free-form replies in the window).
pub fn service_charged_from() -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(2026, 10, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Meta's pricing categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Marketing,
    Utility,
    Authentication,
    Service,
}

impl Category {
    pub const ALL: [Category; 4] = [
        Category::Marketing,
        Category::Utility,
        Category::Authentication,
        Category::Service,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Category::Marketing => "marketing",
            Category::Utility => "utility",
            Category::Authentication => "authentication",
            Category::Service => "service",
        }
    }

    /// Meta writes `MARKETING` or `marketing`; `authentication_international` is priced
    /// as authentication.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text.trim().to_ascii_lowercase().as_str() {
            "marketing" | "marketing_lite" => Category::Marketing,
            "utility" => Category::Utility,
            "authentication" | "authentication_international" => Category::Authentication,
            "service" => Category::Service,
            _ => return None,
        })
    }

    pub fn of_template(c: TemplateCategory) -> Self {
        match c {
            TemplateCategory::Marketing => Category::Marketing,
            TemplateCategory::Utility => Category::Utility,
            TemplateCategory::Authentication => Category::Authentication,
        }
    }
}

/// Meta's `pricing.type`: why a message is charged or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PricingType {
    Regular,
    FreeCustomerService,
    FreeEntryPoint,
}

impl PricingType {
    pub fn as_str(&self) -> &'static str {
        match self {
            PricingType::Regular => "regular",
            PricingType::FreeCustomerService => "free_customer_service",
            PricingType::FreeEntryPoint => "free_entry_point",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text.trim().to_ascii_lowercase().as_str() {
            "regular" => PricingType::Regular,
            "free_customer_service" => PricingType::FreeCustomerService,
            "free_entry_point" => PricingType::FreeEntryPoint,
            _ => return None,
        })
    }

    pub fn billable(&self) -> bool {
        matches!(self, PricingType::Regular)
    }
}

/// The `pricing` object of a status webhook, as Meta sent it (texts bounded by the parser).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusPricing {
    pub billable: Option<bool>,
    /// `PMP` since July 2025 (`CBP` before).
    pub pricing_model: Option<String>,
    pub category: Option<String>,
    /// `regular`, `free_customer_service`, `free_entry_point`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

/// A conversation's click-to-WhatsApp entry: when the ad's message came, and when the
/// business's answer opened the free window (if it has).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryPoint {
    pub referral_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opened_at: Option<DateTime<Utc>>,
}

impl EntryPoint {
    pub fn new(referral_at: DateTime<Utc>) -> Self {
        Self {
            referral_at,
            opened_at: None,
        }
    }

    /// Whether a message sent at `now` is free, and whether it is the answer that opens
    /// the window (then `opened_at` is to be set to `now`).
    pub fn at(&self, now: DateTime<Utc>) -> EntryPointAt {
        match self.opened_at {
            Some(opened) if opened >= self.referral_at => {
                if now >= opened && now < opened + ENTRY_POINT_WINDOW {
                    EntryPointAt::Free
                } else {
                    EntryPointAt::Closed
                }
            }
            _ if now >= self.referral_at && now < self.referral_at + ENTRY_POINT_ANSWER_WITHIN => {
                EntryPointAt::Opens
            }
            _ => EntryPointAt::Closed,
        }
    }

    /// A later ad message starts a new entry point; an earlier one changes nothing.
    pub fn referral(previous: Option<EntryPoint>, at: DateTime<Utc>) -> EntryPoint {
        match previous {
            Some(p) if p.referral_at >= at => p,
            // Inside an open free window a new ad message does not restart it.
            Some(p) if p.at(at) == EntryPointAt::Free => p,
            _ => EntryPoint::new(at),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryPointAt {
    /// Inside the open 72 h window.
    Free,
    /// This send is the answer that opens it.
    Opens,
    Closed,
}

/// The category and type Meta gives one message sent at `now`.
pub fn classify(
    category: Category,
    service_window_open: bool,
    entry_point: EntryPointAt,
    now: DateTime<Utc>,
) -> PricingType {
    if entry_point != EntryPointAt::Closed {
        return PricingType::FreeEntryPoint;
    }
    match category {
        Category::Service if now < service_charged_from() => PricingType::FreeCustomerService,
        Category::Utility if service_window_open => PricingType::FreeCustomerService,
        _ => PricingType::Regular,
    }
}

/// The category of what is sent: a template's declared category, `service` for free-form.
/// A template with no declared category is priced as marketing, the dearest, so that a
/// budget is never under-counted.
pub fn content_category(
    content: &OutboundContent,
    templates: &HashMap<String, TemplateCategory>,
) -> Category {
    match content {
        OutboundContent::Template(t) => templates
            .get(&t.name)
            .map(|c| Category::of_template(*c))
            .unwrap_or(Category::Marketing),
        _ => Category::Service,
    }
}

/// What Parley expects a send to cost, recorded in the ledger with the send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CostPrediction {
    pub category: Category,
    pub pricing_type: PricingType,
    /// The rate card row's calling code (`*` for the default row).
    pub market: String,
    pub currency: String,
    /// What this message costs: its category's rate, 0 when free.
    pub price_micros: i64,
    /// The market's rate for every category at the time of the send, so that the price of
    /// the category Meta reports afterwards is known without the card.
    pub rates: Rates,
}

/// The rate card and the template categories: everything a prediction needs besides the
/// conversation. Built once at start.
#[derive(Debug, Clone)]
pub struct Pricer {
    pub card: RateCard,
    pub templates: HashMap<String, TemplateCategory>,
}

/// A prediction and whether the send opens a free-entry-point window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Predicted {
    pub cost: CostPrediction,
    pub opens_entry_point: bool,
}

impl Pricer {
    /// Prices `content` sent to `to` at `now`, with the service window and the
    /// conversation's entry point as they are at that moment.
    pub fn predict(
        &self,
        content: &OutboundContent,
        to: &ContactRef,
        service_window_open: bool,
        entry_point: Option<&EntryPoint>,
        now: DateTime<Utc>,
    ) -> Predicted {
        let category = content_category(content, &self.templates);
        let ep = entry_point.map_or(EntryPointAt::Closed, |e| e.at(now));
        let pricing_type = classify(category, service_window_open, ep, now);
        let digits = to.phone().map(|p| p.digits()).unwrap_or("");
        let (market, rates) = self.card.rates(digits, now.date_naive());
        let price_micros = if pricing_type.billable() {
            rates.of(category)
        } else {
            0
        };
        Predicted {
            cost: CostPrediction {
                category,
                pricing_type,
                market: market.to_string(),
                currency: self.card.currency().to_string(),
                price_micros,
                rates,
            },
            opens_entry_point: ep == EntryPointAt::Opens,
        }
    }
}

impl Pricer {
    /// Prices a queued message as it will leave: a free-form message that finds the window
    /// closed (`can_send_freeform` false) goes as its fallback template; the customer-service
    /// window Meta prices by is `service_window_open` (no safety margin). A send that opens
    /// the free-entry-point window marks it opened in `entry_point`.
    #[allow(clippy::too_many_arguments)]
    pub fn price_send(
        &self,
        content: &OutboundContent,
        fallback: &super::WindowFallback,
        to: &ContactRef,
        can_send_freeform: bool,
        service_window_open: bool,
        entry_point: &mut Option<EntryPoint>,
        now: DateTime<Utc>,
    ) -> CostPrediction {
        let converted;
        let content = match (content.is_freeform() && !can_send_freeform, fallback) {
            (true, super::WindowFallback::Template(t)) => {
                converted = OutboundContent::Template(t.clone());
                &converted
            }
            _ => content,
        };
        let p = self.predict(content, to, service_window_open, entry_point.as_ref(), now);
        if p.opens_entry_point {
            if let Some(e) = entry_point {
                e.opened_at = Some(now);
            }
        }
        p.cost
    }
}

/// Whether the customer-service window is open as Meta prices it: the configured
/// duration from the customer's last message, without Parley's safety margin.
pub fn service_window_open(
    policy: &super::WindowPolicy,
    last_inbound_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> bool {
    last_inbound_at.is_some_and(|last| now >= last && now < last + policy.duration)
}

#[cfg(test)]
mod tests;
