//! Berth's built-in authorization policy: a TOML file of ordered allow and deny rules
//! (`--authorization-policy FILE`), asked before any authorization plugin.
//!
//! ```toml
//! default = "deny"
//!
//! [[rule]]
//! name = "monitoring"
//! action = "allow"
//! uid = [1001]
//! groups = ["*:read"]
//! ```
//!
//! The first rule whose matchers all match decides; when none does, `default` does. Everything
//! a rule needs is compiled at load time ([`Policy::load`]); a decision walks the rules, tests
//! cheap matchers first and parses the request body at most once, and only for a rule whose
//! other matchers all matched. The format is documented for users in `docs/authorization.md`.

mod file;
mod group;
mod rule;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_docs;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use berth_api::{Error, ErrorKind};
use berth_middleware::authz::{Authorizer, RequestInfo, ResponseInfo, Verdict};
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, ready};
use serde::Deserialize;

pub use group::{Access, Group};
use rule::{Rule, Subject};

/// What a rule, or the policy's default, does with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Let the request through to the next authorizer (or the handler).
    Allow,
    /// Answer 403 instead.
    Deny,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Allow => "allow",
            Action::Deny => "deny",
        })
    }
}

/// A loaded, validated policy. It is an [`Authorizer`] named `"policy"`.
#[derive(Debug)]
pub struct Policy {
    default: Action,
    rules: Vec<Rule>,
}

/// Why a policy could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be read.
    #[error("cannot read authorization policy {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What reading it failed with.
        #[source]
        source: std::io::Error,
    },
    /// The text is not a valid policy.
    #[error("invalid authorization policy{}: {message}", describe_place(file.as_deref(), *location))]
    Invalid {
        /// The file, when the policy came from one.
        file: Option<PathBuf>,
        /// The 1-based line and column of the problem, when known.
        location: Option<(usize, usize)>,
        /// What is wrong.
        message: String,
    },
}

fn describe_place(file: Option<&Path>, location: Option<(usize, usize)>) -> String {
    let file = file.map(|f| format!(" {}", f.display())).unwrap_or_default();
    match location {
        Some((line, column)) => format!("{file} (line {line}, column {column})"),
        None => file,
    }
}

impl Policy {
    /// Reads and validates the policy in `path`.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| PolicyError::Read { path: path.to_owned(), source })?;
        Policy::parse(&text, Some(path))
    }

    fn parse(text: &str, file: Option<&Path>) -> Result<Policy, PolicyError> {
        let (default, rules) = file::parse(text).map_err(|problem| PolicyError::Invalid {
            file: file.map(Path::to_owned),
            location: problem.span.map(|span| file::line_column(text, span.start)),
            message: problem.message.trim_end().to_owned(),
        })?;
        Ok(Policy { default, rules })
    }

    /// What happens to a request no rule matches.
    pub fn default_action(&self) -> Action {
        self.default
    }

    /// The names of the rules, in the order they are tried.
    pub fn rule_names(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.name.as_str())
    }

    /// Decides on a request: `Ok(())` to let it through, or the 403 the client gets.
    pub fn decide(&self, request: &RequestInfo) -> Verdict {
        let mut subject = Subject::new(request);
        let Some(rule) = self.rules.iter().find(|rule| rule.matches(&mut subject)) else {
            return match self.default {
                Action::Allow => Ok(()),
                Action::Deny => {
                    // The authz layer logs every denial at info, with its message.
                    tracing::debug!("request denied by authorization policy: no rule allows it");
                    Err(Error::new(
                        ErrorKind::Forbidden,
                        format!(
                            "authorization denied by policy: no rule allows {} {}",
                            request.method, request.path
                        ),
                    ))
                }
            };
        };
        match rule.action {
            Action::Allow => {
                tracing::debug!(rule = %rule.name, "request allowed by authorization policy");
                Ok(())
            }
            Action::Deny => {
                // The authz layer logs the denial at info; its message names the rule.
                tracing::debug!(rule = %rule.name, "request denied by authorization policy");
                let mut message = format!("authorization denied by policy rule \"{}\"", rule.name);
                if let Some(extra) = &rule.message {
                    message.push_str(": ");
                    message.push_str(extra);
                }
                Err(Error::new(ErrorKind::Forbidden, message))
            }
        }
    }
}

/// Parses a policy from its text (no file is named in errors).
impl FromStr for Policy {
    type Err = PolicyError;

    fn from_str(text: &str) -> Result<Policy, PolicyError> {
        Policy::parse(text, None)
    }
}

impl Authorizer for Policy {
    fn name(&self) -> &str {
        "policy"
    }

    fn authorize_request(&self, request: Arc<RequestInfo>) -> BoxFuture<'static, Verdict> {
        ready(self.decide(&request)).boxed()
    }

    fn authorize_response(
        &self,
        _request: Arc<RequestInfo>,
        _response: Arc<ResponseInfo>,
    ) -> BoxFuture<'static, Verdict> {
        ready(Ok(())).boxed()
    }

    fn inspects_responses(&self) -> bool {
        false
    }
}
