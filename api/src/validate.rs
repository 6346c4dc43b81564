//! Validation of names and numbers in request bodies; failures are 422 problems that say
//! what to fix.

use crate::error::ApiError;

/// A DNS-label-like name: 1 to 63 of `a-z`, `0-9` and `-`, starting and ending with a letter
/// or digit. Names of tenants, clusters, users and credentials.
pub fn name(field: &str, value: &str) -> Result<(), ApiError> {
    let ok = !value.is_empty()
        && value.len() <= 63
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::Validation(format!(
            "{field} must be 1 to 63 characters of a-z, 0-9 and '-', starting and ending with a letter or digit (got {value:?})"
        )))
    }
}

/// A Kafka topic name: 1 to 249 of `a-zA-Z0-9._-`, not `.` or `..`, not starting with `__`
/// (internal topics).
pub fn topic_name(value: &str) -> Result<(), ApiError> {
    let legal = !value.is_empty()
        && value.len() <= 249
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && value != "."
        && value != "..";
    if !legal {
        return Err(ApiError::Validation(format!(
            "topic name must be 1 to 249 characters of a-z, A-Z, 0-9, '.', '_' and '-' (got {value:?})"
        )));
    }
    if value.starts_with("__") {
        return Err(ApiError::Validation(format!(
            "topic names starting with '__' are reserved for internal topics (got {value:?})"
        )));
    }
    Ok(())
}

/// `value` within `range`, else a 422 naming `field`.
pub fn range(
    field: &str,
    value: i64,
    range: std::ops::RangeInclusive<i64>,
) -> Result<(), ApiError> {
    if range.contains(&value) {
        Ok(())
    } else {
        Err(ApiError::Validation(format!(
            "{field} must be between {} and {} (got {value})",
            range.start(),
            range.end()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_dns_label_rules() {
        for ok in ["a", "acme", "acme-prod-1", &"a".repeat(63)] {
            name("name", ok).unwrap();
        }
        for bad in ["", "-a", "a-", "Acme", "a_b", "a.b", &"a".repeat(64)] {
            let e = name("name", bad).unwrap_err();
            assert!(e.to_string().starts_with("name must be"), "{e}");
        }
    }

    #[test]
    fn topic_names_follow_kafka_rules() {
        topic_name("orders.v1_EU-west").unwrap();
        for bad in [
            "",
            ".",
            "..",
            "a b",
            "a/b",
            "__consumer_offsets",
            &"a".repeat(250),
        ] {
            assert!(topic_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ranges_are_inclusive() {
        range("n", 1, 1..=3).unwrap();
        range("n", 3, 1..=3).unwrap();
        assert!(range("n", 0, 1..=3).is_err());
        assert!(range("n", 4, 1..=3).is_err());
    }
}
