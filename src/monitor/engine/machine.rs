//! A run's life as data: one pure function, [`step`], takes the state a run is in and what
//! happened to it, and returns the state it goes to with what to do about it — or refuses a
//! transition that cannot happen. No I/O: the engine's tasks call it, do the actions (store
//! the state, show it, wait) and never choose a state themselves, so every transition is
//! here and unit-tested, legal and illegal alike.
//!
//! ```text
//! queued ─ExecutorOff─▶ queued ─Dispatched─▶ submitting ─Working─▶ running ─Finished─▶ complete
//!   │                                           │  ▲                 │ ▲
//!   │                              LostContact /│  │Working,         │ │JobAnswers
//!   │                              JobUnreach.  ▼  │JobAnswers       ▼ │
//!   │                                        cluster_unreachable ◀───┘ (JobUnreachable, LostContact)
//!   └── Stopped / Failed from every state that has not ended ──▶ cancelled / failed
//! ```
//! `LostContact` past [`MAX_UNREACHABLE`] attempts ends the run `failed`.

use std::time::Duration;

use crate::model::RunState;

/// How often an unreachable host or controller is retried before the run is failed
/// (with the backoff below: about an hour).
pub const MAX_UNREACHABLE: u32 = 40;
pub const BACKOFF_FIRST: Duration = Duration::from_secs(2);
pub const BACKOFF_MAX: Duration = Duration::from_secs(120);

/// Where the run's task was when a stop arrived (the message says so).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopPoint {
    /// Still queued, never dispatched.
    BeforeDispatch,
    /// Waiting to try an unreachable host or controller again.
    WhileRetrying,
    /// Following the work; `outcome` says what became of the job (`; SLURM job 7
    /// cancelled`, `; no longer followed`).
    Following { outcome: String },
}

/// What happened to a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The executor is not dispatching: the run waits.
    ExecutorOff,
    /// The executor dispatched the run to `host`.
    Dispatched { host: String },
    /// The work runs (a watch streams, a job is followed, a command runs): what it is.
    Working(String),
    /// The host or controller did not answer; this is the `attempt`-th time in a row.
    LostContact { error: String, attempt: u32 },
    /// A poll of the followed job found the controller silent (the text the operator reads).
    JobUnreachable(String),
    /// The controller answers again (the poll's text).
    JobAnswers(String),
    /// The work ended well: the summary (`21/21 points`).
    Finished(String),
    /// The work failed: why.
    Failed(String),
    /// The operator stopped the run.
    Stopped { by: String, at: StopPoint },
}

impl Event {
    fn name(&self) -> &'static str {
        match self {
            Event::ExecutorOff => "executor off",
            Event::Dispatched { .. } => "dispatched",
            Event::Working(_) => "working",
            Event::LostContact { .. } => "lost contact",
            Event::JobUnreachable(_) => "job unreachable",
            Event::JobAnswers(_) => "job answers",
            Event::Finished(_) => "finished",
            Event::Failed(_) => "failed",
            Event::Stopped { .. } => "stopped",
        }
    }
}

/// What the engine does for a transition, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Store the run's new state and message (then show it).
    Record { state: RunState, message: String },
    /// Wait this long (or until a stop) before trying again.
    RetryAfter(Duration),
}

/// A transition that cannot happen: the event does not fit the state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a run that is {from} cannot take the event '{event}'")]
pub struct Illegal {
    pub from: RunState,
    pub event: &'static str,
}

/// The wait before the `attempt`-th retry: doubling from [`BACKOFF_FIRST`], at most
/// [`BACKOFF_MAX`].
pub fn backoff(attempt: u32) -> Duration {
    BACKOFF_FIRST
        .saturating_mul(1 << attempt.min(6))
        .min(BACKOFF_MAX)
}

/// The run's next state and what to do, or [`Illegal`].
pub fn step(from: RunState, event: Event) -> Result<(RunState, Vec<Action>), Illegal> {
    use RunState::*;
    let illegal = |e: &Event| Illegal {
        from,
        event: e.name(),
    };
    // Submitting, running or unreachable: the work has been dispatched and not ended.
    let dispatched = matches!(from, Submitting | Running | ClusterUnreachable);
    let record =
        |state: RunState, message: String| (state, vec![Action::Record { state, message }]);
    Ok(match event {
        Event::ExecutorOff if from == Queued => record(
            Queued,
            "waiting for the executor (step 1: Start executor)".into(),
        ),
        Event::Dispatched { host } if from == Queued => {
            record(Submitting, format!("dispatching to {host}"))
        }
        Event::Working(what) if dispatched => record(Running, what),
        Event::LostContact { error, attempt } if dispatched => {
            if attempt > MAX_UNREACHABLE {
                record(Failed, error)
            } else {
                let wait = backoff(attempt);
                let message = format!(
                    "{error} — trying again in {} s (attempt {attempt}); nothing is lost",
                    wait.as_secs()
                );
                (
                    ClusterUnreachable,
                    vec![
                        Action::Record {
                            state: ClusterUnreachable,
                            message,
                        },
                        Action::RetryAfter(wait),
                    ],
                )
            }
        }
        Event::JobUnreachable(text) if dispatched => record(ClusterUnreachable, text),
        Event::JobAnswers(text) if dispatched => {
            record(Running, format!("the cluster answers again: {text}"))
        }
        Event::Finished(summary) if dispatched => record(Complete, summary),
        Event::Failed(why) if from.is_active() => record(Failed, why),
        Event::Stopped { by, at } if from.is_active() => {
            let message = match at {
                StopPoint::BeforeDispatch if from == Queued => {
                    format!("stopped by {by} before it was dispatched")
                }
                StopPoint::WhileRetrying if from == ClusterUnreachable => {
                    format!("stopped by {by} while the cluster was unreachable")
                }
                StopPoint::Following { outcome } if dispatched => {
                    format!("stopped by {by}{outcome}")
                }
                at => {
                    return Err(illegal(&Event::Stopped { by, at }));
                }
            };
            record(Cancelled, message)
        }
        e => return Err(illegal(&e)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use RunState::*;

    fn every_event() -> Vec<Event> {
        vec![
            Event::ExecutorOff,
            Event::Dispatched { host: "h".into() },
            Event::Working("w".into()),
            Event::LostContact {
                error: "e".into(),
                attempt: 1,
            },
            Event::JobUnreachable("u".into()),
            Event::JobAnswers("a".into()),
            Event::Finished("f".into()),
            Event::Failed("x".into()),
            Event::Stopped {
                by: "op".into(),
                at: StopPoint::BeforeDispatch,
            },
            Event::Stopped {
                by: "op".into(),
                at: StopPoint::WhileRetrying,
            },
            Event::Stopped {
                by: "op".into(),
                at: StopPoint::Following {
                    outcome: "; no longer followed".into(),
                },
            },
        ]
    }

    /// The whole table: for every state and event, the state it leads to (`None`: illegal).
    fn expected(from: RunState, e: &Event) -> Option<RunState> {
        let dispatched = matches!(from, Submitting | Running | ClusterUnreachable);
        match e {
            Event::ExecutorOff => (from == Queued).then_some(Queued),
            Event::Dispatched { .. } => (from == Queued).then_some(Submitting),
            Event::Working(_) | Event::JobAnswers(_) => dispatched.then_some(Running),
            Event::LostContact { .. } | Event::JobUnreachable(_) => {
                dispatched.then_some(ClusterUnreachable)
            }
            Event::Finished(_) => dispatched.then_some(Complete),
            Event::Failed(_) => from.is_active().then_some(Failed),
            Event::Stopped { at, .. } => match at {
                StopPoint::BeforeDispatch => (from == Queued).then_some(Cancelled),
                StopPoint::WhileRetrying => (from == ClusterUnreachable).then_some(Cancelled),
                StopPoint::Following { .. } => dispatched.then_some(Cancelled),
            },
        }
    }

    #[test]
    fn every_state_and_event_is_legal_or_refused_as_the_table_says() {
        let mut legal = 0;
        let mut refused = 0;
        for &from in RunState::ALL {
            for e in every_event() {
                let want = expected(from, &e);
                match (step(from, e.clone()), want) {
                    (Ok((to, actions)), Some(w)) => {
                        assert_eq!(to, w, "{from} + {e:?}");
                        // The first action always records the state the run went to.
                        assert!(
                            matches!(actions.first(), Some(Action::Record { state, .. }) if *state == to),
                            "{from} + {e:?}: {actions:?}"
                        );
                        legal += 1;
                    }
                    (Err(err), None) => {
                        assert_eq!(err.from, from);
                        refused += 1;
                    }
                    (got, want) => panic!("{from} + {e:?}: got {got:?}, want {want:?}"),
                }
            }
        }
        // 7 states × 11 events.
        assert_eq!(legal + refused, 77);
        assert_eq!(legal, 26, "legal transitions");
    }

    #[test]
    fn an_ended_run_takes_no_event() {
        for from in [Complete, Failed, Cancelled] {
            for e in every_event() {
                assert!(step(from, e.clone()).is_err(), "{from} + {e:?}");
            }
        }
    }

    #[test]
    fn queued_waits_is_dispatched_or_stopped() {
        let (to, a) = step(Queued, Event::ExecutorOff).expect("legal");
        assert_eq!(to, Queued);
        assert_eq!(
            a,
            [Action::Record {
                state: Queued,
                message: "waiting for the executor (step 1: Start executor)".into()
            }]
        );
        let (to, a) = step(Queued, Event::Dispatched { host: "c1".into() }).expect("legal");
        assert_eq!(to, Submitting);
        assert_eq!(
            a,
            [Action::Record {
                state: Submitting,
                message: "dispatching to c1".into()
            }]
        );
        let (to, a) = step(
            Queued,
            Event::Stopped {
                by: "ana".into(),
                at: StopPoint::BeforeDispatch,
            },
        )
        .expect("legal");
        assert_eq!(to, Cancelled);
        assert_eq!(
            a,
            [Action::Record {
                state: Cancelled,
                message: "stopped by ana before it was dispatched".into()
            }]
        );
        // Work cannot start or finish before the run was dispatched.
        for e in [
            Event::Working("w".into()),
            Event::Finished("f".into()),
            Event::JobAnswers("a".into()),
        ] {
            assert!(step(Queued, e).is_err());
        }
    }

    #[test]
    fn lost_contact_backs_off_then_fails() {
        let (to, a) = step(
            Running,
            Event::LostContact {
                error: "host down".into(),
                attempt: 1,
            },
        )
        .expect("legal");
        assert_eq!(to, ClusterUnreachable);
        assert_eq!(
            a,
            [
                Action::Record {
                    state: ClusterUnreachable,
                    message: "host down — trying again in 4 s (attempt 1); nothing is lost".into()
                },
                Action::RetryAfter(Duration::from_secs(4)),
            ]
        );
        assert_eq!(backoff(1), Duration::from_secs(4));
        assert_eq!(backoff(6), BACKOFF_MAX);
        assert_eq!(backoff(30), BACKOFF_MAX);
        let (to, a) = step(
            ClusterUnreachable,
            Event::LostContact {
                error: "host down".into(),
                attempt: MAX_UNREACHABLE,
            },
        )
        .expect("legal");
        assert_eq!(to, ClusterUnreachable);
        assert_eq!(a.len(), 2);
        let (to, a) = step(
            ClusterUnreachable,
            Event::LostContact {
                error: "host down".into(),
                attempt: MAX_UNREACHABLE + 1,
            },
        )
        .expect("legal");
        assert_eq!(to, Failed);
        assert_eq!(
            a,
            [Action::Record {
                state: Failed,
                message: "host down".into()
            }]
        );
    }

    #[test]
    fn the_job_consumer_moves_between_running_and_unreachable() {
        let (to, _) = step(
            Running,
            Event::JobUnreachable("CLUSTER UNREACHABLE …".into()),
        )
        .expect("legal");
        assert_eq!(to, ClusterUnreachable);
        let (to, a) = step(ClusterUnreachable, Event::JobAnswers("RUNNING".into())).expect("legal");
        assert_eq!(to, Running);
        assert_eq!(
            a,
            [Action::Record {
                state: Running,
                message: "the cluster answers again: RUNNING".into()
            }]
        );
    }

    #[test]
    fn stops_say_where_they_found_the_run() {
        let stop = |from, at| {
            step(
                from,
                Event::Stopped {
                    by: "bo".into(),
                    at,
                },
            )
        };
        let msg = |r: Result<(RunState, Vec<Action>), Illegal>| match r {
            Ok((Cancelled, a)) => match &a[..] {
                [Action::Record { message, .. }] => message.clone(),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        };
        assert_eq!(
            msg(stop(ClusterUnreachable, StopPoint::WhileRetrying)),
            "stopped by bo while the cluster was unreachable"
        );
        assert_eq!(
            msg(stop(
                Running,
                StopPoint::Following {
                    outcome: "; SLURM job 7 cancelled".into()
                }
            )),
            "stopped by bo; SLURM job 7 cancelled"
        );
        // A stop point that does not fit the state is refused.
        assert!(stop(Running, StopPoint::BeforeDispatch).is_err());
        assert!(stop(Running, StopPoint::WhileRetrying).is_err());
        assert!(
            stop(
                Queued,
                StopPoint::Following {
                    outcome: String::new()
                }
            )
            .is_err()
        );
    }

    #[test]
    fn illegal_transitions_name_state_and_event() {
        let e = step(Complete, Event::Working("w".into())).expect_err("illegal");
        assert_eq!(
            e.to_string(),
            "a run that is complete cannot take the event 'working'"
        );
    }
}
