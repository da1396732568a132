pub mod git;
pub mod helm;
pub mod postgres;
pub mod registry;
pub mod s3;
pub mod tls;
pub mod tools;
