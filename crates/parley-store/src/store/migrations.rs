//! The SQL migrations of each backend, compiled into the binary by `build.rs` from
//! `migrations/<backend>/<version>_<description>.sql`, and run by sqlx's migrator at start
//! (on PostgreSQL under an advisory lock, so processes starting together migrate once).

use futures::future::BoxFuture;
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use std::borrow::Cow;

/// `(version, description, sql)` of each migration, in version order.
type List = &'static [(i64, &'static str, &'static str)];

pub(super) const SQLITE: List = include!(concat!(env!("OUT_DIR"), "/migrations_sqlite.rs"));
pub(super) const POSTGRES: List = include!(concat!(env!("OUT_DIR"), "/migrations_postgres.rs"));

/// A migration list as sqlx's migration source. The checksum is the SQL's, as with sqlx's
/// own `migrate!`, so databases migrated by earlier versions are recognised.
#[derive(Debug)]
struct Embedded(List);

impl MigrationSource<'static> for Embedded {
    fn resolve(self) -> BoxFuture<'static, Result<Vec<Migration>, BoxDynError>> {
        Box::pin(async move {
            Ok(self
                .0
                .iter()
                .map(|(version, description, sql)| {
                    Migration::new(
                        *version,
                        Cow::Borrowed(*description),
                        MigrationType::Simple,
                        Cow::Borrowed(*sql),
                        sql.starts_with("-- no-transaction"),
                    )
                })
                .collect())
        })
    }
}

/// The migrator for one backend's list.
pub(super) async fn migrator(list: List) -> Result<Migrator, sqlx::migrate::MigrateError> {
    Migrator::new(Embedded(list)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The list matches the folder: every file, in order, with the same text.
    #[tokio::test]
    async fn embedded_migrations_are_the_files() {
        for (list, dir) in [(SQLITE, "sqlite"), (POSTGRES, "postgres")] {
            let from_files = Migrator::new(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("migrations")
                    .join(dir),
            )
            .await
            .expect("read the migration files");
            let embedded = migrator(list).await.expect("embedded migrations");
            let key = |m: &Migration| (m.version, m.description.to_string(), m.checksum.to_vec());
            assert_eq!(
                embedded.iter().map(key).collect::<Vec<_>>(),
                from_files.iter().map(key).collect::<Vec<_>>(),
                "{dir}"
            );
            assert!(!list.is_empty());
        }
    }
}
