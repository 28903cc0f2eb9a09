//! The library's error type.

use std::path::PathBuf;

/// Everything that can go wrong in the library. Messages name the file, key
/// or parameter at fault so that the CLI can print them as they are.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A parameter is out of range or malformed; `name` is the flag/field.
    #[error("invalid {name}: {msg}")]
    Param {
        /// The flag or field, e.g. `p-inh`.
        name: String,
        /// What is wrong with it.
        msg: String,
    },

    /// Reading or writing a file failed at the OS level. (The OS error is
    /// part of the message, not an error `source`, so that printing the
    /// chain — anyhow's `{:#}` — does not repeat it.)
    #[error("{}: {err}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        err: std::io::Error,
    },

    /// A configuration file is malformed or holds a bad value.
    #[error("{}{}: {msg}", path.display(), line.map(|l| format!(", line {l}")).unwrap_or_default())]
    Config {
        /// The TOML file.
        path: PathBuf,
        /// The line at fault (1-based), when known.
        line: Option<usize>,
        /// What is wrong; names the key.
        msg: String,
    },

    /// A `.mat` file is malformed or cannot be parsed.
    #[error("{}: malformed .mat file: {msg}", path.display())]
    MatFormat {
        /// The file.
        path: PathBuf,
        /// What is malformed (names the variable when known).
        msg: String,
    },

    /// A model file lacks a key the caller needs.
    #[error("{}: missing key '{key}'", path.display())]
    MissingKey {
        /// The file.
        path: PathBuf,
        /// The missing variable.
        key: String,
    },

    /// A key in a model file has the wrong shape or content.
    #[error("{}: key '{key}': expected {expected}, found {found}", path.display())]
    BadKey {
        /// The file.
        path: PathBuf,
        /// The variable.
        key: String,
        /// What was expected (e.g. a shape).
        expected: String,
        /// What the file holds.
        found: String,
    },

    /// Training diverged (NaN or infinite loss).
    #[error("training diverged at trial {trial}: loss is {loss}")]
    Diverged {
        /// The training trial (1-based) whose loss was not finite.
        trial: usize,
        /// The loss value.
        loss: f64,
    },

    /// The user interrupted a long computation (Ctrl-C).
    #[error("interrupted")]
    Interrupted,

    /// A step of the pipeline failed; `cause` says why. (The cause is part
    /// of the message, not an error `source`, so that printing the chain
    /// does not repeat it.)
    #[error("step '{step}' failed: {cause}")]
    Step {
        /// The step: train, search, eval, figures or report.
        step: String,
        /// Why it failed.
        cause: Box<Error>,
    },

    /// Producing a figure failed.
    #[error("plot {}: {msg}", path.display())]
    Plot {
        /// The figure file.
        path: PathBuf,
        /// The plotting error.
        msg: String,
    },
}

/// Result alias for the library.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Shorthand for [`Error::Param`].
    pub fn param(name: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Param {
            name: name.into(),
            msg: msg.into(),
        }
    }

    /// Shorthand for [`Error::Io`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            err: source,
        }
    }
}
