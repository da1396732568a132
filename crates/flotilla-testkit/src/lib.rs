pub mod postgres;
pub mod tools;
