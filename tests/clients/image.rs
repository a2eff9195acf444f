//! The one image every client runs, built here from busybox-static and
//! never pulled: a rootfs tar (for `docker import`) and an OCI image
//! layout archive of it (for `ctr images import` and `podman load`); and
//! the CRI sandbox's pause image, catatonit alone.

use crate::common::make_rootfs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The name the archive gives its image (index.json's annotations).
pub const IMAGE: &str = "localhost/berth-busybox:latest";

/// The pause image's name: what containerd's CRI config gives as
/// `sandbox_image`.
pub const PAUSE_IMAGE: &str = "localhost/berth-pause:latest";

/// A tar of a busybox rootfs (every applet, /etc/passwd and group),
/// written to `dir/rootfs.tar`.
pub fn rootfs_tar(dir: &Path) -> PathBuf {
    let rootfs = dir.join("image-rootfs");
    make_rootfs(&rootfs);
    let out = dir.join("rootfs.tar");
    tar(&rootfs, &out);
    std::fs::remove_dir_all(&rootfs).unwrap();
    out
}

/// An OCI image layout (one uncompressed layer, the rootfs tar) as a tar,
/// `dir/image.oci.tar`, named IMAGE.
pub fn oci_archive(dir: &Path) -> PathBuf {
    let layer = rootfs_tar(dir);
    let config = serde_json::json!({"Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["sh"]});
    archive(dir, "image", &layer, config, IMAGE)
}

/// The pause image, `dir/pause.oci.tar` named PAUSE_IMAGE: catatonit (a
/// static executable) as /pause, run in its pause mode (-P), as the
/// sandbox's one process, and nothing else.
pub fn pause_archive(dir: &Path) -> PathBuf {
    let catatonit = ["/usr/bin/catatonit", "/usr/libexec/podman/catatonit"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("catatonit is installed (scripts/deps.sh)");
    let rootfs = dir.join("pause-rootfs");
    std::fs::create_dir_all(&rootfs).unwrap();
    let st = Command::new("cp")
        .arg(catatonit)
        .arg(rootfs.join("pause"))
        .status()
        .unwrap();
    assert!(st.success(), "cp {catatonit}");
    let layer = dir.join("pause-rootfs.tar");
    tar(&rootfs, &layer);
    std::fs::remove_dir_all(&rootfs).unwrap();
    let config = serde_json::json!({"Entrypoint": ["/pause", "-P"]});
    archive(dir, "pause", &layer, config, PAUSE_IMAGE)
}

/// An OCI image layout of one layer (`layer`, moved into it) and the image
/// config `config`, named `name`, as the tar `dir/STEM.oci.tar`.
fn archive(dir: &Path, stem: &str, layer: &Path, config: serde_json::Value, name: &str) -> PathBuf {
    let layout = dir.join(format!("{stem}-oci"));
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let layer_digest = sha256(layer);
    let layer_size = std::fs::metadata(layer).unwrap().len();
    std::fs::rename(layer, blobs.join(&layer_digest)).unwrap();
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{layer_digest}")]},
    });
    let (config_digest, config_size) = blob(&blobs, &config);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": format!("sha256:{config_digest}"),
            "size": config_size,
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": format!("sha256:{layer_digest}"),
            "size": layer_size,
        }],
    });
    let (manifest_digest, manifest_size) = blob(&blobs, &manifest);
    // containerd names the image from io.containerd.image.name, podman
    // from org.opencontainers.image.ref.name.
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{manifest_digest}"),
            "size": manifest_size,
            "annotations": {
                "io.containerd.image.name": name,
                "org.opencontainers.image.ref.name": name,
            },
        }],
    });
    std::fs::write(layout.join("index.json"), index.to_string()).unwrap();
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let archive = dir.join(format!("{stem}.oci.tar"));
    tar(&layout, &archive);
    std::fs::remove_dir_all(&layout).unwrap();
    archive
}

fn tar(dir: &Path, out: &Path) {
    let st = Command::new("tar")
        .arg("-C")
        .arg(dir)
        .arg("-cf")
        .arg(out)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success(), "tar of {}", dir.display());
}

fn blob(blobs: &Path, v: &serde_json::Value) -> (String, u64) {
    let bytes = v.to_string();
    let tmp = blobs.join("tmp");
    std::fs::write(&tmp, &bytes).unwrap();
    let digest = sha256(&tmp);
    std::fs::rename(&tmp, blobs.join(&digest)).unwrap();
    (digest, bytes.len() as u64)
}

fn sha256(file: &Path) -> String {
    let out = Command::new("sha256sum").arg(file).output().unwrap();
    assert!(out.status.success(), "sha256sum {}", file.display());
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}
