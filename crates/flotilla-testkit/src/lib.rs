pub mod git;
pub mod postgres;
pub mod tools;
