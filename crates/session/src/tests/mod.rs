//! Unit tests of the session's building blocks; end-to-end tests live in `tests/e2e`.

mod building_blocks;
mod engine_plausibility;
mod engine_tests;
mod journal_tests;
mod logging_tests;
mod plausibility_real_data;
mod rotation_tests;
mod run_files_tests;
