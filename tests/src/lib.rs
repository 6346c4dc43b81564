//! Test kit: start Fjord brokers for end-to-end tests.
