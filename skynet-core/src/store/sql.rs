//! [`SqlBuilder`]: a statement assembled at run time (a list of ids, a
//! multi-row `VALUES`, optional filters) with its bound values, for any
//! [`Dialect`]. It does what sqlx's `QueryBuilder` does, but hands the text
//! and the arguments out separately ([`SqlBuilder::into_parts`]), which
//! generic code needs: run them with `sqlx::query_with(&sql, args)`.
//! Parameters are numbered `$1, $2, ...` (SQLite numbers them alike).

use crate::store::dialect::Dialect;
use crate::{Error, Result};
use sqlx::encode::Encode;
use sqlx::{Arguments, Type};
use std::fmt::Write;

/// A statement being assembled, with its arguments.
pub(crate) struct SqlBuilder<'a, D: Dialect> {
    sql: String,
    args: D::Arguments<'a>,
    bound: usize,
    /// The first value that could not be bound.
    error: Option<sqlx::error::BoxDynError>,
}

impl<'a, D: Dialect> SqlBuilder<'a, D> {
    /// Start with `sql`.
    pub(crate) fn new(sql: &str) -> Self {
        SqlBuilder {
            sql: sql.to_string(),
            args: D::Arguments::default(),
            bound: 0,
            error: None,
        }
    }

    /// Append SQL text.
    pub(crate) fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    /// Append a placeholder for `value` and bind it.
    pub(crate) fn push_bind<T>(&mut self, value: T) -> &mut Self
    where
        T: 'a + Encode<'a, D> + Type<D>,
    {
        self.bound += 1;
        // Writing to a String cannot fail.
        let _ = write!(self.sql, "${}", self.bound);
        if let Err(e) = self.args.add(value) {
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
    /// not be bound).
    pub(crate) fn into_parts(self) -> Result<(String, D::Arguments<'a>)> {
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
    pub(crate) fn push_bind<T>(&mut self, value: T) -> &mut Self
    where
        T: 'a + Encode<'a, D> + Type<D>,
    {
        if !self.first {
            self.builder.sql.push_str(", ");
        }
        self.first = false;
        self.builder.push_bind(value);
        self
    }
}
