//! [`ConfigError`]: a configuration problem, named by its field.

/// A configuration problem: the field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The field, as named in the config file (`listen`, `discovery.ttl`, ...).
    pub field: String,
    /// What is wrong.
    pub problem: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid config: `{}`: {}", self.field, self.problem)
    }
}

impl std::error::Error for ConfigError {}

/// A [`ConfigError`] for `field`.
pub(super) fn bad(field: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        field: field.to_string(),
        problem: problem.into(),
    }
}

/// Refuses `listen` (the `field` of a listener with no authentication, `what`) off loopback
/// unless `allow_insecure`.
pub(super) fn loopback_unless_insecure(
    field: &str,
    what: &str,
    listen: std::net::SocketAddr,
    allow_insecure: bool,
) -> Result<(), ConfigError> {
    if listen.ip().is_loopback() || allow_insecure {
        return Ok(());
    }
    Err(bad(
        field,
        format!(
            "{listen} is not a loopback address and the {what} has no authentication; set \
             allow_insecure to accept the risk"
        ),
    ))
}

/// A library validation error as a config error naming the same field.
pub(super) fn named(e: crate::Error) -> ConfigError {
    match e {
        crate::Error::InvalidOptions { field, reason } => bad(field, reason),
        other => bad("config", other.to_string()),
    }
}
