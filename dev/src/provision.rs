//! Creates the resources of template.yaml on a local endpoint (moto): the table with its key
//! schema, refresh index and TTL, the KMS key with its alias, and the refresh queue with its
//! dead-letter queue.

use anyhow::Context;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;

/// AWS configuration for a local endpoint, with dummy credentials: the configuration the
/// functions build in Lambda (shared::aws), pointed at `endpoint`.
pub async fn local_aws_config(endpoint: &str) -> aws_config::SdkConfig {
    let env = |name: &str| {
        match name {
            "AWS_REGION" => Some("us-east-1"),
            "AWS_ACCESS_KEY_ID" | "AWS_SECRET_ACCESS_KEY" => Some("testing"),
            "AWS_ENDPOINT_URL" => Some(endpoint),
            _ => None,
        }
        .map(str::to_string)
    };
    shared::aws::sdk_config(&env).expect("every variable the configuration needs is given")
}

/// A keys-only GSI named `name`, keyed `{name}PK` / `{name}SK` (template.yaml's sparse indexes).
fn keys_only_index(name: &str) -> anyhow::Result<GlobalSecondaryIndex> {
    let key = |attribute: String, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(attribute)
            .key_type(kind)
            .build()
    };
    Ok(GlobalSecondaryIndex::builder()
        .index_name(name)
        .key_schema(key(format!("{name}PK"), KeyType::Hash)?)
        .key_schema(key(format!("{name}SK"), KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::KeysOnly)
                .build(),
        )
        .build()?)
}

pub struct Provisioned {
    pub table_name: String,
    pub kms_key_id: String,
}

/// The table (as template.yaml's `Table`) and a KMS key with alias `alias/{table}-tokens`.
pub async fn provision(
    aws: &aws_config::SdkConfig,
    table_name: &str,
) -> anyhow::Result<Provisioned> {
    let dynamodb = aws_sdk_dynamodb::Client::new(aws);
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
    };
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
    };
    let exists = dynamodb
        .describe_table()
        .table_name(table_name)
        .send()
        .await
        .is_ok();
    if !exists {
        dynamodb
            .create_table()
            .table_name(table_name)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attribute("PK")?)
            .attribute_definitions(attribute("SK")?)
            .attribute_definitions(attribute("GSI1PK")?)
            .attribute_definitions(attribute("GSI1SK")?)
            .attribute_definitions(attribute("GSI2PK")?)
            .attribute_definitions(attribute("GSI2SK")?)
            .key_schema(key("PK", KeyType::Hash)?)
            .key_schema(key("SK", KeyType::Range)?)
            // template.yaml's GSI1: the sparse, sharded refresh index, keys only.
            .global_secondary_indexes(keys_only_index("GSI1")?)
            // template.yaml's GSI2: the sparse, sharded due-sync index, keys only.
            .global_secondary_indexes(keys_only_index("GSI2")?)
            .send()
            .await
            .context("creating the table")?;
        dynamodb
            .update_time_to_live()
            .table_name(table_name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name("ttl")
                    .enabled(true)
                    .build()?,
            )
            .send()
            .await
            .context("enabling TTL")?;
    }
    let kms = aws_sdk_kms::Client::new(aws);
    let alias = format!("alias/{table_name}-tokens");
    let existing = kms
        .describe_key()
        .key_id(&alias)
        .send()
        .await
        .ok()
        .and_then(|k| k.key_metadata)
        .map(|m| m.arn.unwrap_or(m.key_id));
    let kms_key_id = match existing {
        Some(arn) => arn,
        None => {
            let created = kms
                .create_key()
                .description("token envelopes (local)")
                .send()
                .await
                .context("creating the KMS key")?;
            let metadata = created.key_metadata.context("no key metadata")?;
            kms.create_alias()
                .alias_name(&alias)
                .target_key_id(&metadata.key_id)
                .send()
                .await
                .context("creating the key alias")?;
            metadata.arn.unwrap_or(metadata.key_id)
        }
    };
    Ok(Provisioned {
        table_name: table_name.to_string(),
        kms_key_id,
    })
}

/// A queue and its dead-letter queue.
pub struct QueuePair {
    pub queue_url: String,
    pub dead_letter_url: String,
}

/// The queues of template.yaml, each with its dead-letter queue.
#[derive(Debug, Clone, Copy)]
pub enum QueueKind {
    /// RefreshQueue: the scheduler's fan-out to the refresh worker.
    Refresh,
    /// SyncQueue: sync jobs.
    Sync,
    /// RecoveryQueue: tokens a refresh could not store.
    Recovery,
}

impl QueueKind {
    fn suffix(self) -> &'static str {
        match self {
            Self::Refresh => "refresh",
            Self::Sync => "sync",
            Self::Recovery => "recovery",
        }
    }
}

/// A queue of `kind` and its dead-letter queue, as template.yaml declares them: after
/// `max_receives` deliveries a message moves to the dead-letter queue.
/// `visibility_timeout_secs` is how long a received message stays hidden (minutes in AWS;
/// short locally, so retries happen within a test).
pub async fn provision_queues(
    aws: &aws_config::SdkConfig,
    name: &str,
    kind: QueueKind,
    visibility_timeout_secs: u32,
    max_receives: u32,
) -> anyhow::Result<QueuePair> {
    provision_queue_pair(
        aws,
        &format!("{name}-{}", kind.suffix()),
        visibility_timeout_secs,
        max_receives,
    )
    .await
}

async fn provision_queue_pair(
    aws: &aws_config::SdkConfig,
    name: &str,
    visibility_timeout_secs: u32,
    max_receives: u32,
) -> anyhow::Result<QueuePair> {
    let sqs = aws_sdk_sqs::Client::new(aws);
    let dead_letter_url = sqs
        .create_queue()
        .queue_name(format!("{name}-dlq"))
        .attributes(QueueAttributeName::MessageRetentionPeriod, "1209600")
        .send()
        .await
        .with_context(|| format!("creating {name}-dlq"))?
        .queue_url
        .context("no queue URL")?;
    let dead_letter_arn = sqs
        .get_queue_attributes()
        .queue_url(&dead_letter_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .context("reading the dead-letter queue's ARN")?
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .context("no dead-letter queue ARN")?;
    let redrive = serde_json::json!({
        "deadLetterTargetArn": dead_letter_arn,
        "maxReceiveCount": max_receives.to_string(),
    });
    let queue_url = sqs
        .create_queue()
        .queue_name(name)
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            visibility_timeout_secs.to_string(),
        )
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .send()
        .await
        .with_context(|| format!("creating {name}"))?
        .queue_url
        .context("no queue URL")?;
    Ok(QueuePair {
        queue_url,
        dead_letter_url,
    })
}

/// An EventBridge bus as template.yaml's `EventBus`, with what an application would add: a rule
/// for every lifecycle event (`source` = `shared::publish::SOURCE`) to an SQS queue. Returns the
/// bus name and the queue's URL.
pub async fn provision_event_bus(
    aws: &aws_config::SdkConfig,
    name: &str,
) -> anyhow::Result<(String, String)> {
    let events = aws_sdk_eventbridge::Client::new(aws);
    let sqs = aws_sdk_sqs::Client::new(aws);
    let bus = format!("{name}-events");
    events
        .create_event_bus()
        .name(&bus)
        .send()
        .await
        .with_context(|| format!("creating the event bus {bus}"))?;
    let queue_url = sqs
        .create_queue()
        .queue_name(format!("{name}-app-events"))
        .send()
        .await
        .context("creating the app-events queue")?
        .queue_url
        .context("no queue URL")?;
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await?
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .context("no app-events queue ARN")?;
    let pattern = serde_json::json!({ "source": [shared::publish::SOURCE] });
    events
        .put_rule()
        .name("app-events")
        .event_bus_name(&bus)
        .event_pattern(pattern.to_string())
        .send()
        .await
        .context("creating the app-events rule")?;
    events
        .put_targets()
        .rule("app-events")
        .event_bus_name(&bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("app-events-queue")
                .arn(queue_arn)
                .build()?,
        )
        .send()
        .await
        .context("targeting the app-events queue")?;
    Ok((bus, queue_url))
}

/// Every message on `queue_url` now (the lifecycle events delivered there), each deleted once
/// read: the EventBridge envelopes, parsed.
pub async fn drain_events(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
) -> anyhow::Result<Vec<serde_json::Value>> {
    let mut events = Vec::new();
    loop {
        let received = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .send()
            .await?;
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            return Ok(events);
        }
        for m in messages {
            if let Some(body) = &m.body {
                events.push(serde_json::from_str(body).context("an EventBridge envelope")?);
            }
            if let Some(receipt) = &m.receipt_handle {
                sqs.delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(receipt)
                    .send()
                    .await?;
            }
        }
    }
}
