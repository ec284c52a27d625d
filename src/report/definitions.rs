//! The SQL definitions in `sql/`: views in `sql/views/`, one report per file in
//! `sql/reports/`, each file one `SELECT` named by its stem, with `${name}` parameters
//! filled from the pipeline's `[reports]` table.
//!
//! A view file whose name starts with `entity_` is a template defined once for every
//! entity: `entity_current.sql` becomes `appointments_current`, `clients_current` and so
//! on, with `${entity}` naming the landing table. Views are put in dependency order (a
//! view that names another comes after it); a cycle or an unknown parameter is an error
//! naming the file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::config::ReportParameters;
use crate::model::sha256_hex;
use crate::source::Entity;

/// Why the definitions could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DefinitionError {
    /// The folder or a file could not be read.
    #[error("failed to read the SQL definitions at {path}: {source}")]
    Read {
        /// The folder or file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file uses a parameter nothing defines.
    #[error("{path}: unknown parameter ${{{name}}} (known: {known})")]
    UnknownParameter {
        /// The file.
        path: PathBuf,
        /// The parameter.
        name: String,
        /// The parameters there are.
        known: String,
    },
    /// Views name each other in a circle.
    #[error("the views {0} depend on each other in a cycle")]
    Cycle(String),
    /// A report was asked for that has no file.
    #[error("no report named {name} (reports: {known})")]
    NoSuchReport {
        /// The name asked for.
        name: String,
        /// The reports there are.
        known: String,
    },
}

/// One view or report, ready to run.
#[derive(Debug, Clone)]
pub struct Definition {
    /// The view or report name.
    pub name: String,
    /// The file it came from.
    pub path: PathBuf,
    /// The `SELECT`, parameters filled in.
    pub sql: String,
    /// Whether a report run computes it once and keeps the result in memory (a line
    /// `-- materialize` in its file), instead of recomputing it in every report.
    pub materialize: bool,
}

/// Every view and report of a folder.
#[derive(Debug, Clone)]
pub struct Definitions {
    /// Views, each after the views it names.
    pub views: Vec<Definition>,
    /// Reports, by name.
    pub reports: Vec<Definition>,
    /// A short hash of every file's text and the parameter values: outputs made from the
    /// same definitions carry the same version.
    pub version: String,
}

/// The values of `${name}` parameters.
#[derive(Debug, Clone)]
pub struct Parameters {
    values: BTreeMap<String, String>,
}

impl Parameters {
    /// The pipeline's report parameters, with `as_of_epoch` (seconds since 1970) for rules
    /// that depend on the time of the run.
    pub fn new(reports: &ReportParameters, as_of: DateTime<Utc>) -> Parameters {
        let mut values = BTreeMap::new();
        values.insert(
            "sla_wait_minutes".into(),
            reports.sla_wait_minutes.to_string(),
        );
        values.insert(
            "late_cancel_hours".into(),
            reports.late_cancel_hours.to_string(),
        );
        values.insert(
            "no_show_grace_minutes".into(),
            reports.no_show_grace_minutes.to_string(),
        );
        // The pipeline checks that statuses are plain words, so quoting cannot break.
        let statuses: Vec<String> = reports
            .abandoned_statuses
            .iter()
            .map(|s| format!("'{s}'"))
            .collect();
        values.insert("abandoned_statuses".into(), statuses.join(", "));
        values.insert(
            "as_of_epoch".into(),
            format!("{:.6}", as_of.timestamp_micros() as f64 / 1e6),
        );
        Parameters { values }
    }

    /// The values that define the outputs (all but the time of the run).
    fn defining(&self) -> impl Iterator<Item = (&String, &String)> {
        self.values
            .iter()
            .filter(|(k, _)| k.as_str() != "as_of_epoch")
    }

    /// Every value, by name, for a manifest.
    pub fn to_map(&self) -> BTreeMap<String, String> {
        self.values.clone()
    }

    /// `text` with every `${name}` replaced; the unknown name on failure.
    fn fill(&self, text: &str, extra: &[(&str, &str)]) -> Result<String, String> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                return Err(after.chars().take(20).collect());
            };
            let name = &after[..end];
            let value = extra
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| *v)
                .or_else(|| self.values.get(name).map(String::as_str))
                .ok_or_else(|| name.to_string())?;
            out.push_str(value);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn known(&self) -> String {
        let mut names: Vec<&str> = self.values.keys().map(String::as_str).collect();
        names.push("entity (in entity_ templates)");
        names.join(", ")
    }
}

impl Definitions {
    /// Reads `dir/views/*.sql` and `dir/reports/*.sql` with their parameters filled.
    pub fn load(dir: &Path, parameters: &Parameters) -> Result<Definitions, DefinitionError> {
        let view_files = sql_files(&dir.join("views"))?;
        let report_files = sql_files(&dir.join("reports"))?;

        let mut hash_input = String::new();
        for (path, text) in view_files.iter().chain(&report_files) {
            hash_input.push_str(&path.display().to_string());
            hash_input.push('\n');
            hash_input.push_str(text);
        }
        for (name, value) in parameters.defining() {
            hash_input.push_str(&format!("{name}={value}\n"));
        }
        let version = sha256_hex(hash_input.as_bytes())[..12].to_string();

        let fill = |path: &Path, text: &str, extra: &[(&str, &str)]| {
            parameters
                .fill(text, extra)
                .map_err(|name| DefinitionError::UnknownParameter {
                    path: path.to_path_buf(),
                    name,
                    known: parameters.known(),
                })
        };
        let mut views = Vec::new();
        for (path, text) in &view_files {
            let stem = stem(path);
            match stem.strip_prefix("entity_") {
                Some(suffix) => {
                    for entity in Entity::ALL {
                        views.push(Definition {
                            name: format!("{}_{suffix}", entity.name()),
                            path: path.clone(),
                            sql: fill(path, text, &[("entity", entity.name())])?,
                            materialize: marked(text),
                        });
                    }
                }
                None => views.push(Definition {
                    name: stem,
                    path: path.clone(),
                    sql: fill(path, text, &[])?,
                    materialize: marked(text),
                }),
            }
        }
        let views = in_dependency_order(views)?;
        let mut reports = Vec::new();
        for (path, text) in &report_files {
            reports.push(Definition {
                name: stem(path),
                path: path.clone(),
                sql: fill(path, text, &[])?,
                materialize: false,
            });
        }
        Ok(Definitions {
            views,
            reports,
            version,
        })
    }

    /// The reports named, in the order given; every report when `names` is empty.
    pub fn select(&self, names: &[String]) -> Result<Vec<&Definition>, DefinitionError> {
        if names.is_empty() {
            return Ok(self.reports.iter().collect());
        }
        names
            .iter()
            .map(|name| {
                self.reports
                    .iter()
                    .find(|r| r.name == *name)
                    .ok_or_else(|| DefinitionError::NoSuchReport {
                        name: name.clone(),
                        known: self.report_names().join(", "),
                    })
            })
            .collect()
    }

    /// The names of the views that the given definitions read, directly or through other
    /// views.
    pub fn views_read_by(&self, readers: &[&Definition]) -> BTreeSet<String> {
        let mut needed = BTreeSet::new();
        let mut texts: Vec<&str> = readers.iter().map(|d| d.sql.as_str()).collect();
        while let Some(sql) = texts.pop() {
            for word in identifiers(sql) {
                if let Some(view) = self.views.iter().find(|v| v.name == word)
                    && needed.insert(view.name.clone())
                {
                    texts.push(&view.sql);
                }
            }
        }
        needed
    }

    /// Every report's name.
    pub fn report_names(&self) -> Vec<&str> {
        self.reports.iter().map(|r| r.name.as_str()).collect()
    }
}

/// Whether a view's file asks to be materialized in report runs.
fn marked(text: &str) -> bool {
    text.lines().any(|l| l.trim() == "-- materialize")
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The `.sql` files of a folder with their text, by name.
fn sql_files(dir: &Path) -> Result<Vec<(PathBuf, String)>, DefinitionError> {
    let read_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DefinitionError::Read { path, source }
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_error(dir))? {
        let path = entry.map_err(read_error(dir))?.path();
        if path.extension().is_some_and(|e| e == "sql") {
            let text = std::fs::read_to_string(&path).map_err(read_error(&path))?;
            files.push((path, text));
        }
    }
    files.sort();
    Ok(files)
}

/// The words of a SQL text, outside `--` comments, that could name a table or view.
fn identifiers(sql: &str) -> BTreeSet<&str> {
    sql.lines()
        .map(|line| line.split("--").next().unwrap_or_default())
        .flat_map(|code| code.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')))
        .filter(|w| !w.is_empty())
        .collect()
}

/// Orders views so that each comes after every view it names.
fn in_dependency_order(views: Vec<Definition>) -> Result<Vec<Definition>, DefinitionError> {
    let names: BTreeSet<String> = views.iter().map(|v| v.name.clone()).collect();
    let mut pending: Vec<(Definition, BTreeSet<String>)> = views
        .into_iter()
        .map(|v| {
            let needs = identifiers(&v.sql)
                .into_iter()
                .filter(|w| *w != v.name && names.contains(*w))
                .map(str::to_string)
                .collect();
            (v, needs)
        })
        .collect();
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut ordered = Vec::new();
    while !pending.is_empty() {
        let (ready, waiting): (Vec<_>, Vec<_>) = pending
            .into_iter()
            .partition(|(_, needs)| needs.is_subset(&done));
        if ready.is_empty() {
            let stuck: Vec<String> = waiting.iter().map(|(v, _)| v.name.clone()).collect();
            return Err(DefinitionError::Cycle(stuck.join(", ")));
        }
        for (view, _) in ready {
            done.insert(view.name.clone());
            ordered.push(view);
        }
        pending = waiting;
    }
    Ok(ordered)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parameters() -> Parameters {
        Parameters::new(&ReportParameters::default(), Utc::now())
    }

    #[test]
    fn parameters_fill_and_unknown_ones_are_named() {
        let p = parameters();
        assert_eq!(
            p.fill(
                "x IN (${abandoned_statuses}) AND w <= ${sla_wait_minutes}",
                &[]
            )
            .unwrap(),
            "x IN ('cancelled', 'removed', 'no_show') AND w <= 15"
        );
        assert_eq!(p.fill("${nope}", &[]).unwrap_err(), "nope");
        assert_eq!(
            p.fill("FROM ${entity}", &[("entity", "clients")]).unwrap(),
            "FROM clients"
        );
    }

    #[test]
    fn the_shipped_definitions_load_in_dependency_order() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("sql");
        let defs = Definitions::load(&dir, &parameters()).unwrap();
        let position = |name: &str| defs.views.iter().position(|v| v.name == name).unwrap();
        assert!(position("appointments_current") < position("appointment_facts"));
        assert!(position("locations_current") < position("appointment_facts"));
        assert!(position("appointment_facts") < position("appointment_answers"));
        assert_eq!(
            defs.views
                .iter()
                .filter(|v| v.name.ends_with("_history"))
                .count(),
            8
        );
        assert!(defs.reports.iter().all(|r| !r.sql.contains("${")));
        let materialized: Vec<&str> = defs
            .views
            .iter()
            .filter(|v| v.materialize)
            .map(|v| v.name.as_str())
            .collect();
        assert_eq!(materialized, ["appointment_facts", "walk_in_facts"]);
        let walk_ins = defs.select(&["walk_in_service".to_string()]).unwrap();
        let read = defs.views_read_by(&walk_ins);
        assert!(read.contains("walk_in_facts") && read.contains("queue_appointments_current"));
        assert!(!read.contains("appointment_facts"), "{read:?}");
        let again = Definitions::load(&dir, &parameters()).unwrap();
        assert_eq!(
            defs.version, again.version,
            "the run time is not part of the version"
        );
        assert!(defs.select(&["nope".into()]).is_err());
    }

    #[test]
    fn a_cycle_is_refused() {
        let view = |name: &str, sql: &str| Definition {
            name: name.into(),
            path: PathBuf::from(format!("{name}.sql")),
            sql: sql.into(),
            materialize: false,
        };
        let error = in_dependency_order(vec![
            view("a", "SELECT * FROM b"),
            view("b", "SELECT * FROM a"),
            view("c", "SELECT 1"),
        ])
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "the views a, b depend on each other in a cycle"
        );
    }
}
