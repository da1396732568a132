pub mod git;
pub mod postgres;
pub mod s3;
pub mod tls;
pub mod tools;
