//! Phone numbers and contact identities, parsed once at the edge.

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
}

impl PhoneNumber {
    /// Accepts `+14155238886`, `14155238886`, `+1 (415) 523-8886` and `whatsapp:+14155238886`.
    pub fn parse(input: &str) -> Result<Self, PhoneError> {
        let s = input.trim();
        let s = s.strip_prefix("whatsapp:").unwrap_or(s).trim();
        if s.is_empty() {
            return Err(PhoneError::Empty);
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

    /// `+14155238886`
    pub fn as_e164(&self) -> &str {
        &self.0
    }

    /// `14155238886`, the form Meta uses in `wa_id` and `to`.
    pub fn digits(&self) -> &str {
        &self.0[1..]
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

/// Who a customer is: a phone number, or (since 2026) a business-scoped user id for users
/// who hide their number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum ContactRef {
    Phone(PhoneNumber),
    BusinessScoped(String),
}

impl ContactRef {
    /// The stable key contacts are stored under: `+16315551181` or `bsuid:US.1048…`.
    pub fn key(&self) -> String {
        match self {
            ContactRef::Phone(p) => p.as_e164().to_string(),
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
            ContactRef::Phone(p) => Some(p),
            ContactRef::BusinessScoped(_) => None,
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
    fn contact_keys_round_trip() {
        let phone = ContactRef::Phone(PhoneNumber::parse("16315551181").unwrap());
        let bsuid = ContactRef::BusinessScoped("US.10482957361840527319".into());
        for c in [phone, bsuid] {
            assert_eq!(ContactRef::from_key(&c.key()), Some(c));
        }
    }
}
