//! Column builders for the set-based statements: a batch of rows goes to PostgreSQL as one
//! array per column, read back with `unnest(…)`. A group of such columns is declared once
//! (`columns!`): its fields are the arrays, named as the SQL names the columns, each with
//! its SQL type. The statement's text asks `Numbering` for each group's `unnest(…)`, which
//! numbers the placeholders in the order the groups come, and the groups are bound in that
//! same order (`Group::bind`), so no statement counts to `$38` by hand and a column cannot
//! be bound in another's place.

use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::Postgres;

pub(super) type PgQuery<'q> = Query<'q, Postgres, PgArguments>;

/// A group of column arrays, one `unnest(…)` of a statement.
pub(super) trait Group<'q> {
    /// Each column's name and SQL type, in the order `bind` binds them.
    const COLUMNS: &'static [(&'static str, &'static str)];

    /// Binds the arrays to the query's next placeholders.
    fn bind(self, query: PgQuery<'q>) -> PgQuery<'q>;

    /// The columns' names, for an alias: `conversation_id, owner, …`.
    fn names() -> String {
        Self::COLUMNS
            .iter()
            .map(|(name, _)| *name)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Numbers a statement's placeholders as its text names them.
#[derive(Debug, Default)]
pub(super) struct Numbering(usize);

impl Numbering {
    /// The next placeholder, cast to `sql_type` (`$3::timestamptz`).
    pub(super) fn next(&mut self, sql_type: &str) -> String {
        self.0 += 1;
        format!("${}::{sql_type}", self.0)
    }

    /// The next placeholders, one array per column of `G` (`$4::bigint[]`, …).
    pub(super) fn arrays<'q, G: Group<'q>>(&mut self) -> Vec<String> {
        G::COLUMNS
            .iter()
            .map(|(_, sql_type)| self.next(&format!("{sql_type}[]")))
            .collect()
    }

    /// `unnest($a::t1[], $b::t2[], …)` over the next placeholders, one per column of `G`.
    pub(super) fn unnest<'q, G: Group<'q>>(&mut self) -> String {
        unnest(&self.arrays::<G>())
    }
}

/// `unnest(…)` of placeholders `Numbering::arrays` gave.
pub(super) fn unnest(arrays: &[String]) -> String {
    format!("unnest({})", arrays.join(", "))
}

/// Declares a group of column arrays: `columns! { struct Steps<'a> { owner: &'a str =>
/// "text", … } }` makes a struct of `Vec`s (`Default`) and its `Group`.
macro_rules! columns {
    (
        $(#[$meta:meta])*
        struct $name:ident<$lt:lifetime> {
            $($(#[$field_meta:meta])* $field:ident: $ty:ty => $sql:literal),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Default)]
        pub(super) struct $name<$lt> {
            $($(#[$field_meta])* pub(super) $field: Vec<$ty>,)*
            _borrows: std::marker::PhantomData<&$lt ()>,
        }

        impl<'q, $lt: 'q> $crate::store::postgres::column_groups::Group<'q> for $name<$lt> {
            const COLUMNS: &'static [(&'static str, &'static str)] =
                &[$((stringify!($field), $sql)),*];

            fn bind(
                self,
                query: $crate::store::postgres::column_groups::PgQuery<'q>,
            ) -> $crate::store::postgres::column_groups::PgQuery<'q> {
                $(let query = query.bind(self.$field);)*
                query
            }
        }
    };
}
pub(super) use columns;

#[cfg(test)]
mod tests {
    use super::*;

    columns! {
        struct Pair<'a> {
            n: i64 => "bigint",
            name: &'a str => "text",
        }
    }

    #[test]
    fn groups_are_numbered_in_the_order_the_text_names_them() {
        let mut p = Numbering::default();
        let first = p.unnest::<Pair>();
        let one = p.next("timestamptz");
        let second = p.unnest::<Pair>();
        assert_eq!(first, "unnest($1::bigint[], $2::text[])");
        assert_eq!(one, "$3::timestamptz");
        assert_eq!(second, "unnest($4::bigint[], $5::text[])");
        assert_eq!(Pair::names(), "n, name");
    }
}
