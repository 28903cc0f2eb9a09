//! How a task is recorded: a built-in by name (with the DMS delay), or a
//! task file's text. Model files keep it as `task` (the name), `task_delay_ms`
//! (DMS) and `task_file` + `task_file_path` (a task file's TOML text and
//! where it was read from), so that `search`, `eval`, `simulate` and `plot`
//! re-create the task the model was trained on.

use std::path::Path;

use super::{builtin_task, FileTask, Task};
use crate::error::{Error, Result};

/// Which task, as a model file or a run configuration records it.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskSpec {
    /// A built-in task.
    Builtin {
        /// `go-nogo`, `xor`, `mante` or `dms`.
        name: String,
        /// DMS only: delay between cue offset and probe onset in ms
        /// (`None`: 750 ms).
        delay_ms: Option<f64>,
    },
    /// A task file ([`super::file`]).
    File {
        /// The task's `name` in the file.
        name: String,
        /// Where it was read from (for messages; the text is what counts).
        path: String,
        /// Its TOML text.
        text: String,
    },
}

impl From<&str> for TaskSpec {
    /// The built-in task of this name with its default parameters.
    fn from(name: &str) -> Self {
        TaskSpec::builtin(name)
    }
}

impl TaskSpec {
    /// The built-in task `name` with its default parameters.
    pub fn builtin(name: &str) -> Self {
        TaskSpec::Builtin {
            name: name.to_string(),
            delay_ms: None,
        }
    }

    /// Read and check a task file; errors name the file (and the line and
    /// key of a bad entry).
    pub fn read_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Ok(FileTask::parse(&text, path)?.spec())
    }

    /// The task's name.
    pub fn name(&self) -> &str {
        match self {
            TaskSpec::Builtin { name, .. } | TaskSpec::File { name, .. } => name,
        }
    }

    /// Whether this is a built-in task.
    pub fn is_builtin(&self) -> bool {
        matches!(self, TaskSpec::Builtin { .. })
    }

    /// The task.
    pub fn build(&self) -> Result<Box<dyn Task>> {
        match self {
            TaskSpec::Builtin { name, delay_ms } => builtin_task(name, *delay_ms),
            TaskSpec::File { path, text, .. } => {
                Ok(Box::new(FileTask::parse(text, Path::new(path))?))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_round_trip_through_their_spec() {
        for name in crate::task::TASK_NAMES {
            let t = TaskSpec::builtin(name).build().unwrap();
            assert_eq!(t.name(), name);
            let again = t.spec().build().unwrap();
            assert_eq!(again.n_steps(), t.n_steps());
        }
        let short = TaskSpec::Builtin {
            name: "dms".into(),
            delay_ms: Some(50.0),
        };
        let t = short.build().unwrap();
        assert_eq!(t.n_steps(), 251);
        assert_eq!(t.spec(), short);
        let e = TaskSpec::Builtin {
            name: "xor".into(),
            delay_ms: Some(50.0),
        }
        .build()
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("delay-ms") && e.contains("xor"), "{e}");
    }
}
