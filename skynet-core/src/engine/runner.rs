//! Running one claimed job, step by step.
