//! Lambda's SQS event source mapping, locally: long-polls a queue, hands each batch to a handler
//! as the `SqsEvent` Lambda would, and deletes the messages the handler did not report in its
//! partial batch response. The others stay, to be delivered again after the visibility timeout
//! and moved to the dead-letter queue by the redrive policy, as in AWS.

use std::future::Future;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::types::MessageSystemAttributeName;

/// What one poll did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PollOutcome {
    pub received: usize,
    pub failed: usize,
}

/// One receive (up to 10 messages, waiting up to `wait_secs` for the first), one handler call.
pub async fn poll_once<F, Fut>(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    wait_secs: i32,
    handler: F,
) -> anyhow::Result<PollOutcome>
where
    F: FnOnce(SqsEvent) -> Fut,
    Fut: Future<Output = SqsBatchResponse>,
{
    let received = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .wait_time_seconds(wait_secs)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await?;
    let messages = received.messages.unwrap_or_default();
    if messages.is_empty() {
        return Ok(PollOutcome::default());
    }
    let mut event = SqsEvent::default();
    let mut receipts = Vec::new();
    for m in &messages {
        let mut message = SqsMessage::default();
        message.message_id = m.message_id.clone();
        message.receipt_handle = m.receipt_handle.clone();
        message.body = m.body.clone();
        message.md5_of_body = m.md5_of_body.clone();
        message.attributes = m
            .attributes
            .iter()
            .flatten()
            .map(|(k, v)| (k.as_str().to_string(), v.clone()))
            .collect();
        message.event_source = Some("aws:sqs".into());
        event.records.push(message);
        receipts.push((
            m.message_id.clone().unwrap_or_default(),
            m.receipt_handle.clone().unwrap_or_default(),
        ));
    }
    let response = handler(event).await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    for (id, receipt) in &receipts {
        if !failed.contains(&id.as_str()) {
            sqs.delete_message()
                .queue_url(queue_url)
                .receipt_handle(receipt)
                .send()
                .await?;
        }
    }
    Ok(PollOutcome {
        received: receipts.len(),
        failed: failed.len(),
    })
}
