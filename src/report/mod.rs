//! Figures and the run report.
//!
//! - [`plot`] — the figure kinds, drawn from plain data (PNG and SVG);
//! - [`figures`] — the figures of a model or a simulation file, one
//!   function each;
//! - [`run_report`] — `report.md` and `report.html` of a run.

pub mod figures;
pub mod plot;
pub mod run_report;
