//! Accounts as every layer sees them: what a [`Role`] may do, the [`Theme`] a user chose,
//! a [`User`] (never with its password hash) and the [`SessionUser`] behind a request.
//! `store::users` and `store::sessions` keep the SQL and the hashes.

use super::ParseError;

/// What an account may do. Checked on the server for every mutating action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Manages users and compute profiles, and may do everything an operator does.
    Admin,
    /// Starts and stops runs and the executor, reviews (flags/archives) runs.
    Operator,
    /// Sees everything, changes nothing (except their own display preferences).
    Observer,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Admin, Role::Operator, Role::Observer];

    /// The role's name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Observer => "observer",
        }
    }

    /// Whether this role may operate runs and the executor (operator or admin).
    pub fn can_operate(self) -> bool {
        matches!(self, Role::Admin | Role::Operator)
    }

    /// Whether this role may manage users and profiles (admin only).
    pub fn can_administer(self) -> bool {
        matches!(self, Role::Admin)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "admin" => Ok(Role::Admin),
            "operator" => Ok(Role::Operator),
            "observer" => Ok(Role::Observer),
            _ => Err(ParseError::BadRole(s.to_string())),
        }
    }
}

/// The display theme a user chose (dark by default, matching the lab's dark plots).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Theme {
    #[default]
    Dark,
    Light,
}

impl Theme {
    pub fn as_str(self) -> &'static str {
        match self {
            Theme::Dark => "dark",
            Theme::Light => "light",
        }
    }

    /// The other theme.
    pub fn toggled(self) -> Theme {
        match self {
            Theme::Dark => Theme::Light,
            Theme::Light => Theme::Dark,
        }
    }
}

/// An account as the rest of pmtwatch sees it. The password hash never leaves this module.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub theme: Theme,
    pub created_at: i64,
}

/// The account behind a valid session, as looked up for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionUser {
    pub session_id: i64,
    pub user_id: i64,
    pub name: String,
    pub role: Role,
    pub theme: Theme,
    /// The view the session's page last showed (opaque to the store; see `views`).
    pub view: String,
}
