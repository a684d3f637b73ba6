//! Printing: tables for people, one JSON object a line for programs, progress on a terminal.
//!
//! `audit`, `exceptions` and `remediate` each end in a [`Report`]: one [`Row`] a key, printed as
//! a table or as JSON lines, and the keys that could not be read; its exit status follows from
//! both.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use comfy_table::presets::NOTHING;
use comfy_table::{ColumnConstraint, Table, Width};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use serde_json::Value;

use crate::args::Output;
use crate::{CliError, Exit};

/// The width the last column of a table (free text: annotations, details, notes) wraps at.
pub(super) const WRAP_WIDTH: u16 = 60;

/// A table without borders: columns as wide as their widest cell and two spaces apart; the last
/// column, free text, wrapped at [`WRAP_WIDTH`] characters. Lines carry no trailing spaces.
pub(super) fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut table = Table::new();
    table
        .load_style(NOTHING)
        .set_header(headers.to_vec())
        .add_rows(rows.to_vec());
    let last = headers.len().saturating_sub(1);
    for column in table.column_iter_mut() {
        if column.index == last {
            column
                .set_padding((0, 0))
                .set_constraint(ColumnConstraint::UpperBoundary(Width::Fixed(WRAP_WIDTH)));
        } else {
            column.set_padding((0, 2));
        }
    }
    let mut out = table.trim_fmt();
    out.push('\n');
    out
}

/// One JSON object a line.
pub(super) fn json_lines(values: &[Value]) -> String {
    values.iter().map(|v| format!("{v}\n")).collect()
}

/// `-` for an absent cell.
pub(super) fn or_dash(value: Option<&str>) -> String {
    value.unwrap_or("-").to_owned()
}

/// Warnings that change no verdict, on stderr.
pub(super) fn warn(warnings: &[String]) {
    for w in warnings {
        eprintln!("warning: {w}");
    }
}

/// One key in a [`Report`]: a line of the table for people, a JSON object (its `Serialize`) for
/// programs.
pub(super) trait Row: Serialize {
    /// The table's column headings.
    const HEADERS: &'static [&'static str];
    /// What the error lines call a key that could not be read: `error: <this>: ...`.
    const NOT_READ: &'static str;
    /// The table cells, in the order of [`Row::HEADERS`].
    fn cells(&self) -> Vec<String>;
    /// Whether someone needs to act on the key: such a row makes the exit status 1.
    fn is_finding(&self) -> bool;
}

/// What a command found: one row a key, and the keys (or Regions) it could not read.
#[derive(Debug)]
pub(super) struct Report<R> {
    pub rows: Vec<R>,
    pub errors: Vec<CliError>,
}

impl<R: Row> Report<R> {
    /// The rows that `is` holds for (the commands match an enum variant).
    pub(super) fn count(&self, is: impl Fn(&R) -> bool) -> usize {
        self.rows.iter().filter(|r| is(r)).count()
    }

    /// The exit status: an error first, then a finding.
    pub(super) fn exit(&self) -> Exit {
        self.exit_with(false)
    }

    /// The exit status, with findings already printed elsewhere (`findings`).
    pub(super) fn exit_with(&self, findings: bool) -> Exit {
        if self
            .errors
            .iter()
            .any(|e| matches!(e, CliError::Interrupted(_)))
        {
            Exit::Interrupted
        } else if !self.errors.is_empty() {
            Exit::Error
        } else if findings || self.rows.iter().any(Row::is_finding) {
            Exit::Findings
        } else {
            Exit::Clean
        }
    }

    /// The rows as a table.
    pub(super) fn table(&self) -> String {
        let rows: Vec<Vec<String>> = self.rows.iter().map(Row::cells).collect();
        table(R::HEADERS, &rows)
    }

    /// Print the report in `output`: a table with the summary after it, or the rows as JSON
    /// lines with the summary on stderr; then every key not read, on stderr.
    pub(super) fn print(&self, output: Output, summary: &str) -> Result<(), CliError> {
        match output {
            Output::Table => {
                print!("{}", self.table());
                println!("\n{summary}");
                self.print_errors();
                Ok(())
            }
            Output::Json => self.print_json(&self.rows, summary),
        }
    }

    /// Print `values` (the rows, or findings made of them) one JSON object a line, the summary
    /// on stderr, then every key not read.
    pub(super) fn print_json<T: Serialize>(
        &self,
        values: &[T],
        summary: &str,
    ) -> Result<(), CliError> {
        let mut out = std::io::stdout().lock();
        for v in values {
            serde_json::to_writer(&mut out, v).map_err(std::io::Error::from)?;
            writeln!(out)?;
        }
        drop(out);
        eprintln!("{summary}");
        self.print_errors();
        Ok(())
    }

    fn print_errors(&self) {
        for e in &self.errors {
            eprintln!("error: {}: {e}", R::NOT_READ);
        }
    }
}

/// The errors of a run, counted for its summary: keys that could not be evaluated, and accounts
/// or account-Regions that could not be read (a role not assumed, a listing that failed or broke
/// off). A Ctrl-C is said apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ErrorCounts {
    pub keys: usize,
    pub places: usize,
}

impl ErrorCounts {
    pub(super) fn of(errors: &[CliError]) -> Self {
        let mut counts = Self { keys: 0, places: 0 };
        for e in errors {
            match e {
                CliError::Interrupted(_) => {}
                CliError::Unreachable { .. } => counts.places += 1,
                CliError::Kms { error, .. } if error.operation == "ListKeys" => counts.places += 1,
                _ => counts.keys += 1,
            }
        }
        counts
    }

    /// `; N account(s) or account-Region(s) not read`, when any.
    pub(super) fn places_note(self) -> String {
        if self.places == 0 {
            String::new()
        } else {
            format!("; {} account(s) or account-Region(s) not read", self.places)
        }
    }
}

/// Progress on stderr, drawn only when stderr is a terminal (pipes, logs and tests see nothing):
/// a bar of `total` when it is known, a spinning counter otherwise. `what` names what is counted.
pub(super) fn progress(total: Option<u64>, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let (bar, template) = match total {
        Some(n) => (
            ProgressBar::new(n),
            format!("{{msg}} [{{bar:30}}] {{pos}}/{{len}} {what}"),
        ),
        None => (
            ProgressBar::new_spinner(),
            format!("{{spinner}} {{pos}} {what} {{msg}}"),
        ),
    };
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    if total.is_none() {
        // A bar moves with its count; a spinner also shows that work goes on between counts.
        bar.enable_steady_tick(Duration::from_millis(120));
    }
    bar
}

/// A line on stderr, above the progress bar when one is drawn.
pub(super) fn say(progress: &ProgressBar, line: &str) {
    if progress.is_hidden() {
        eprintln!("{line}");
    } else {
        progress.println(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_and_leave_the_last_column_ragged() {
        let out = table(
            &["KEY ID", "STATUS", "WHY"],
            &[
                vec!["k1".into(), "COMPLIANT".into(), "on".into()],
                vec!["key-22".into(), "-".into(), "".into()],
            ],
        );
        assert_eq!(
            out,
            "KEY ID  STATUS     WHY\nk1      COMPLIANT  on\nkey-22  -\n"
        );
    }

    #[test]
    fn the_last_column_wraps_under_itself() {
        let long = "word ".repeat(20);
        let out = table(&["KEY ID", "WHY"], &[vec!["k1".into(), long.trim().into()]]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "KEY ID  WHY");
        assert!(lines[1].starts_with("k1      word word"), "{out}");
        assert!(lines[2].starts_with("        word"), "{out}");
        assert!(lines.iter().all(|l| l.chars().count() <= 8 + 60), "{out}");
        assert_eq!(out.matches("word").count(), 20);
    }

    #[derive(Serialize)]
    struct Key {
        finding: bool,
    }

    impl Row for Key {
        const HEADERS: &'static [&'static str] = &["FINDING"];
        const NOT_READ: &'static str = "not read";
        fn cells(&self) -> Vec<String> {
            vec![self.finding.to_string()]
        }
        fn is_finding(&self) -> bool {
            self.finding
        }
    }

    #[test]
    fn an_error_outweighs_a_finding_which_outweighs_nothing() {
        let report = |findings: &[bool], errors: usize| Report {
            rows: findings.iter().map(|&finding| Key { finding }).collect(),
            errors: (0..errors).map(|_| CliError::NoRegion).collect(),
        };
        assert_eq!(report(&[false, false], 0).exit(), Exit::Clean);
        assert_eq!(report(&[false, true], 0).exit(), Exit::Findings);
        assert_eq!(report(&[true], 1).exit(), Exit::Error);
        assert_eq!(report(&[], 1).exit(), Exit::Error);
        assert_eq!(report(&[true, false, true], 0).count(|k| k.finding), 2);
        assert_eq!(report(&[true, false], 0).table(), "FINDING\ntrue\nfalse\n");
    }
}
