//! The thin executor between the generic ledger and sqlx: [`Run`] says,
//! once, what the store needs sqlx to do for a database (bind the ledger's
//! value types, run statements on a connection or a pool), so generic code
//! carries no sqlx bounds: `D: Dialect` is enough. Statements are written
//! with [`query`] (static text), or assembled at run time with
//! [`SqlBuilder`] (a list of ids, a multi-row `VALUES`, optional filters)
//! and run with [`query_with`]. Static text numbers its parameters `$1,
//! $2, ...` (SQLite reads them alike); the builder numbers them too on
//! PostgreSQL and writes `?` on SQLite (see [`Dialect::NUMBERED_BINDS`]).

use crate::store::dialect::Dialect;
use crate::{Error, Result};
use futures::future::BoxFuture;
use sqlx::encode::Encode;
use sqlx::error::BoxDynError;
use sqlx::{Arguments, Database, Executor, IntoArguments, Pool, Type};
use std::fmt::Write;

/// What binding one value returns (an error only for a value the database
/// cannot encode).
pub(crate) type Bound = std::result::Result<(), BoxDynError>;

/// What the store needs sqlx to do for a database, implemented once below
/// for every database that can do it (SQLite and PostgreSQL).
pub trait Run: Database + sqlx::database::HasStatementCache {
    /// The statement arguments (sqlx's own).
    type Args<'q>: Arguments<'q, Database = Self> + IntoArguments<'q, Self>;
    /// A connection as an executor.
    type OnConn<'c>: Executor<'c, Database = Self>
    where
        Self: 'c;
    /// A pool as an executor.
    type OnPool<'p>: Executor<'p, Database = Self>
    where
        Self: 'p;

    /// `conn` as an executor.
    fn on_conn(conn: &mut Self::Connection) -> Self::OnConn<'_>;
    /// `pool` as an executor.
    fn on_pool(pool: &Pool<Self>) -> Self::OnPool<'_>;
    /// Bind an integer.
    fn add_int(args: &mut Self::Args<'_>, v: i64) -> Bound;
    /// Bind a nullable integer.
    fn add_opt_int(args: &mut Self::Args<'_>, v: Option<i64>) -> Bound;
    /// Bind text.
    fn add_str<'q>(args: &mut Self::Args<'q>, v: &'q str) -> Bound;
    /// Bind nullable text.
    fn add_opt_str<'q>(args: &mut Self::Args<'q>, v: Option<&'q str>) -> Bound;
    /// Bind owned text.
    fn add_string(args: &mut Self::Args<'_>, v: String) -> Bound;
    /// Bind owned text or NULL.
    fn add_opt_string(args: &mut Self::Args<'_>, v: Option<String>) -> Bound;
    /// Bind a boolean.
    fn add_bool(args: &mut Self::Args<'_>, v: bool) -> Bound;
}

impl<D: Database + sqlx::database::HasStatementCache> Run for D
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    for<'q> D::Arguments<'q>: IntoArguments<'q, D>,
    for<'q> i64: Encode<'q, D> + Type<D>,
    for<'q> Option<i64>: Encode<'q, D> + Type<D>,
    for<'q> &'q str: Encode<'q, D> + Type<D>,
    for<'q> Option<&'q str>: Encode<'q, D> + Type<D>,
    for<'q> String: Encode<'q, D> + Type<D>,
    for<'q> Option<String>: Encode<'q, D> + Type<D>,
    for<'q> bool: Encode<'q, D> + Type<D>,
{
    type Args<'q> = D::Arguments<'q>;
    type OnConn<'c> = &'c mut D::Connection;
    type OnPool<'p> = &'p Pool<D>;

    fn on_conn(conn: &mut D::Connection) -> &mut D::Connection {
        conn
    }
    fn on_pool(pool: &Pool<D>) -> &Pool<D> {
        pool
    }
    fn add_int(args: &mut D::Arguments<'_>, v: i64) -> Bound {
        args.add(v)
    }
    fn add_opt_int(args: &mut D::Arguments<'_>, v: Option<i64>) -> Bound {
        args.add(v)
    }
    fn add_str<'q>(args: &mut D::Arguments<'q>, v: &'q str) -> Bound {
        args.add(v)
    }
    fn add_opt_str<'q>(args: &mut D::Arguments<'q>, v: Option<&'q str>) -> Bound {
        args.add(v)
    }
    fn add_string(args: &mut D::Arguments<'_>, v: String) -> Bound {
        args.add(v)
    }
    fn add_opt_string(args: &mut D::Arguments<'_>, v: Option<String>) -> Bound {
        args.add(v)
    }
    fn add_bool(args: &mut D::Arguments<'_>, v: bool) -> Bound {
        args.add(v)
    }
}

/// A value the ledger binds.
pub(crate) trait Value<'q> {
    /// Bind it to `args`.
    fn add_to<D: Run>(self, args: &mut D::Args<'q>) -> Bound;
}

impl<'q> Value<'q> for i64 {
    fn add_to<D: Run>(self, args: &mut D::Args<'q>) -> Bound {
        D::add_int(args, self)
    }
}

impl<'q> Value<'q> for Option<i64> {
    fn add_to<D: Run>(self, args: &mut D::Args<'q>) -> Bound {
        D::add_opt_int(args, self)
    }
}

impl<'q> Value<'q> for &'q str {
    fn add_to<D: Run>(self, args: &mut D::Args<'q>) -> Bound {
        D::add_str(args, self)
    }
}

impl<'q> Value<'q> for &'q String {
    fn add_to<D: Run>(self, args: &mut D::Args<'q>) -> Bound {
        D::add_str(args, self)
    }
}

impl<'q> Value<'q> for Option<&'q str> {
    fn add_to<D: Run>(self, args: &mut D::Args<'q>) -> Bound {
        D::add_opt_str(args, self)
    }
}

impl<'q> Value<'q> for String {
    fn add_to<D: Run>(self, args: &mut D::Args<'q>) -> Bound {
        D::add_string(args, self)
    }
}

impl<'q> Value<'q> for Option<String> {
    fn add_to<D: Run>(self, args: &mut D::Args<'q>) -> Bound {
        D::add_opt_string(args, self)
    }
}

impl<'q> Value<'q> for bool {
    fn add_to<D: Run>(self, args: &mut D::Args<'q>) -> Bound {
        D::add_bool(args, self)
    }
}

/// Where a statement runs: a connection (a transaction's) or a pool.
pub(crate) trait On<'e, D: Run> {
    /// The executor.
    type Ex: Executor<'e, Database = D>;
    /// It.
    fn ex(self) -> Self::Ex;
}

impl<'e, D: Run> On<'e, D> for &'e mut D::Connection {
    type Ex = D::OnConn<'e>;
    fn ex(self) -> D::OnConn<'e> {
        D::on_conn(self)
    }
}

impl<'e, D: Run> On<'e, D> for &'e Pool<D> {
    type Ex = D::OnPool<'e>;
    fn ex(self) -> D::OnPool<'e> {
        D::on_pool(self)
    }
}

/// A statement with static text (see [`query`]).
pub(crate) struct Stmt<'q, D: Run> {
    sql: &'q str,
    args: D::Args<'q>,
    /// The first value that could not be bound.
    error: Option<BoxDynError>,
    /// Whether the connection keeps the statement prepared (see
    /// [`Stmt::planned_per_call`]).
    persistent: bool,
}

/// A statement with the text `sql`; bind its `$n` in order with
/// [`Stmt::bind`].
pub(crate) fn query<D: Run>(sql: &str) -> Stmt<'_, D> {
    query_with(sql, D::Args::default())
}

/// A statement with the text and arguments of a [`SqlBuilder`].
pub(crate) fn query_with<'q, D: Run>(sql: &'q str, args: D::Args<'q>) -> Stmt<'q, D> {
    Stmt {
        sql,
        args,
        error: None,
        persistent: true,
    }
}

impl<'q, D: Run> Stmt<'q, D> {
    /// Bind the next parameter.
    pub(crate) fn bind(mut self, value: impl Value<'q>) -> Self {
        if let Err(e) = value.add_to::<D>(&mut self.args) {
            self.error.get_or_insert(e);
        }
        self
    }

    /// Bind the next parameter, of a type only this backend binds (`D`
    /// concrete: PostgreSQL's arrays).
    #[cfg(feature = "postgres")]
    pub(crate) fn bind_raw<T: 'q + sqlx::Encode<'q, D> + sqlx::Type<D>>(
        mut self,
        value: T,
    ) -> Self {
        if let Err(e) = self.args.add(value) {
            self.error.get_or_insert(e);
        }
        self
    }

    /// Planned for its values at each call, not kept prepared: a kept
    /// PostgreSQL statement may switch to one generic plan, which cannot
    /// tell a word every row holds (read the table until `LIMIT` rows
    /// match) from a rare one (read the index).
    pub(crate) fn planned_per_call(mut self) -> Self {
        self.persistent = false;
        self
    }

    fn query(self) -> sqlx::Result<sqlx::query::Query<'q, D, D::Args<'q>>> {
        match self.error {
            Some(e) => Err(sqlx::Error::Encode(e)),
            None => Ok(sqlx::query_with(self.sql, self.args).persistent(self.persistent)),
        }
    }

    /// Every row.
    pub(crate) fn fetch_all<'e>(
        self,
        on: impl On<'e, D>,
    ) -> BoxFuture<'e, sqlx::Result<Vec<D::Row>>>
    where
        'q: 'e,
    {
        match self.query() {
            Ok(q) => on.ex().fetch_all(q),
            Err(e) => Box::pin(async move { Err(e) }),
        }
    }

    /// The first row, if any.
    pub(crate) fn fetch_optional<'e>(
        self,
        on: impl On<'e, D>,
    ) -> BoxFuture<'e, sqlx::Result<Option<D::Row>>>
    where
        'q: 'e,
    {
        match self.query() {
            Ok(q) => on.ex().fetch_optional(q),
            Err(e) => Box::pin(async move { Err(e) }),
        }
    }

    /// The one row.
    pub(crate) fn fetch_one<'e>(self, on: impl On<'e, D>) -> BoxFuture<'e, sqlx::Result<D::Row>>
    where
        'q: 'e,
    {
        match self.query() {
            Ok(q) => on.ex().fetch_one(q),
            Err(e) => Box::pin(async move { Err(e) }),
        }
    }

    /// Run it for its effect.
    pub(crate) fn execute<'e>(
        self,
        on: impl On<'e, D>,
    ) -> BoxFuture<'e, sqlx::Result<D::QueryResult>>
    where
        'q: 'e,
    {
        match self.query() {
            Ok(q) => on.ex().execute(q),
            Err(e) => Box::pin(async move { Err(e) }),
        }
    }
}

/// Text given to a [`SqlBuilder`] must not carry a numbered placeholder
/// (`$1`): the builder numbers its own binds, and on SQLite writes them as
/// `?`, which SQLite would number after the largest `$N` seen, silently
/// binding values to the wrong places.
fn debug_assert_no_placeholder(sql: &str) {
    debug_assert!(
        !sql.as_bytes()
            .windows(2)
            .any(|w| w[0] == b'$' && w[1].is_ascii_digit()),
        "SqlBuilder text with a numbered placeholder: {sql}"
    );
}

/// A statement assembled at run time, with its arguments.
pub(crate) struct SqlBuilder<'a, D: Dialect> {
    sql: String,
    args: D::Args<'a>,
    bound: usize,
    /// The first value that could not be bound.
    error: Option<BoxDynError>,
}

impl<'a, D: Dialect> SqlBuilder<'a, D> {
    /// Start with `sql`.
    pub(crate) fn new(sql: &str) -> Self {
        debug_assert_no_placeholder(sql);
        SqlBuilder {
            sql: sql.to_string(),
            args: D::Args::default(),
            bound: 0,
            error: None,
        }
    }

    /// Append SQL text.
    pub(crate) fn push(&mut self, sql: &str) -> &mut Self {
        debug_assert_no_placeholder(sql);
        self.sql.push_str(sql);
        self
    }

    /// Append a placeholder for `value` and bind it.
    pub(crate) fn push_bind(&mut self, value: impl Value<'a>) -> &mut Self {
        self.bound += 1;
        if D::NUMBERED_BINDS {
            // Writing to a String cannot fail.
            let _ = write!(self.sql, "${}", self.bound);
        } else {
            self.sql.push('?');
        }
        if let Err(e) = value.add_to::<D>(&mut self.args) {
            self.error.get_or_insert(e);
        }
        self
    }

    /// Append `items` separated by `", "`, each written by `write`.
    pub(crate) fn push_list<I>(&mut self, items: I, mut write: impl FnMut(&mut Self, I::Item))
    where
        I: IntoIterator,
    {
        for (i, item) in items.into_iter().enumerate() {
            if i > 0 {
                self.sql.push_str(", ");
            }
            write(self, item);
        }
    }

    /// Append `(?, ?, ...)`: one placeholder per item, each bound (the
    /// list of an `IN`).
    pub(crate) fn push_in<I>(&mut self, items: I) -> &mut Self
    where
        I: IntoIterator,
        I::Item: Value<'a>,
    {
        self.sql.push('(');
        self.push_list(items, |b, value| {
            b.push_bind(value);
        });
        self.sql.push(')');
        self
    }

    /// Append `VALUES (...), (...)`: one parenthesized row per item, its
    /// values bound by `bind`.
    pub(crate) fn push_values<I>(
        &mut self,
        rows: I,
        mut bind: impl FnMut(&mut Row<'_, 'a, D>, I::Item),
    ) where
        I: IntoIterator,
    {
        self.sql.push_str("VALUES ");
        self.push_list(rows, |b, item| {
            b.sql.push('(');
            let mut row = Row {
                builder: b,
                first: true,
            };
            bind(&mut row, item);
            b.sql.push(')');
        });
    }

    /// The statement's text and its arguments (an error if a value could
    /// not be bound), for [`query_with`].
    pub(crate) fn into_parts(self) -> Result<(String, D::Args<'a>)> {
        match self.error {
            Some(e) => Err(Error::Store(format!("binding a value: {e}"))),
            None => Ok((self.sql, self.args)),
        }
    }
}

/// One row of [`SqlBuilder::push_values`].
pub(crate) struct Row<'b, 'a, D: Dialect> {
    builder: &'b mut SqlBuilder<'a, D>,
    first: bool,
}

impl<'a, D: Dialect> Row<'_, 'a, D> {
    /// Bind the row's next value.
    pub(crate) fn push_bind(&mut self, value: impl Value<'a>) -> &mut Self {
        if !self.first {
            self.builder.sql.push_str(", ");
        }
        self.first = false;
        self.builder.push_bind(value);
        self
    }
}

#[cfg(all(test, feature = "sqlite", debug_assertions))]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "numbered placeholder")]
    fn builder_text_with_a_numbered_placeholder_is_refused() {
        let mut qb = SqlBuilder::<sqlx::Sqlite>::new("SELECT id FROM jobs WHERE id = ");
        qb.push("$1");
    }

    #[test]
    fn sqlite_binds_are_anonymous() {
        let mut qb = SqlBuilder::<sqlx::Sqlite>::new("SELECT id FROM jobs WHERE id IN (");
        qb.push_bind("a").push(", ").push_bind("b").push(")");
        let (sql, _) = qb.into_parts().unwrap();
        assert_eq!(sql, "SELECT id FROM jobs WHERE id IN (?, ?)");
    }
}
