//! Helpers shared by the examples.
#![allow(dead_code)]
pub mod tf_json;
