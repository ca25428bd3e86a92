//! Creates the resources of template.yaml on a local endpoint (moto): the table with its key
//! schema and TTL, and the KMS key with its alias.

use anyhow::Context;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TimeToLiveSpecification,
};

/// AWS configuration for a local endpoint, with dummy credentials.
pub async fn local_aws_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing", "testing", None, None, "local",
        ))
        .load()
        .await
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
            .key_schema(key("PK", KeyType::Hash)?)
            .key_schema(key("SK", KeyType::Range)?)
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
