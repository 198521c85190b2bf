//! Live events published on the in-process bus.

use crate::job::{JobId, JobStatus};
use crate::provider::Stream;
use serde::Serialize;

/// Something that just happened to a job in this process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum JobEvent {
    /// The job entered a status.
    Status {
        /// The job.
        job: JobId,
        /// Its new status.
        status: JobStatus,
    },
    /// A step started.
    StepStarted {
        /// The job.
        job: JobId,
        /// Step index.
        step: u32,
        /// Its description.
        description: String,
    },
    /// A step ended.
    StepFinished {
        /// The job.
        job: JobId,
        /// Step index.
        step: u32,
        /// Final step status (`succeeded`, `failed`, ...).
        status: String,
        /// Exit code, if it exited.
        exit_code: Option<i32>,
    },
    /// One line of output (secrets redacted).
    Output {
        /// The job.
        job: JobId,
        /// Step index.
        step: u32,
        /// Stream.
        stream: Stream,
        /// Text.
        text: String,
    },
}

impl JobEvent {
    /// The job this event is about.
    pub fn job(&self) -> &JobId {
        match self {
            JobEvent::Status { job, .. }
            | JobEvent::StepStarted { job, .. }
            | JobEvent::StepFinished { job, .. }
            | JobEvent::Output { job, .. } => job,
        }
    }
}
