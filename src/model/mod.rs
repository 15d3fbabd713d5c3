//! The shared vocabulary: plain types every layer may use — run states, reviews, scan
//! kinds, roles, themes, where work runs, a connection report, a command-mode spec, the
//! clock. No I/O, no SQL, no async: `store` maps these to rows, `remote` and `monitor`
//! act on them, `control` and `views` show them. Putting a type here is what lets `views`
//! name it without reaching into `store` or `remote` (see `src/layers.rs`).
//!
//! - [`run`]: [`RunState`], [`Review`], [`ScanKind`], a stored [`Run`] and a History
//!   [`RunFilter`].
//! - [`account`]: [`Role`], [`Theme`], [`User`], [`SessionUser`].
//! - [`backend`]: [`BackendKind`] (local, SSH, SLURM).
//! - [`report`]: the connection test's [`Report`].
//! - [`command_mode`]: a command-mode profile as written ([`CommandSpec`]).
//! - [`alarm`]: alarms, their acknowledgement and shelving, logbook entries, deliveries and
//!   the alarm configuration ([`AlarmConfig`], with a `Debug` that hides the SMTP password).
//! - [`clock`]: [`now`] and [`rfc3339`], the timestamps everything stores and shows.
//! - [`hv`]: an HV check's stored result ([`HvResult`]).
//! - [`gpu`]: a slot's GPU choice ([`GpuChoice`]), what it became for a run ([`RunGpu`])
//!   and the step between them ([`resolve_gpu`]).
//! - [`system`]: what the System tab shows: [`Gpu`], [`GpuProcess`], SLURM [`Partition`]s
//!   and [`QueuedJob`]s.
//! - [`system_status`]: the sampler's picture ([`SystemStatus`]: hosts, clusters, disk
//!   alarms, charts) and the default GPU choice ([`least_busy`]).

pub(crate) mod account;
pub(crate) mod alarm;
pub(crate) mod backend;
pub(crate) mod clock;
pub(crate) mod command_mode;
pub(crate) mod gpu;
pub(crate) mod hv;
pub(crate) mod report;
pub(crate) mod run;
pub(crate) mod system;
pub(crate) mod system_status;

pub use account::{Role, SessionUser, Theme, User};
pub use alarm::{
    Alarm, AlarmConfig, AlarmKind, Delivery, LogEntry, Rule, Severity, Shelve, StallRule, Target,
    attachment_is_image, attachment_title,
};
pub use backend::Kind as BackendKind;
pub use clock::{now, rfc3339};
pub use command_mode::CommandSpec;
pub use gpu::{GpuChoice, MAX_GRES_GPUS, RunGpu, resolve as resolve_gpu};
pub use hv::HvResult;
pub use report::{Check, Report};
pub use run::{PointFigures, Review, Run, RunFilter, RunState, ScanKind};
pub use system::{CpuCounts, DiskSpace, Gpu, GpuProcess, Partition, QueuedJob};
pub use system_status::{
    ChartSeries, ClusterStatus, DiskAlarm, DiskLine, HostStatus, NO_LOCAL_GPU, NO_NVIDIA_SMI,
    SystemStatus, least_busy,
};

/// A name that is not one of a vocabulary type's values (`"bogus".parse::<RunState>()`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("invalid {what}: {value}")]
    BadValue { what: &'static str, value: String },
    #[error("unknown role '{0}': use admin, operator or observer")]
    BadRole(String),
}

/// Declares a string-backed enum with `as_str`, `FromStr` (error: [`ParseError`]) and
/// `Display`, serialised in `snake_case`: the names stored, shown and used in the JSON API.
macro_rules! text_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vm])* $v),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$v),+];
            /// The name as stored, shown and used in the JSON API.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$v => $s),+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::model::ParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($s => Ok($name::$v),)+
                    _ => Err($crate::model::ParseError::BadValue {
                        what: stringify!($name),
                        value: s.to_string(),
                    }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use text_enum;
