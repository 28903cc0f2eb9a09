//! Task files (TOML): tasks without writing Rust.

use std::path::Path;

use rand::RngCore;

use super::{Task, TaskSpec, Trial};
use crate::error::{Error, Result};

/// A task defined by a task file.
#[derive(Debug, Clone)]
pub struct FileTask {
    name: String,
    path: String,
    text: String,
}

impl FileTask {
    /// Parse the TOML `text` of a task file; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let _ = text;
        Err(Error::Config {
            path: path.to_path_buf(),
            line: None,
            msg: "task files are not supported yet".into(),
        })
    }
}

impl Task for FileTask {
    fn name(&self) -> &str {
        &self.name
    }
    fn n_inputs(&self) -> usize {
        0
    }
    fn n_steps(&self) -> usize {
        0
    }
    fn trial_types(&self) -> Vec<String> {
        Vec::new()
    }
    fn trial_of_kind(&self, _kind: usize, _rng: &mut dyn RngCore) -> Trial {
        unimplemented!()
    }
    fn response_start(&self) -> usize {
        0
    }
    fn is_correct(&self, _kind: usize, _window: &[f64]) -> bool {
        false
    }
    fn spec(&self) -> TaskSpec {
        TaskSpec::File {
            name: self.name.clone(),
            path: self.path.clone(),
            text: self.text.clone(),
        }
    }
}
