//! Phone numbers and contact identities, parsed once at the edge.
//!
//! Two strengths of parsing. `PhoneNumber::parse_strict` is for numbers people type into
//! the API: the number must be valid in its country's numbering plan (Google's
//! libphonenumber metadata, through the `phonenumber` crate) and a spreadsheet float like
//! `16315551181.0` is refused instead of becoming another person's number.
//! `PhoneNumber::parse` only checks the E.164 shape: it reads numbers the provider reports
//! (the provider is authoritative about who wrote to us, and plans change faster than a
//! release), numbers already stored, and configuration.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An E.164 phone number, stored as `+` followed by 8 to 15 digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PhoneNumber(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("phone number is empty")]
    Empty,
    #[error(
        "phone number may contain only digits, spaces, dashes, dots, brackets and a leading +"
    )]
    InvalidCharacter,
    #[error(
        "phone number must have between 8 and 15 digits including the country code, found {0}"
    )]
    WrongLength(usize),
    #[error("phone number cannot start with 0: write it with its country code")]
    LeadingZero,
    #[error("phone number looks like a decimal number (a spreadsheet float?): write its digits only, with the country code")]
    Decimal,
    #[error("phone number {0} is not a valid number in its country's numbering plan (check the country code and the number of digits)")]
    NotInPlan(String),
}

impl PhoneNumber {
    /// Accepts `+14155238886`, `14155238886`, `+1 (415) 523-8886` and `whatsapp:+14155238886`.
    pub fn parse(input: &str) -> Result<Self, PhoneError> {
        let s = input.trim();
        let s = s.strip_prefix("whatsapp:").unwrap_or(s).trim();
        if s.is_empty() {
            return Err(PhoneError::Empty);
        }
        if looks_decimal(s) {
            return Err(PhoneError::Decimal);
        }
        let body = s.strip_prefix('+').unwrap_or(s);
        let mut digits = String::with_capacity(16);
        for c in body.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => return Err(PhoneError::InvalidCharacter),
            }
        }
        if digits.is_empty() {
            return Err(PhoneError::Empty);
        }
        if !(8..=15).contains(&digits.len()) {
            return Err(PhoneError::WrongLength(digits.len()));
        }
        if digits.starts_with('0') {
            return Err(PhoneError::LeadingZero);
        }
        Ok(Self(format!("+{digits}")))
    }

    /// Like `parse`, and the number must also be valid in its country's numbering plan.
    /// For numbers typed by people (API requests); with or without the leading `+`, the
    /// country code is always required.
    pub fn parse_strict(input: &str) -> Result<Self, PhoneError> {
        let shaped = Self::parse(input)?;
        let valid = phonenumber::parse(None, shaped.as_e164())
            .map(|n| phonenumber::is_valid(&n))
            .unwrap_or(false);
        if valid {
            Ok(shaped)
        } else {
            Err(PhoneError::NotInPlan(shaped.0))
        }
    }

    /// `+14155238886`
    pub fn as_e164(&self) -> &str {
        &self.0
    }

    /// `14155238886`, the form Meta uses in `wa_id` and `to`.
    pub fn digits(&self) -> &str {
        &self.0[1..]
    }
}

/// `16315551181.0`, `+4915123456789.00`: a number ending in a dot and one or two zeros —
/// what a number stored as a float in a spreadsheet turns into. (A group of digits written
/// after a dot separator is never just `0` or `00`.)
fn looks_decimal(s: &str) -> bool {
    match s.trim_end().rsplit_once('.') {
        Some((int, frac)) => {
            int.ends_with(|c: char| c.is_ascii_digit())
                && (1..=2).contains(&frac.len())
                && frac.bytes().all(|b| b == b'0')
        }
        None => false,
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for PhoneNumber {
    type Error = PhoneError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<PhoneNumber> for String {
    fn from(value: PhoneNumber) -> Self {
        value.0
    }
}

/// Who a customer is: a phone number, a business-scoped user id (BSUID, since 2026) for
/// users who hide their number, or both when the provider sends both.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum ContactRef {
    Phone(PhoneNumber),
    BusinessScoped(String),
    /// Both identities of one user: the phone is the address, the BSUID joins contacts
    /// that were known by only one of them.
    PhoneAndBusinessScoped {
        phone: PhoneNumber,
        user_id: String,
    },
}

/// Whether `id` looks like a business-scoped user id Parley may store and send to: `CC.`
/// then letters and digits (`US.13491208655302741918`, parent ids `US.ENT.…`), at most
/// `limits::BSUID_MAX_LEN` long. Anything else from outside is refused, not keyed on.
pub fn is_user_id(id: &str) -> bool {
    let Some((country, rest)) = id.split_once('.') else {
        return false;
    };
    id.len() <= super::limits::BSUID_MAX_LEN
        && country.len() == 2
        && country.bytes().all(|b| b.is_ascii_uppercase())
        && !rest.is_empty()
        && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.')
}

impl ContactRef {
    /// Both identities when both are given, else whichever is.
    pub fn from_parts(phone: Option<PhoneNumber>, user_id: Option<String>) -> Option<Self> {
        let user_id = user_id.filter(|id| !id.trim().is_empty());
        match (phone, user_id) {
            (Some(phone), Some(user_id)) => {
                Some(ContactRef::PhoneAndBusinessScoped { phone, user_id })
            }
            (Some(phone), None) => Some(ContactRef::Phone(phone)),
            (None, Some(user_id)) => Some(ContactRef::BusinessScoped(user_id)),
            (None, None) => None,
        }
    }

    /// The stable key contacts are stored under and sent to: `+16315551181` (the phone,
    /// whenever it is known) or `bsuid:US.1048…`.
    pub fn key(&self) -> String {
        match self {
            ContactRef::Phone(p) | ContactRef::PhoneAndBusinessScoped { phone: p, .. } => {
                p.as_e164().to_string()
            }
            ContactRef::BusinessScoped(id) => format!("bsuid:{id}"),
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        match key.strip_prefix("bsuid:") {
            Some(id) if !id.is_empty() => Some(ContactRef::BusinessScoped(id.to_string())),
            Some(_) => None,
            None => PhoneNumber::parse(key).ok().map(ContactRef::Phone),
        }
    }

    pub fn phone(&self) -> Option<&PhoneNumber> {
        match self {
            ContactRef::Phone(p) | ContactRef::PhoneAndBusinessScoped { phone: p, .. } => Some(p),
            ContactRef::BusinessScoped(_) => None,
        }
    }

    /// The business-scoped user id, when known.
    pub fn user_id(&self) -> Option<&str> {
        match self {
            ContactRef::Phone(_) => None,
            ContactRef::BusinessScoped(id)
            | ContactRef::PhoneAndBusinessScoped { user_id: id, .. } => Some(id),
        }
    }

    /// Where a send goes: the phone when known (Meta's `to`), else the BSUID (`recipient`).
    pub fn address(&self) -> ContactRef {
        match self {
            ContactRef::PhoneAndBusinessScoped { phone, .. } => ContactRef::Phone(phone.clone()),
            other => other.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_forms_to_e164() {
        for input in [
            "+14155238886",
            "14155238886",
            "+1 (415) 523-8886",
            "whatsapp:+14155238886",
        ] {
            assert_eq!(
                PhoneNumber::parse(input).unwrap().as_e164(),
                "+14155238886",
                "{input}"
            );
        }
    }

    #[test]
    fn rejects_bad_numbers_with_a_reason() {
        assert_eq!(PhoneNumber::parse(""), Err(PhoneError::Empty));
        assert_eq!(PhoneNumber::parse("+1234"), Err(PhoneError::WrongLength(4)));
        assert_eq!(
            PhoneNumber::parse("+1415abc8886"),
            Err(PhoneError::InvalidCharacter)
        );
        assert_eq!(
            PhoneNumber::parse("0044770090012"),
            Err(PhoneError::LeadingZero)
        );
        assert_eq!(
            PhoneNumber::parse("+1234567890123456"),
            Err(PhoneError::WrongLength(16))
        );
    }

    #[test]
    fn spreadsheet_floats_are_refused_not_turned_into_another_number() {
        for input in [
            "16315551181.0",
            "+16315551181.00",
            "447700900123.0",
            "+49 30 1234567.0",
        ] {
            assert_eq!(
                PhoneNumber::parse(input),
                Err(PhoneError::Decimal),
                "{input}"
            );
            assert_eq!(
                PhoneNumber::parse_strict(input),
                Err(PhoneError::Decimal),
                "{input}"
            );
        }
        // Dots as separators are still fine.
        assert_eq!(
            PhoneNumber::parse_strict("+1.415.523.8886")
                .unwrap()
                .as_e164(),
            "+14155238886"
        );
    }

    #[test]
    fn strict_parsing_checks_the_country_plan() {
        for (input, e164) in [
            ("+14155238886", "+14155238886"),
            ("16315551181", "+16315551181"),
            ("+34 600 000 001", "+34600000001"),
            ("whatsapp:+447911123456", "+447911123456"),
            ("919876543210", "+919876543210"),
        ] {
            assert_eq!(
                PhoneNumber::parse_strict(input).map(|p| p.as_e164().to_string()),
                Ok(e164.to_string()),
                "{input}"
            );
        }
        for input in [
            "+1234567890",
            "+163155511810",
            "+99912345678",
            "+447700900123",
        ] {
            assert!(
                matches!(
                    PhoneNumber::parse_strict(input),
                    Err(PhoneError::NotInPlan(_))
                ),
                "{input}"
            );
            // The provider's word is kept: shape-only parsing still reads them.
            assert!(PhoneNumber::parse(input).is_ok(), "{input}");
        }
    }

    #[test]
    fn contact_keys_round_trip() {
        let phone = ContactRef::Phone(PhoneNumber::parse("16315551181").unwrap());
        let bsuid = ContactRef::BusinessScoped("US.10482957361840527319".into());
        for c in [phone, bsuid] {
            assert_eq!(ContactRef::from_key(&c.key()), Some(c));
        }
    }

    #[test]
    fn user_ids_are_shaped_and_bounded() {
        for ok in [
            "US.13491208655302741918",
            "BR.1502576394655843",
            "US.ENT.11815799212886844830",
        ] {
            assert!(is_user_id(ok), "{ok}");
        }
        let long = format!("US.{}", "1".repeat(200));
        for bad in [
            "",
            "US.",
            "us.123",
            "USA.123",
            "+16315551181",
            "US.12 3",
            "US.1<script>",
            long.as_str(),
        ] {
            assert!(!is_user_id(bad), "{bad}");
        }
    }

    #[test]
    fn both_identities_are_keyed_and_addressed_by_the_phone() {
        let phone = PhoneNumber::parse("16315551181").unwrap();
        let both = ContactRef::from_parts(Some(phone.clone()), Some("US.1048".into())).unwrap();
        assert_eq!(both.key(), "+16315551181");
        assert_eq!(both.user_id(), Some("US.1048"));
        assert_eq!(both.address(), ContactRef::Phone(phone.clone()));
        assert_eq!(
            ContactRef::from_parts(None, Some("US.1048".into())).map(|c| c.key()),
            Some("bsuid:US.1048".to_string())
        );
        assert_eq!(
            ContactRef::from_parts(Some(phone.clone()), Some(" ".into())),
            Some(ContactRef::Phone(phone))
        );
        assert_eq!(ContactRef::from_parts(None, None), None);
    }
}
