//! `--output table|json|yaml`: every result is a JSON value (what the API answered, so
//! `json` and `yaml` carry every field) and, for `table`, a few columns of it.

use std::io::Write as _;

use anyhow::Context as _;
use serde::Serialize;
use serde_json::Value;

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns for people.
    Table,
    /// The API's JSON, pretty-printed.
    Json,
    /// The same as YAML.
    Yaml,
}

/// Columns of a table: header and the field of each item it shows.
pub(crate) type Columns<'a> = &'a [(&'a str, &'a str)];

/// Prints a list of items (`table`: one row per item with `columns`).
pub(crate) fn print_list(
    format: OutputFormat,
    items: &[Value],
    columns: Columns<'_>,
) -> anyhow::Result<()> {
    match format {
        OutputFormat::Table => {
            let headers: Vec<&str> = columns.iter().map(|(h, _)| *h).collect();
            let rows = items
                .iter()
                .map(|item| columns.iter().map(|(_, key)| cell(&item[*key])).collect())
                .collect();
            write_stdout(&render_table(&headers, rows))
        }
        _ => print_value(format, &Value::Array(items.to_vec())),
    }
}

/// Prints one object (`table`: one `FIELD  VALUE` line per field of `columns`).
pub(crate) fn print_object(
    format: OutputFormat,
    object: &Value,
    columns: Columns<'_>,
) -> anyhow::Result<()> {
    match format {
        OutputFormat::Table => {
            let rows = columns
                .iter()
                .map(|(header, key)| vec![(*header).to_string(), cell(&object[*key])])
                .collect();
            write_stdout(&render_table(&[], rows))
        }
        _ => print_value(format, object),
    }
}

/// Prints a value as JSON or YAML (for `table`, as YAML, the most readable of the two).
pub(crate) fn print_value(format: OutputFormat, value: &Value) -> anyhow::Result<()> {
    let text = match format {
        OutputFormat::Json => {
            let mut text = serde_json::to_string_pretty(value).context("failed to encode JSON")?;
            text.push('\n');
            text
        }
        OutputFormat::Yaml | OutputFormat::Table => {
            serde_saphyr::to_string(value).context("failed to encode YAML")?
        }
    };
    write_stdout(&text)
}

/// Any SDK type as the JSON value the API sent.
/// Every item of a cursor-paginated list: `page(cursor)` fetches one page (the first with
/// `None`), as the API's `{"items": [...], "next_cursor": ...}`.
pub(crate) async fn all_pages<F, Fut>(mut page: F) -> anyhow::Result<Vec<Value>>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Value>>,
{
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = page(cursor.take()).await?;
        items.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(next) if !next.is_empty() => cursor = Some(next.to_string()),
            _ => return Ok(items),
        }
    }
}

pub(crate) fn to_value(value: &impl Serialize) -> anyhow::Result<Value> {
    serde_json::to_value(value).context("failed to encode the API's answer")
}

/// A field as a table cell: strings unquoted, `null` or missing as `-`, objects compact.
pub(crate) fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".to_string(),
        Value::String(s) => s.replace('\n', "\\n"),
        Value::Object(map) if map.is_empty() => "-".to_string(),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{k}={}", cell(v)))
            .collect::<Vec<_>>()
            .join(","),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// Left-aligned columns separated by two spaces; a header line when `headers` is not empty.
pub(crate) fn render_table(headers: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut lines: Vec<Vec<String>> = Vec::with_capacity(rows.len() + 1);
    if !headers.is_empty() {
        lines.push(headers.iter().map(|h| (*h).to_string()).collect());
    }
    lines.extend(rows);
    let columns = lines.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            lines
                .iter()
                .filter_map(|l| l.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for line in lines {
        let mut text = String::new();
        for (c, value) in line.iter().enumerate() {
            if c + 1 == line.len() {
                text.push_str(value);
            } else {
                let pad = widths[c] - value.chars().count() + 2;
                text.push_str(value);
                text.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    }
    out
}

pub(crate) fn write_stdout(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        // `fjord cluster list | head -1`: a closed pipe is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("failed to write to stdout"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn tables_align_columns_and_show_missing_as_dash() {
        let text = render_table(
            &["ID", "NAME", "STATE"],
            vec![
                vec!["c1".into(), "orders".into(), "ready".into()],
                vec!["c22".into(), "x".into(), cell(&Value::Null)],
            ],
        );
        assert_eq!(
            text,
            "ID   NAME    STATE\nc1   orders  ready\nc22  x       -\n"
        );
    }

    #[test]
    fn cells_flatten_objects_and_lists() {
        assert_eq!(
            cell(&json!({"retention.ms": "1", "cleanup.policy": "compact"})),
            "cleanup.policy=compact,retention.ms=1"
        );
        assert_eq!(
            cell(&json!(["SCRAM-SHA-256", "SCRAM-SHA-512"])),
            "SCRAM-SHA-256,SCRAM-SHA-512"
        );
        assert_eq!(cell(&json!(3)), "3");
        assert_eq!(cell(&json!({})), "-");
    }
}
