//! Approved exceptions: a key tag whose value is `owner=<who> expires=<YYYY-MM-DD> [ticket=<id>]`.
//!
//! The control asks to "track approved exceptions with an owner and expiry date". The tag key is the
//! rule parameter `exceptionTagKey`. An exception is valid through the whole of its expiry day (UTC).

use chrono::NaiveDate;

/// A well-formed exception tag value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exception {
    pub owner: String,
    pub expires: NaiveDate,
    pub ticket: Option<String>,
}

/// What the exception tag of a key says, if the key has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExceptionTag {
    /// The key has no exception tag.
    Absent,
    /// The tag parses; whether it has expired is the decision's business.
    Present(Exception),
    /// The tag is there but does not follow the format.
    Malformed { value: String, reason: String },
    /// The key's tags could not be read (for example, access denied on ListResourceTags).
    Unreadable(String),
}

impl ExceptionTag {
    /// Look up `tag_key` among a key's tags and parse its value.
    pub fn from_tags<'a>(
        tag_key: &str,
        tags: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Self {
        match tags.into_iter().find(|(k, _)| *k == tag_key) {
            None => Self::Absent,
            Some((_, value)) => match Exception::parse(value) {
                Ok(e) => Self::Present(e),
                Err(reason) => Self::Malformed {
                    value: value.to_owned(),
                    reason,
                },
            },
        }
    }
}

impl Exception {
    /// Parse `owner=<who> expires=<YYYY-MM-DD> [ticket=<id>]`, fields in any order.
    pub fn parse(value: &str) -> Result<Self, String> {
        let (mut owner, mut expires, mut ticket) = (None, None, None);
        for field in value.split_whitespace() {
            let (name, val) = field
                .split_once('=')
                .ok_or_else(|| format!("{field:?} is not name=value"))?;
            if val.is_empty() {
                return Err(format!("{name} is empty"));
            }
            let slot = match name {
                "owner" => &mut owner,
                "expires" => &mut expires,
                "ticket" => &mut ticket,
                other => return Err(format!("unknown field {other:?}")),
            };
            if slot.replace(val).is_some() {
                return Err(format!("{name} given twice"));
            }
        }
        let owner = owner.ok_or("owner= is missing")?;
        let expires = expires.ok_or("expires= is missing")?;
        // Exactly YYYY-MM-DD: chrono's %Y alone also takes "+12027" or "27".
        let shaped = expires.len() == 10
            && expires.bytes().enumerate().all(|(i, b)| match i {
                4 | 7 => b == b'-',
                _ => b.is_ascii_digit(),
            });
        let expires = NaiveDate::parse_from_str(expires, "%Y-%m-%d")
            .ok()
            .filter(|_| shaped)
            .ok_or_else(|| format!("expires={expires} is not a date YYYY-MM-DD"))?;
        Ok(Self {
            owner: owner.to_owned(),
            expires,
            ticket: ticket.map(str::to_owned),
        })
    }

    /// Valid through the whole expiry day.
    pub fn is_expired(&self, today: NaiveDate) -> bool {
        today > self.expires
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn parses_fields_in_any_order() {
        let e = Exception::parse("expires=2027-03-31 ticket=SEC-42 owner=payments-team").unwrap();
        assert_eq!(e.owner, "payments-team");
        assert_eq!(e.expires, d("2027-03-31"));
        assert_eq!(e.ticket.as_deref(), Some("SEC-42"));
        assert_eq!(
            Exception::parse("owner=a expires=2027-01-01")
                .unwrap()
                .ticket,
            None
        );
    }

    #[test]
    fn refuses_what_only_looks_like_an_exception() {
        for (value, reason) in [
            ("", "owner= is missing"),
            ("owner=alice", "expires= is missing"),
            ("expires=2027-01-01", "owner= is missing"),
            ("owner=alice expires=2027-02-30", "not a date"),
            ("owner=alice expires=31/12/2027", "not a date"),
            ("owner=alice expires=+12027-01-01", "not a date"),
            ("owner=alice expires=2027-1-1", "not a date"),
            ("owner=alice expires=27-01-01", "not a date"),
            ("owner=alice expires=2027-01-01 approved", "not name=value"),
            ("owner=alice owner=bob expires=2027-01-01", "given twice"),
            ("owner= expires=2027-01-01", "owner is empty"),
            (
                "owner=alice expires=2027-01-01 until=2028-01-01",
                "unknown field",
            ),
            ("approved until 2027", "not name=value"),
        ] {
            let err = Exception::parse(value).unwrap_err();
            assert!(err.contains(reason), "{value:?}: {err}");
        }
    }

    #[test]
    fn valid_through_the_expiry_day() {
        let e = Exception::parse("owner=a expires=2027-01-01").unwrap();
        assert!(!e.is_expired(d("2026-12-31")));
        assert!(!e.is_expired(d("2027-01-01")));
        assert!(e.is_expired(d("2027-01-02")));
    }

    #[test]
    fn finds_the_configured_tag_only() {
        let tags = [
            ("Owner", "x"),
            ("kms-rotation-exception", "owner=a expires=2027-01-01"),
        ];
        assert!(matches!(
            ExceptionTag::from_tags("kms-rotation-exception", tags),
            ExceptionTag::Present(_)
        ));
        assert_eq!(ExceptionTag::from_tags("other", tags), ExceptionTag::Absent);
        assert!(matches!(
            ExceptionTag::from_tags("Owner", tags),
            ExceptionTag::Malformed { .. }
        ));
    }
}
