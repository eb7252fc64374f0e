//! What went wrong in a config, said so that an operator can find and fix it:
//! every problem carries the dotted path of the field it is about (e.g.
//! `route_plans.chat.targets[0].provider`) and, when the parser knows it, the
//! line and column.

use std::fmt;

use serde::Serialize;

/// A line and column in the source text, both counted from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SourceLocation {
    /// Line number, from 1.
    pub line: u64,
    /// Column number, from 1.
    pub column: u64,
}

/// One problem with a config: the field it is about and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigError {
    /// Dotted path of the field, e.g. `providers.openai-main.base_url`. Empty
    /// when the problem is about the whole document.
    pub path: String,
    /// What is wrong, in a sentence a person can act on.
    pub message: String,
    /// Where in the source text, when known (parse errors).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<SourceLocation>,
}

impl ConfigError {
    /// A problem at `path` (no source location).
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
            location: None,
        }
    }

    /// The same problem with a source location attached.
    #[must_use]
    pub fn at(mut self, line: u64, column: u64) -> Self {
        self.location = Some(SourceLocation { line, column });
        self
    }

    /// The same problem with its path placed under `prefix`: a catalog's
    /// `options.latency_ms` under `providers.mock` becomes
    /// `providers.mock.options.latency_ms`.
    #[must_use]
    pub fn under(mut self, prefix: &str) -> Self {
        self.path = join_path(prefix, &self.path);
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)?;
        } else {
            write!(f, "{}: {}", self.path, self.message)?;
        }
        if let Some(loc) = self.location {
            write!(f, " (line {}, column {})", loc.line, loc.column)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found in a config, in the order they were found. Never
/// empty when returned as an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigErrors {
    /// The problems, one per field and rule.
    pub errors: Vec<ConfigError>,
}

impl ConfigErrors {
    /// Wraps a list of problems.
    pub fn new(errors: Vec<ConfigError>) -> Self {
        Self { errors }
    }

    /// A single problem.
    pub fn single(error: ConfigError) -> Self {
        Self {
            errors: vec![error],
        }
    }

    /// `Err(self)` when there is at least one problem, otherwise `Ok(())`.
    pub fn into_result(self) -> Result<(), Self> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }

    /// The problems.
    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.errors.iter()
    }

    /// How many problems.
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// Whether there are no problems (never the case for a returned error).
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// The paths of all problems, in order (handy in tests and summaries).
    pub fn paths(&self) -> Vec<&str> {
        self.errors.iter().map(|e| e.path.as_str()).collect()
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(error: ConfigError) -> Self {
        Self::single(error)
    }
}

impl From<Vec<ConfigError>> for ConfigErrors {
    fn from(errors: Vec<ConfigError>) -> Self {
        Self::new(errors)
    }
}

impl IntoIterator for ConfigErrors {
    type Item = ConfigError;
    type IntoIter = std::vec::IntoIter<ConfigError>;
    fn into_iter(self) -> Self::IntoIter {
        self.errors.into_iter()
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;
    fn into_iter(self) -> Self::IntoIter {
        self.errors.iter()
    }
}

/// One line per problem: `path: message`.
impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Something allowed but probably unintended, e.g. a provider no route plan
/// uses. Warnings never block a config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigWarning {
    /// Dotted path of the field, as in [`ConfigError::path`].
    pub path: String,
    /// What looks unintended.
    pub message: String,
}

impl ConfigWarning {
    /// A warning at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Joins two dotted paths; an index segment (`[0]`) attaches without a dot.
pub(crate) fn join_path(prefix: &str, rest: &str) -> String {
    match (prefix.is_empty(), rest.is_empty()) {
        (true, _) => rest.to_owned(),
        (false, true) => prefix.to_owned(),
        (false, false) if rest.starts_with('[') => format!("{prefix}{rest}"),
        (false, false) => format!("{prefix}.{rest}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_lists_one_problem_per_line() {
        let errors = ConfigErrors::new(vec![
            ConfigError::new("providers.a.kind", "unknown kind"),
            ConfigError::new("", "document too large").at(3, 4),
        ]);
        assert_eq!(
            errors.to_string(),
            "providers.a.kind: unknown kind\ndocument too large (line 3, column 4)"
        );
    }

    #[test]
    fn serializes_for_the_admin_api() {
        let errors = ConfigErrors::single(ConfigError::new("a", "b").at(1, 2));
        let json = serde_json::to_value(&errors).unwrap_or_default();
        assert_eq!(
            json,
            serde_json::json!({"errors": [{"path": "a", "message": "b", "location": {"line": 1, "column": 2}}]})
        );
    }

    #[test]
    fn under_prefixes_paths() {
        assert_eq!(
            ConfigError::new("options.x", "m").under("providers.p").path,
            "providers.p.options.x"
        );
        assert_eq!(
            ConfigError::new("", "m").under("providers.p").path,
            "providers.p"
        );
        assert_eq!(ConfigError::new("[0]", "m").under("t").path, "t[0]");
    }
}
