//! The layers every setting is read from: built-in defaults, then the
//! file's value, then the environment's. Each section resolves its own
//! keys through [`Layers::pick`].

/// The environment a load reads (the process environment, or a map in
/// tests) over the file's values.
pub(crate) struct Layers<'a> {
    env: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> Layers<'a> {
    /// Layers over this environment.
    pub(crate) fn new(env: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Layers { env }
    }

    /// The environment itself, for sections that read it directly.
    pub(crate) fn env(&self) -> &'a dyn Fn(&str) -> Option<String> {
        self.env
    }

    /// The environment variable `key`, if set.
    pub(crate) fn var(&self, key: &str) -> Option<String> {
        (self.env)(key)
    }

    /// The environment variable `key` if set, else the file's value (as
    /// text, parsed by the caller like the variable would be).
    pub(crate) fn pick<T: ToString>(&self, key: &str, file: Option<T>) -> Option<String> {
        self.var(key).or_else(|| file.map(|v| v.to_string()))
    }

    /// The same as a closure, for sections that take one.
    pub(crate) fn picker(&self) -> impl Fn(&str, Option<String>) -> Option<String> + '_ {
        |key, file| self.pick(key, file)
    }
}
