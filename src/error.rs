//! The library's error type.

use std::path::PathBuf;

/// Everything that can go wrong in the library. Messages name the file, key
/// or parameter at fault so that the CLI can print them as they are.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A parameter is out of range or malformed; `name` is the flag/field.
    #[error("invalid {name}: {msg}")]
    Param { name: String, msg: String },

    /// Reading or writing a file failed at the OS level.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A `.mat` file is malformed or cannot be parsed.
    #[error("{}: malformed .mat file: {msg}", path.display())]
    MatFormat { path: PathBuf, msg: String },

    /// A model file lacks a key the caller needs.
    #[error("{}: missing key '{key}'", path.display())]
    MissingKey { path: PathBuf, key: String },

    /// A key in a model file has the wrong shape or content.
    #[error("{}: key '{key}': expected {expected}, found {found}", path.display())]
    BadKey {
        path: PathBuf,
        key: String,
        expected: String,
        found: String,
    },

    /// Training diverged (NaN or infinite loss).
    #[error("training diverged at trial {trial}: loss is {loss}")]
    Diverged { trial: usize, loss: f64 },

    /// The user interrupted a long computation (Ctrl-C).
    #[error("interrupted")]
    Interrupted,

    /// A step of the pipeline failed; `source` says why.
    #[error("step '{step}' failed: {source}")]
    Step {
        step: String,
        #[source]
        source: Box<Error>,
    },

    /// Producing a figure failed.
    #[error("plot {}: {msg}", path.display())]
    Plot { path: PathBuf, msg: String },
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
            source,
        }
    }
}
