//! Integration tests: real servers on temp databases and loopback ports.

mod helpers;
mod smoke;
