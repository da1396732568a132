//! Where the hub's fleet state lives: the operator's PostgreSQL, or an embedded one.

use anyhow::Context;
use flotilla_store::Store;
use flotilla_store::embedded::EmbeddedPostgres;

/// The connected store, plus the embedded server when the hub started one itself.
#[derive(Debug)]
pub struct Database {
    pub store: Store,
    embedded: Option<EmbeddedPostgres>,
}

impl Database {
    /// Connects to `url`, or starts a private PostgreSQL when there is none, then migrates.
    pub async fn open(url: Option<&str>) -> anyhow::Result<Self> {
        let (store, embedded) = match url {
            Some(url) => (connect(url).await?, None),
            None => {
                let server = EmbeddedPostgres::start().await.context(
                    "cannot start the embedded PostgreSQL (set DATABASE_URL to use your own)",
                )?;
                let store = connect(server.url()).await?;
                (store, Some(server))
            }
        };
        store
            .migrate()
            .await
            .context("cannot apply database migrations")?;
        Ok(Self { store, embedded })
    }

    /// Says where the data lives, without credentials.
    pub fn describe(&self) -> String {
        match &self.embedded {
            Some(server) => format!(
                "embedded PostgreSQL in {} (removed on exit)",
                server.dir().display()
            ),
            None => "PostgreSQL from DATABASE_URL".to_owned(),
        }
    }

    /// Closes the pool, then stops the embedded server, in that order so no connection
    /// sees the server vanish under it.
    pub async fn close(self) -> anyhow::Result<()> {
        self.store.close().await;
        if let Some(server) = self.embedded {
            server
                .stop()
                .await
                .context("cannot stop the embedded PostgreSQL")?;
        }
        Ok(())
    }
}

async fn connect(url: &str) -> anyhow::Result<Store> {
    Store::connect(url)
        .await
        .context("cannot connect to PostgreSQL")
}
