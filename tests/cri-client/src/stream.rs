//! The CRI streaming server's side of Exec and Attach: the URL the CRI call
//! returned, opened as a websocket with Kubernetes' channel protocol (the
//! protocol kubectl and the API server speak to it): every binary message
//! starts with its channel, 0 stdin, 1 stdout, 2 stderr, 3 the status (a
//! JSON metav1.Status in v4) and 4 terminal resizes.

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::Message;

pub struct Session {
    /// Written on stdin once connected (no EOF: v4 cannot half-close).
    pub stdin: Option<String>,
    /// Stop once stdout holds this, instead of waiting for the server to
    /// close the stream (an attach lasts as long as its container).
    pub until: Option<String>,
    pub limit: Duration,
}

/// Runs one streaming session; its output, status and the subprotocol the
/// server chose, as JSON.
pub async fn run(url: &str, s: Session) -> Result<Value, String> {
    let ws_url = url
        .strip_prefix("http://")
        .map(|rest| format!("ws://{rest}"))
        .ok_or_else(|| format!("streaming URL {url:?} is not http://"))?;
    let mut req = ws_url
        .as_str()
        .into_client_request()
        .map_err(|e| format!("{ws_url}: {e}"))?;
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("v4.channel.k8s.io, channel.k8s.io"),
    );
    let (mut ws, resp) = tokio::time::timeout(s.limit, tokio_tungstenite::connect_async(req))
        .await
        .map_err(|_| format!("{ws_url}: no websocket within {:?}", s.limit))?
        .map_err(|e| format!("{ws_url}: {e}"))?;
    let protocol = resp
        .headers()
        .get("Sec-WebSocket-Protocol")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if let Some(input) = &s.stdin {
        let mut msg = vec![0u8];
        msg.extend_from_slice(input.as_bytes());
        ws.send(Message::Binary(msg.into()))
            .await
            .map_err(|e| format!("stdin: {e}"))?;
    }
    let (mut out, mut err, mut status) = (Vec::new(), Vec::new(), Vec::new());
    let mut closed = false;
    let mut timed_out = false;
    let deadline = tokio::time::Instant::now() + s.limit;
    loop {
        if let Some(u) = &s.until
            && String::from_utf8_lossy(&out).contains(u.as_str())
        {
            break;
        }
        let next = tokio::time::timeout_at(deadline, ws.next()).await;
        let msg = match next {
            Err(_) => {
                timed_out = true;
                break;
            }
            Ok(None) => {
                closed = true;
                break;
            }
            Ok(Some(m)) => m.map_err(|e| format!("{ws_url}: {e}"))?,
        };
        let data = match msg {
            Message::Binary(b) => b.to_vec(),
            Message::Text(t) => t.as_bytes().to_vec(),
            Message::Close(_) => {
                closed = true;
                break;
            }
            _ => continue,
        };
        // The server opens every channel with an empty message.
        let Some((&ch, rest)) = data.split_first() else {
            continue;
        };
        match ch {
            1 => out.extend_from_slice(rest),
            2 => err.extend_from_slice(rest),
            3 => status.extend_from_slice(rest),
            _ => {}
        }
    }
    if !closed {
        let _ = ws.close(None).await;
    }
    let status: Value = if status.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&status)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&status).into_owned()))
    };
    Ok(json!({
        "protocol": protocol,
        "stdout": String::from_utf8_lossy(&out),
        "stderr": String::from_utf8_lossy(&err),
        "status": status,
        "closed_by_server": closed,
        "timed_out": timed_out,
    }))
}
