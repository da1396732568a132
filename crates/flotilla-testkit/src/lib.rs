pub mod git;
pub mod postgres;
pub mod tls;
pub mod tools;
