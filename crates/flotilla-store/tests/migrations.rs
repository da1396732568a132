//! The schema applies to an empty database, and applying it again changes nothing.

use flotilla_testkit::postgres::TestDb;

#[tokio::test]
async fn migrations_apply_to_an_empty_database_and_are_idempotent() -> anyhow::Result<()> {
    let db = TestDb::empty().await?;
    let pool = db.store.pool();
    let tables_before: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_one(pool)
    .await?;
    assert_eq!(tables_before, 0);

    db.store.migrate().await?;
    let mut tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables
          WHERE table_schema = 'public' AND table_name NOT LIKE '\\_sqlx%'
          ORDER BY table_name",
    )
    .fetch_all(pool)
    .await?;
    tables.sort();
    assert_eq!(
        tables,
        [
            "clusters",
            "deployer_states",
            "deployers",
            "drift_events",
            "inventory_entries",
            "reconcile_runs"
        ]
    );

    let applied = |pool| async move {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM _sqlx_migrations WHERE success")
            .fetch_one(pool)
            .await
    };
    let first = applied(pool).await?;
    assert_eq!(first, flotilla_store::MIGRATOR.iter().count() as i64);
    db.store.migrate().await?;
    assert_eq!(applied(pool).await?, first);
    db.store.ping().await?;
    Ok(())
}

#[tokio::test]
async fn open_drift_index_is_partial_and_unique() -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    let definition: String =
        sqlx::query_scalar("SELECT indexdef FROM pg_indexes WHERE indexname = 'drift_events_open'")
            .fetch_one(db.store.pool())
            .await?;
    assert!(
        definition.starts_with("CREATE UNIQUE INDEX"),
        "{definition}"
    );
    assert!(
        definition.contains("WHERE (resolved_at IS NULL)"),
        "{definition}"
    );
    Ok(())
}
