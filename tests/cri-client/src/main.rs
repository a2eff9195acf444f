//! berth-cri-client: a crictl-like client of a CRI runtime service (here
//! containerd's CRI plugin), made for tests/clients: one call per run, the
//! request from flags and small JSON shapes (src/spec.rs), the response as
//! JSON on stdout, an error on stderr with exit status 1. Exec and Attach go
//! on to the streaming server (src/stream.rs).
//!
//! It is its own crate of the workspace so that tokio and tonic are never
//! built into berth nor unify features with its dependencies.

mod spec;
mod stream;

use hyper_util::rt::TokioIo;
use k8s_cri::v1 as cri;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use serde::Serialize;
use serde_json::{Value, json};
use std::time::Duration;
use tonic::transport::{Channel, Endpoint, Uri};

const USAGE: &str = "usage: berth-cri-client --socket PATH [--timeout SECS] COMMAND ARGS
  version | pods | ps | images
  runp POD_JSON                       (prints {\"id\"})
  create POD_ID POD_JSON CONTAINER_JSON  (prints {\"id\"})
  start|rm|inspect|stats ID   stop ID TIMEOUT_SECS
  stopp|rmp|inspectp POD_ID
  update ID RESOURCES_JSON
  exec-sync ID TIMEOUT_SECS CMD...    (prints {stdout, stderr, exit_code})
  exec [--stdin TEXT] [--tty] ID CMD...          (through the streaming server)
  attach [--stdin TEXT] [--until TEXT] ID        (likewise)";

struct Opts {
    socket: String,
    /// Bounds every call, and a streaming session.
    timeout: Duration,
    cmd: Vec<String>,
}

fn main() {
    let opts = match parse_args(std::env::args().skip(1).collect()) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("berth-cri-client: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match rt.block_on(run(&opts)) {
        Ok(v) => println!("{v}"),
        Err(e) => {
            eprintln!("berth-cri-client {}: {e}", opts.cmd.join(" "));
            std::process::exit(1);
        }
    }
}

fn parse_args(mut args: Vec<String>) -> Result<Opts, String> {
    let mut socket = None;
    let mut timeout = Duration::from_secs(60);
    while let Some(a) = args.first().cloned() {
        match a.as_str() {
            "--socket" if args.len() > 1 => socket = Some(args[1].clone()),
            "--timeout" if args.len() > 1 => {
                let s: u64 = args[1].parse().map_err(|_| "--timeout: seconds")?;
                timeout = Duration::from_secs(s);
            }
            _ => break,
        }
        args.drain(..2);
    }
    let socket = socket.ok_or("--socket is required")?;
    if args.is_empty() {
        return Err("no command".into());
    }
    Ok(Opts {
        socket,
        timeout,
        cmd: args,
    })
}

async fn connect(o: &Opts) -> Result<Channel, String> {
    let path = o.socket.clone();
    // The URI is not used: every connection is the unix socket.
    Endpoint::from_static("http://localhost")
        .timeout(o.timeout)
        .connect_timeout(o.timeout)
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move {
                let s = tokio::net::UnixStream::connect(path).await?;
                Ok::<_, std::io::Error>(TokioIo::new(s))
            }
        }))
        .await
        .map_err(|e| format!("{}: {e}", o.socket))
}

fn to_json<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).expect("a CRI message as JSON")
}

fn status(e: tonic::Status) -> String {
    format!("{:?}: {}", e.code(), e.message())
}

/// The arguments after the command, exactly `n` of them.
fn args(cmd: &[String], n: usize) -> Result<&[String], String> {
    if cmd.len() != n + 1 {
        return Err(format!("{} takes {n} arguments", cmd[0]));
    }
    Ok(&cmd[1..])
}

type Runtime = RuntimeServiceClient<Channel>;

async fn run(o: &Opts) -> Result<Value, String> {
    let ch = connect(o).await?;
    let mut rs = RuntimeServiceClient::new(ch.clone());
    let c = &o.cmd;
    match c[0].as_str() {
        "version" | "pods" | "ps" | "images" => {
            listing(&mut rs, ImageServiceClient::new(ch), c).await
        }
        "runp" | "stopp" | "rmp" | "inspectp" => pod(&mut rs, c).await,
        "create" | "start" | "stop" | "rm" | "inspect" | "stats" | "update" => {
            container(&mut rs, c).await
        }
        "exec-sync" => exec_sync(&mut rs, c).await,
        "exec" | "attach" => streaming(&mut rs, c, o.timeout).await,
        other => Err(format!("unknown command {other:?}")),
    }
}

/// The calls that take no argument.
async fn listing(
    rs: &mut Runtime,
    mut is: ImageServiceClient<Channel>,
    c: &[String],
) -> Result<Value, String> {
    args(c, 0)?;
    Ok(match c[0].as_str() {
        "version" => to_json(
            &rs.version(cri::VersionRequest::default())
                .await
                .map_err(status)?
                .into_inner(),
        ),
        "pods" => to_json(
            &rs.list_pod_sandbox(cri::ListPodSandboxRequest::default())
                .await
                .map_err(status)?
                .into_inner(),
        ),
        "ps" => to_json(
            &rs.list_containers(cri::ListContainersRequest::default())
                .await
                .map_err(status)?
                .into_inner(),
        ),
        _ => to_json(
            &is.list_images(cri::ListImagesRequest::default())
                .await
                .map_err(status)?
                .into_inner(),
        ),
    })
}

/// RunPodSandbox, StopPodSandbox, RemovePodSandbox, PodSandboxStatus.
async fn pod(rs: &mut Runtime, c: &[String]) -> Result<Value, String> {
    let a = args(c, 1)?;
    let pod_sandbox_id = a[0].clone();
    Ok(match c[0].as_str() {
        "runp" => {
            let pod: spec::Pod = spec::parse("POD_JSON", &a[0])?;
            let r = rs
                .run_pod_sandbox(cri::RunPodSandboxRequest {
                    config: Some(spec::pod_config(&pod)),
                    runtime_handler: String::new(),
                })
                .await
                .map_err(status)?
                .into_inner();
            json!({ "id": r.pod_sandbox_id })
        }
        "stopp" => {
            rs.stop_pod_sandbox(cri::StopPodSandboxRequest { pod_sandbox_id })
                .await
                .map_err(status)?;
            json!({})
        }
        "rmp" => {
            rs.remove_pod_sandbox(cri::RemovePodSandboxRequest { pod_sandbox_id })
                .await
                .map_err(status)?;
            json!({})
        }
        _ => to_json(
            &rs.pod_sandbox_status(cri::PodSandboxStatusRequest {
                pod_sandbox_id,
                verbose: true,
            })
            .await
            .map_err(status)?
            .into_inner(),
        ),
    })
}

/// The calls on one container but Exec's.
async fn container(rs: &mut Runtime, c: &[String]) -> Result<Value, String> {
    let n = match c[0].as_str() {
        "create" => 3,
        "stop" | "update" => 2,
        _ => 1,
    };
    let a = args(c, n)?;
    let container_id = a[0].clone();
    Ok(match c[0].as_str() {
        "create" => {
            let pod: spec::Pod = spec::parse("POD_JSON", &a[1])?;
            let ctr: spec::Container = spec::parse("CONTAINER_JSON", &a[2])?;
            let r = rs
                .create_container(cri::CreateContainerRequest {
                    pod_sandbox_id: a[0].clone(),
                    config: Some(spec::container_config(&ctr)?),
                    sandbox_config: Some(spec::pod_config(&pod)),
                })
                .await
                .map_err(status)?
                .into_inner();
            json!({ "id": r.container_id })
        }
        "start" => {
            rs.start_container(cri::StartContainerRequest { container_id })
                .await
                .map_err(status)?;
            json!({})
        }
        "stop" => {
            let timeout: i64 = a[1].parse().map_err(|_| "stop: TIMEOUT_SECS")?;
            rs.stop_container(cri::StopContainerRequest {
                container_id,
                timeout,
            })
            .await
            .map_err(status)?;
            json!({})
        }
        "rm" => {
            rs.remove_container(cri::RemoveContainerRequest { container_id })
                .await
                .map_err(status)?;
            json!({})
        }
        "update" => {
            let r: spec::Resources = spec::parse("RESOURCES_JSON", &a[1])?;
            rs.update_container_resources(cri::UpdateContainerResourcesRequest {
                container_id,
                linux: Some(spec::resources(&r)),
                ..Default::default()
            })
            .await
            .map_err(status)?;
            json!({})
        }
        "inspect" => to_json(
            &rs.container_status(cri::ContainerStatusRequest {
                container_id,
                verbose: true,
            })
            .await
            .map_err(status)?
            .into_inner(),
        ),
        _ => to_json(
            &rs.container_stats(cri::ContainerStatsRequest { container_id })
                .await
                .map_err(status)?
                .into_inner(),
        ),
    })
}

async fn exec_sync(rs: &mut Runtime, c: &[String]) -> Result<Value, String> {
    if c.len() < 4 {
        return Err("exec-sync takes ID TIMEOUT_SECS CMD...".into());
    }
    let timeout: i64 = c[2].parse().map_err(|_| "exec-sync: TIMEOUT_SECS")?;
    let r = rs
        .exec_sync(cri::ExecSyncRequest {
            container_id: c[1].clone(),
            cmd: c[3..].to_vec(),
            timeout,
        })
        .await
        .map_err(status)?
        .into_inner();
    Ok(json!({
        "stdout": String::from_utf8_lossy(&r.stdout),
        "stderr": String::from_utf8_lossy(&r.stderr),
        "exit_code": r.exit_code,
    }))
}

/// Exec or Attach: the CRI call for the URL, then the session on it.
async fn streaming(rs: &mut Runtime, c: &[String], limit: Duration) -> Result<Value, String> {
    let mut rest: Vec<String> = c[1..].to_vec();
    let (mut stdin, mut until, mut tty) = (None, None, false);
    while let Some(a) = rest.first().cloned() {
        match a.as_str() {
            "--stdin" if rest.len() > 1 => stdin = Some(rest.remove(1)),
            "--until" if rest.len() > 1 => until = Some(rest.remove(1)),
            "--tty" => tty = true,
            _ => break,
        }
        rest.remove(0);
    }
    let Some(id) = rest.first().cloned() else {
        return Err(format!("{} takes a container ID", c[0]));
    };
    let url = if c[0] == "exec" {
        if rest.len() < 2 {
            return Err("exec takes ID CMD...".into());
        }
        rs.exec(cri::ExecRequest {
            container_id: id,
            cmd: rest[1..].to_vec(),
            tty,
            stdin: stdin.is_some(),
            stdout: true,
            stderr: !tty,
        })
        .await
        .map_err(status)?
        .into_inner()
        .url
    } else {
        rs.attach(cri::AttachRequest {
            container_id: id,
            stdin: stdin.is_some(),
            tty,
            stdout: true,
            stderr: !tty,
        })
        .await
        .map_err(status)?
        .into_inner()
        .url
    };
    let mut v = stream::run(
        &url,
        stream::Session {
            stdin,
            until,
            limit,
        },
    )
    .await?;
    v["url"] = Value::String(url);
    Ok(v)
}
