//! End-to-end tests through the public surface: real HTTP server on port 0, real database,
//! provider doubles (wiremock) on loopback, and the real binary for crash tests.

mod api;
mod api_props;
mod api_reads;
mod api_waplify;
mod audience;
mod crash;
mod delivery;
mod faults;
mod flow_tests;
mod flows;
mod fuzz;
mod helpers;
mod postgres;
mod reminders_and_waits;
mod sandbox;
mod sandbox_page;
mod schedules;
mod script_pool;
mod webhooks;
