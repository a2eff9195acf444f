//! What `berth check` reports and create refuses on: every problem found
//! in a bundle, each with a stable code, a severity, the JSON path (or
//! file) it is about and a one-line message. Validation collects them all;
//! create stops on the first error (`Findings::first_error`), so the two
//! can never disagree.

use super::ConfigError;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// berth (or the kernel) would refuse the bundle.
    Error,
    /// berth would accept it, leniently or by ignoring something.
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable, for tools: e.g. "path.relative", "program.missing".
    pub code: &'static str,
    pub severity: Severity,
    /// The JSON path in config.json (`mounts[2].source`), or a file.
    pub path: String,
    pub message: String,
}

/// Findings in the order they were found.
#[derive(Debug, Default, Clone)]
pub struct Findings(pub Vec<Finding>);

impl Findings {
    pub fn error(&mut self, code: &'static str, path: impl Into<String>, msg: impl Into<String>) {
        self.push(code, Severity::Error, path.into(), msg.into());
    }

    pub fn warn(&mut self, code: &'static str, path: impl Into<String>, msg: impl Into<String>) {
        self.push(code, Severity::Warning, path.into(), msg.into());
    }

    fn push(&mut self, code: &'static str, severity: Severity, path: String, message: String) {
        self.0.push(Finding {
            code,
            severity,
            path,
            message,
        });
    }

    /// A ConfigError (one that names a JSON path) as a finding.
    pub fn config_error(&mut self, code: &'static str, e: ConfigError) {
        match e {
            ConfigError::Invalid { path, msg } => self.error(code, path, msg),
            other => self.error(code, "config.json", other.to_string()),
        }
    }

    /// Whether some finding is about `path` already (so that a later,
    /// coarser check does not say the same thing twice).
    pub fn about(&self, path: &str) -> bool {
        self.0.iter().any(|f| f.path == path)
    }

    pub fn errors(&self) -> usize {
        self.count(Severity::Error)
    }

    pub fn warnings(&self) -> usize {
        self.count(Severity::Warning)
    }

    fn count(&self, s: Severity) -> usize {
        self.0.iter().filter(|f| f.severity == s).count()
    }

    /// What create says: the first error, as the ConfigError it always was.
    pub fn first_error(&self) -> Result<(), ConfigError> {
        match self.0.iter().find(|f| f.severity == Severity::Error) {
            Some(f) => Err(ConfigError::invalid(f.path.clone(), f.message.clone())),
            None => Ok(()),
        }
    }
}
