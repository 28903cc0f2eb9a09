//! Files: MATLAB `.mat` reading and writing, model files, and the one
//! atomic write every output goes through.
//!
//! - [`mat`] — MATLAB level-5 `.mat` reader/writer;
//! - [`model_file`] — rate models ↔ `.mat` files with the reference tools' keys;
//! - [`atomic`] — write a file whole or not at all.

pub mod atomic;
pub mod mat;
pub mod model_file;
pub mod sim_file;

pub use atomic::write_atomic;
