//! A structured log of the requests a cluster served, for tests to assert on
//! ("kubectl sent a server-side apply with field manager `kubectl`", "nothing was written").

use std::collections::VecDeque;
use std::sync::Mutex;

/// One served request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    /// The raw query string (still percent-encoded), empty if none.
    pub query: String,
    pub content_type: Option<String>,
    /// The `fieldManager` query parameter, decoded.
    pub field_manager: Option<String>,
    pub user_agent: Option<String>,
    /// The response status (200 for a watch that started streaming).
    pub status: u16,
}

impl RequestRecord {
    /// Whether this was a watch (`watch=true` or `watch=1` in the query).
    pub fn is_watch(&self) -> bool {
        self.query
            .split('&')
            .any(|p| p == "watch=true" || p == "watch=1")
    }
}

/// A bounded in-memory log; the oldest records go first.
#[derive(Debug)]
pub struct RequestLog {
    records: Mutex<VecDeque<RequestRecord>>,
    limit: usize,
}

impl RequestLog {
    pub fn new(limit: usize) -> Self {
        RequestLog {
            records: Mutex::new(VecDeque::new()),
            limit,
        }
    }

    pub fn push(&self, record: RequestRecord) {
        if self.limit == 0 {
            return;
        }
        let mut r = self.records.lock().unwrap_or_else(|p| p.into_inner());
        if r.len() >= self.limit {
            r.pop_front();
        }
        r.push_back(record);
    }

    /// A copy of the records, oldest first.
    pub fn records(&self) -> Vec<RequestRecord> {
        let r = self.records.lock().unwrap_or_else(|p| p.into_inner());
        r.iter().cloned().collect()
    }

    pub fn clear(&self) {
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}
