//! Progress on stderr for long work (training, λ search, evaluation).
//!
//! On a terminal an indicatif bar is drawn and status lines are printed above
//! it. indicatif draws nothing when stderr is not a terminal (a cluster job's
//! log, a pipe), and `ProgressBar::println` is then a no-op too; [`Progress`]
//! prints those status lines plainly instead, so a log keeps the accuracy per
//! λ and every training evaluation.

use indicatif::{ProgressBar, ProgressStyle};

/// A progress bar plus status lines that survive logs.
pub struct Progress {
    /// The bar (hidden when progress is off or stderr is not a terminal).
    pub bar: ProgressBar,
    /// Status lines go to stderr as plain lines (progress on, no terminal).
    plain: bool,
}

impl Progress {
    /// A bar over `len` items with an indicatif `template`; `show: false`
    /// gives a silent one (no bar, no lines).
    pub fn new(show: bool, len: u64, template: &str) -> Self {
        if !show {
            return Progress {
                bar: ProgressBar::hidden(),
                plain: false,
            };
        }
        let bar = ProgressBar::new(len);
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        let plain = bar.is_hidden();
        Progress { bar, plain }
    }

    /// A status line: above the bar on a terminal, a plain stderr line in a
    /// log, nothing when progress is off.
    pub fn line(&self, text: impl Into<String>) {
        if self.plain {
            eprintln!("{}", text.into());
        } else {
            self.bar.println(text.into());
        }
    }

    /// Whether status lines are printed plainly (progress on, no terminal).
    pub fn is_plain(&self) -> bool {
        self.plain
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silent_progress_prints_nothing_and_is_not_plain() {
        let p = Progress::new(false, 10, "{bar}");
        assert!(p.bar.is_hidden());
        assert!(!p.is_plain());
        p.line("not shown");
    }

    #[test]
    fn without_a_terminal_lines_are_plain() {
        // Test harnesses capture stderr, so it is not a terminal here.
        use std::io::IsTerminal;
        if !std::io::stderr().is_terminal() {
            let p = Progress::new(true, 10, "{bar}");
            assert!(p.bar.is_hidden() && p.is_plain());
        }
    }
}
