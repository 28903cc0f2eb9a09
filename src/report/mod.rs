//! Reports: figures (PNG + SVG) and the run report.
//!
//! - [`plot`] — the figure kinds (loss, outputs, rasters, λ curve, taus,
//!   firing rates).

pub mod plot;
