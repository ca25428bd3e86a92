//! The moto the tests, `make dev` and `make soak` run (dev/moto_server.py) never loses an
//! acknowledged DynamoDB write, as DynamoDB never does. moto's own threaded server does: a
//! failed TransactWriteItems puts back a copy of the table taken when it began, undoing every
//! write that landed meanwhile. The refresh protocol fails such transactions routinely (a
//! refresh that lost its lease), beside token hand-outs and audit entries.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use aws_sdk_dynamodb::types::AttributeValue::{L, S};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, ConditionCheck, KeySchemaElement, KeyType, Put,
    ScalarAttributeType, TransactWriteItem,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_acknowledged_write_is_lost_beside_failing_transactions() {
    // A moto of its own: the failing transactions below would hold up every other test's calls.
    let (_moto, url) = devstack::process::start_moto(devstack::free_port().unwrap())
        .await
        .unwrap();
    let aws = devstack::provision::local_aws_config(&url).await;
    let dynamo = aws_sdk_dynamodb::Client::new(&aws);
    dynamo
        .create_table()
        .table_name("t")
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("PK")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("PK")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    for i in 0..20 {
        dynamo
            .put_item()
            .table_name("t")
            .item("PK", S(format!("seed-{i}")))
            .send()
            .await
            .unwrap();
    }
    let done = Arc::new(AtomicBool::new(false));
    let failing: Vec<_> = (0..2)
        .map(|_| {
            let (dynamo, done) = (dynamo.clone(), done.clone());
            tokio::spawn(async move {
                // A large item first keeps moto busy between its copy of the table and the
                // failing check, the window in which another write gets undone.
                let large = L((0..3000).map(|_| S("x".repeat(10))).collect());
                let put = Put::builder()
                    .table_name("t")
                    .item("PK", S("large".into()))
                    .item("list", large)
                    .build()
                    .unwrap();
                let check = ConditionCheck::builder()
                    .table_name("t")
                    .key("PK", S("absent".into()))
                    .condition_expression("attribute_exists(PK)")
                    .build()
                    .unwrap();
                let items = vec![
                    TransactWriteItem::builder().put(put).build(),
                    TransactWriteItem::builder().condition_check(check).build(),
                ];
                while !done.load(Ordering::Relaxed) {
                    let refused = dynamo
                        .transact_write_items()
                        .set_transact_items(Some(items.clone()))
                        .send()
                        .await;
                    assert!(refused.is_err(), "the condition cannot hold");
                }
            })
        })
        .collect();
    const WRITES: usize = 100;
    for i in 0..WRITES {
        dynamo
            .put_item()
            .table_name("t")
            .item("PK", S(format!("write-{i}")))
            .send()
            .await
            .unwrap();
    }
    done.store(true, Ordering::Relaxed);
    for task in failing {
        task.await.unwrap();
    }
    let mut stored = 0;
    let mut pages = dynamo.scan().table_name("t").into_paginator().send();
    while let Some(page) = pages.next().await {
        stored += page
            .unwrap()
            .items()
            .iter()
            .filter(|item| matches!(item.get("PK"), Some(S(pk)) if pk.starts_with("write-")))
            .count();
    }
    assert_eq!(stored, WRITES, "acknowledged writes lost");
}
