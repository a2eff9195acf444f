pub fn run() -> anyhow::Result<i32> {
    println!("{}", serde_json::to_string_pretty(&crate::config::features())?);
    Ok(0)
}
