//! The database: one [`Db`] pool over sqlx's `Any` driver, so the same queries and the same
//! migrations (`api/migrations`) run on SQLite and PostgreSQL.
//!
//! Portable SQL only: TEXT ids (UUID strings), BIGINT unix-millisecond timestamps, 0/1
//! integers for booleans and `$N` placeholders (which sqlx's SQLite driver accepts too; see
//! the tests below).

use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, ConnectOptions as _};

/// The control plane's connection pool.
pub type Db = AnyPool;

/// The migrations of `api/migrations`, embedded in the binary: (version, description, SQL).
///
/// Embedded with `include_str!` rather than `sqlx::migrate!`: the macro needs sqlx's
/// `macros` feature, which builds every driver (bundled SQLite's C code included) a second
/// time for the proc-macro. The checksums are the same as the macro's (SHA-384 of the SQL).
/// Add a line here with each new file.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "control plane",
        include_str!("../migrations/0001_control_plane.sql"),
    ),
    (2, "usage", include_str!("../migrations/0002_usage.sql")),
    (
        3,
        "usage sequences",
        include_str!("../migrations/0003_usage_sequences.sql"),
    ),
    (4, "billing", include_str!("../migrations/0004_billing.sql")),
];

/// [`MIGRATIONS`] as a sqlx migration source.
#[derive(Debug)]
struct Embedded;

impl sqlx::migrate::MigrationSource<'static> for Embedded {
    fn resolve(
        self,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<Vec<Migration>, sqlx::error::BoxDynError>>
                + Send,
        >,
    > {
        Box::pin(async {
            Ok(MIGRATIONS
                .iter()
                .map(|(version, description, sql)| {
                    Migration::new(
                        *version,
                        (*description).into(),
                        MigrationType::Simple,
                        (*sql).into(),
                        false,
                    )
                })
                .collect())
        })
    }
}

/// The migrator of [`MIGRATIONS`].
pub async fn migrator() -> Result<Migrator, DbError> {
    Migrator::new(Embedded).await.map_err(DbError::Migrate)
}

/// Errors opening the database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL could not be parsed or the database could not be reached.
    #[error("failed to connect to the database")]
    Connect(#[source] sqlx::Error),
    /// A migration failed.
    #[error("failed to apply the database migrations")]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

/// Connects to `url` (`sqlite://path?mode=rwc` or `postgres://…`) and applies the migrations.
pub async fn connect(url: &str) -> Result<Db, DbError> {
    sqlx::any::install_default_drivers();
    let sqlite = url.starts_with("sqlite:");
    let options = AnyConnectOptions::from_str(url)
        .map_err(DbError::Connect)?
        .disable_statement_logging();
    let pool = AnyPoolOptions::new()
        // One writer at a time is all SQLite allows anyway; a few readers help.
        .max_connections(if sqlite { 4 } else { 10 })
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                if sqlite {
                    // WAL lets readers run beside the writer; wait instead of failing on a
                    // locked database.
                    sqlx::query("PRAGMA journal_mode = WAL")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA busy_timeout = 10000")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA foreign_keys = ON")
                        .execute(&mut *conn)
                        .await?;
                }
                Ok(())
            })
        })
        .connect_with(options)
        .await
        .map_err(DbError::Connect)?;
    migrator()
        .await?
        .run(&pool)
        .await
        .map_err(DbError::Migrate)?;
    Ok(pool)
}

/// The SQLite URL of `fjord.db` in `data_dir` (created when missing).
pub fn sqlite_url(data_dir: &std::path::Path) -> String {
    format!("sqlite://{}?mode=rwc", data_dir.join("fjord.db").display())
}

/// Now, in unix milliseconds (the timestamps of every table).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `ms` (unix milliseconds) as RFC 3339 UTC, e.g. `2025-01-31T12:00:00.000Z`.
pub fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A new random id (UUID v4 string).
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Whether `error` is a unique-constraint violation (a duplicate name).
pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(e) => {
            e.is_unique_violation()
                // The Any driver does not always keep the kind; both databases name it.
                || e.message().contains("UNIQUE constraint failed")
                || e.message().contains("duplicate key value")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use sqlx::Row;

    use super::*;

    #[tokio::test]
    async fn sqlite_accepts_dollar_placeholders_and_migrations_apply_twice() {
        let dir = tempfile::tempdir().unwrap();
        let url = sqlite_url(dir.path());
        let db = connect(&url).await.unwrap();
        sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)")
            .bind("t1")
            .bind("acme")
            .bind(42_i64)
            .execute(&db)
            .await
            .unwrap();
        // Placeholders out of order bind by number, not by position.
        let row =
            sqlx::query("SELECT name, created_at FROM tenants WHERE created_at = $2 AND id = $1")
                .bind("t1")
                .bind(42_i64)
                .fetch_one(&db)
                .await
                .unwrap();
        assert_eq!(row.get::<String, _>("name"), "acme");
        assert_eq!(row.get::<i64, _>("created_at"), 42);
        db.close().await;
        // A restart applies nothing twice and keeps the data.
        let db = connect(&url).await.unwrap();
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tenants")
            .fetch_one(&db)
            .await
            .unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn timestamps_format_as_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(rfc3339(1_735_689_599_999), "2024-12-31T23:59:59.999Z");
    }

    #[tokio::test]
    async fn duplicate_names_are_recognised_as_unique_violations() {
        let dir = tempfile::tempdir().unwrap();
        let db = connect(&sqlite_url(dir.path())).await.unwrap();
        let insert = |id: &'static str| {
            sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES ($1, 'same', 1)")
                .bind(id)
        };
        insert("a").execute(&db).await.unwrap();
        let e = insert("b").execute(&db).await.unwrap_err();
        assert!(is_unique_violation(&e), "{e:?}");
    }
}
