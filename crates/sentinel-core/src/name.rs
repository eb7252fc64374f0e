//! Names chosen by operators: environments, applications, providers, secrets
//! and route plans. One grammar for all of them keeps URLs, key prefixes and
//! config paths unambiguous.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An operator-chosen name: 1 to 63 characters of lowercase ASCII letters,
/// digits and `-`, starting with a letter.
///
/// Environment names appear in client keys (`snt_<env>_…`), so `_` is not
/// allowed anywhere in a name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Name(String);

/// Why a string is not a valid [`Name`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("name is empty")]
    Empty,
    #[error("name is longer than 63 characters")]
    TooLong,
    #[error("name must start with a lowercase letter")]
    BadStart,
    #[error("name may contain only lowercase letters, digits and '-' (found {0:?})")]
    BadChar(char),
}

impl Name {
    pub const MAX_LEN: usize = 63;

    /// Checks `s` against the name grammar.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let first = s.chars().next().ok_or(NameError::Empty)?;
        if s.len() > Self::MAX_LEN {
            return Err(NameError::TooLong);
        }
        if !first.is_ascii_lowercase() {
            return Err(NameError::BadStart);
        }
        if let Some(c) = s
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
        {
            return Err(NameError::BadChar(c));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Name {
    type Error = NameError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Name> for String {
    fn from(n: Name) -> Self {
        n.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::ops::Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(s: &str, ok: bool) {
        assert_eq!(Name::parse(s).is_ok(), ok, "{s:?}");
    }

    #[test]
    fn name_grammar() {
        check("prod", true);
        check("dev-2", true);
        check("a", true);
        check("", false);
        check("Prod", false);
        check("2dev", false);
        check("dev_x", false);
        check("dev x", false);
        check("dév", false);
        check(&"a".repeat(63), true);
        check(&"a".repeat(64), false);
    }
}
