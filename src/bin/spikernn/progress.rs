//! The CLI's [`Observer`]: progress on stderr, Ctrl-C as cancellation.
//!
//! On a terminal an indicatif bar is drawn and status lines (accuracy per λ,
//! pipeline steps) are printed above it. indicatif draws nothing when stderr
//! is not a terminal (a cluster job's log, a pipe), and its `println` is then
//! a no-op too; there every status line and every training evaluation is
//! printed as a plain line instead, so a log keeps them. Warnings are always
//! printed; `quiet` silences everything else.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use indicatif::{ProgressBar, ProgressStyle};
use spikernn::observe::{Event, Observer, Stage};

/// Progress bars and lines on stderr; cancelled by Ctrl-C.
pub struct Cli {
    cancel: Arc<AtomicBool>,
    quiet: bool,
    plain: bool,
    bar: Mutex<Option<ProgressBar>>,
}

impl Cli {
    /// An observer that shows progress unless `quiet`, and turns the first
    /// Ctrl-C into a cancellation (a second one exits at once: files are
    /// only ever renamed into place, so nothing is left half-written).
    pub fn new(quiet: bool) -> Self {
        let cancel = Arc::new(AtomicBool::new(false));
        let f = cancel.clone();
        let _ = ctrlc::set_handler(move || {
            if f.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
            eprintln!("\ninterrupted: stopping (nothing is written)…");
        });
        Cli {
            cancel,
            quiet,
            plain: !std::io::stderr().is_terminal(),
            bar: Mutex::new(None),
        }
    }

    /// Progress is silenced (`--quiet` or `--json`).
    pub fn quiet(&self) -> bool {
        self.quiet
    }

    /// A status line: above the bar on a terminal, plain in a log.
    fn line(&self, text: String) {
        if self.quiet {
            return;
        }
        match self.bar.lock().unwrap().as_ref() {
            Some(b) if !self.plain => b.println(text),
            _ => eprintln!("{text}"),
        }
    }

    /// The sweep's one progress line: redrawn in place on a terminal, a
    /// plain line in a log.
    fn jobs_line(&self, text: String) {
        if self.quiet {
            return;
        }
        if self.plain {
            eprintln!("{text}");
        } else {
            eprint!("\r\x1b[2K{text}");
        }
    }

    fn begin(&self, stage: Stage, total: u64) {
        if self.quiet || self.plain {
            return;
        }
        let template = match stage {
            Stage::Training => "train {bar:30} {pos}/{len} trials  {msg}  [{elapsed_precise}]",
            Stage::Search | Stage::Evaluation => {
                "{msg} [{bar:30}] {pos}/{len} trials, {elapsed} (eta {eta})"
            }
        };
        let bar = ProgressBar::new(total);
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        if stage == Stage::Evaluation {
            bar.set_message("evaluating");
        }
        *self.bar.lock().unwrap() = Some(bar);
    }

    fn with_bar(&self, f: impl FnOnce(&ProgressBar)) {
        if let Some(b) = self.bar.lock().unwrap().as_ref() {
            f(b)
        }
    }
}

impl Observer for Cli {
    fn event(&self, e: &Event) {
        match e {
            Event::Begin { stage, total } => self.begin(*stage, *total),
            Event::Total(t) => self.with_bar(|b| b.set_length(*t)),
            Event::Advance(n) => self.with_bar(|b| b.inc(*n)),
            Event::End => {
                if let Some(b) = self.bar.lock().unwrap().take() {
                    b.finish_and_clear();
                }
            }
            Event::Phase(p) => self.with_bar(|b| b.set_message(p.clone())),
            Event::TrainEval { .. } => {
                if self.plain {
                    self.line(e.to_string());
                } else {
                    let t = e.to_string();
                    let msg = t.split_once(": ").map_or(t.clone(), |(_, m)| m.to_string());
                    self.with_bar(|b| b.set_message(msg));
                }
            }
            Event::Jobs { .. } => self.jobs_line(e.to_string()),
            Event::Lambda { .. } | Event::Info(_) => self.line(e.to_string()),
            Event::Warning(_) => match self.bar.lock().unwrap().as_ref() {
                Some(b) if !self.plain => b.println(e.to_string()),
                _ => eprintln!("{e}"),
            },
        }
    }

    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }
}
