//! Planner-level tests: compound intents, errors, hostile input.
